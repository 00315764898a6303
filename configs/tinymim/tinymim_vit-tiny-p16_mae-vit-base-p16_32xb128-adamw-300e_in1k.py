# TinyMIM-T: a ViT-T learns the relations of the last block of a frozen
# ViT-B teacher (an MAE ViT-B; for the sequential option, the exported
# TinyMIM-B or TinyMIM-S with prefix='backbone.'); the student's last block
# is split into the teacher's 12 heads (192 / 12 = 16 dims) for the
# relation. The whole model is the base's.
_base_ = [
    '../_base_/models/tinymim_vit.py',
    '../_base_/datasets/imagenet_bs128_tinymim.py',
    '../_base_/schedules/imagenet_tinymim_adamw_300e.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
