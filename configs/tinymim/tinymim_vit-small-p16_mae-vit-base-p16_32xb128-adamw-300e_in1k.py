# TinyMIM-S: a ViT-S learns the relations of the last block of a frozen
# ViT-B teacher (an MAE ViT-B; for the sequential L -> B -> S option, the
# exported TinyMIM-B with prefix='backbone.'); the student's last block is
# split into the teacher's 12 heads for the relation.
_base_ = [
    '../_base_/models/tinymim_vit.py',
    '../_base_/datasets/imagenet_bs128_tinymim.py',
    '../_base_/schedules/imagenet_tinymim_adamw_300e.py',
    '../_base_/default_runtime.py',
]
model = dict(student={{_base_.tinymim_vit_small}})
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
