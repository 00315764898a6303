# TinyMIM-B: a ViT-B learns the q-k and v-v relations of block 17 of a
# frozen MAE ViT-L (unmasked images; the student's last block is split into
# the teacher's 16 heads for the relation).
_base_ = [
    '../_base_/models/tinymim_vit.py',
    '../_base_/datasets/imagenet_bs128_tinymim.py',
    '../_base_/schedules/imagenet_tinymim_adamw_300e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    student={{_base_.tinymim_vit_base}},
    teacher=dict(
        model={{_base_.tinymim_mae_vit_large}},
        # the official MAE release, converted on load
        checkpoint='checkpoints/mae_pretrain_vit_large.pth'),
    teacher_block=17,
    last_heads=16,
)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
