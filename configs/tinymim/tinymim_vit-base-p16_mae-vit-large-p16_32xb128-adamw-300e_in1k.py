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
    type='TinyMIM',
    student={{_base_.tinymim_vit_base}},
    teacher=dict(
        type='FrozenTeacher',
        model={{_base_.tinymim_mae_vit_large}},
        # the official MAE release, converted on load; override with
        # --cfg-options model.teacher.checkpoint=PATH
        checkpoint='checkpoints/mae_pretrain_vit_large.pth',
        layout='auto'),
    teacher_block=17,
    last_heads=16,
    target='relation',
    relation_loss=dict(type='RelationKDLoss', qk_weight=1.0, vv_weight=1.0),
)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
