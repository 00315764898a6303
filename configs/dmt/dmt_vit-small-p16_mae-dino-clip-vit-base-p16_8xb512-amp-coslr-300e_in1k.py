# DMT-S: a ViT-S/16 distils three frozen ViT-B/16 teachers (MAE, DINO,
# CLIP, each with its own layout and normalisation) on ImageNet-1k with
# token fusion and spatial feature fusion distillation (uniform mean,
# smooth-L1, lambda 1 each), full images for student and teachers. The
# schedule is our choice (METHODS.md gives none): TinyMIM's AdamW recipe,
# 300 epochs, lr 2.4e-3 at batch 4096 (8 GPUs x 512), MAE's augmentation.
_base_ = [
    '../_base_/models/dmt_vit_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/schedules/imagenet_tinymim_adamw_300e.py',
    '../_base_/default_runtime.py',
]
model = dict(student={{_base_.dmt_student_small}})
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
