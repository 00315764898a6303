# DMT on 28x28 grey images: three frozen 128-dim, 6-block teachers trained
# here with different objectives -- MAE and MoCo v3 (4x4 patches: the
# student's 7x7 grid) and a supervised ViT (7x7 patches: its 4x4 grid is
# resized to 7x7) -- and the 96-dim, 4-block student with 4x4 patches (the
# backbone that configs/benchmarks/vit-96d4l-p4_... fine-tunes).
# Variables, no `model`: dmt_vit_fashion_mnist.py composes the shared one;
# the configs under configs/dmt/ whose teachers or heads it cannot merge
# into (fewer teachers, heads without its loss) compose their own with
# {{_base_.x}}.
_base_ = [
    'mae_vit_fashion_mnist.py',
    'mocov3_vit_fashion_mnist.py',
    'tinymim_vit_fashion_mnist.py',
    'vit_fashion_mnist.py',
]

dmt_student = {{_base_.tinymim_student_96d}}
# each teacher is tapped at its last block (DMT's `blocks` default); the
# checkpoints are those the teacher configs write; override with
# --cfg-options model.teachers.NAME.checkpoint=PATH
dmt_teacher_mae = dict(
    type='FrozenTeacher',
    model={{_base_.mae_vit_teacher_backbone}},
    checkpoint='work_dirs/mae_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist/'
    'epoch_1.pth',
    prefix='backbone.')
dmt_teacher_moco = dict(
    type='FrozenTeacher',
    model={{_base_.mocov3_vit_teacher_backbone}},
    checkpoint='work_dirs/mocov3_vit-128d6l-p4_1xb256-adamw-1e_fashion-'
    'mnist/epoch_1.pth',
    prefix='backbone.')
dmt_teacher_sup = dict(
    type='FrozenTeacher',
    model={{_base_.vit_teacher}},
    checkpoint='work_dirs/supervised_vit-128d6l-p7_1xb256-adamw-3e_fashion-'
    'mnist/epoch_3.pth')
# TFD and SFD: uniform mean of the teachers, smooth-L1, lambda 1 each
dmt_tfd = dict(
    type='TokenFusionHead',
    fusion='mean',
    loss=dict(type='SmoothL1FeatureLoss'),
    loss_weight=1.0)
dmt_sfd = dict(
    type='SpatialFusionHead',
    fusion='mean',
    loss=dict(type='SmoothL1FeatureLoss'),
    loss_weight=1.0)
