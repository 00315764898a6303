# DMAE on Fashion-MNIST: the 4-block, 96-dim MAE student learns to
# reconstruct pixels and, on the same visible patches, to match block 4 of
# the MAE-pretrained 6-block, 128-dim teacher with its block 2.
_base_ = [
    '../_base_/models/mae_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='DMAE',
    student={{_base_.mae_vit_student}},
    teacher=dict(
        type='FrozenTeacher',
        model={{_base_.mae_vit_teacher_backbone}},
        # trained by mae_vit-128d6l-p4_...; override with
        # --cfg-options model.teacher.checkpoint=PATH
        checkpoint='work_dirs/mae_vit-128d6l-p4_1xb256-adamw-1e_'
        'fashion-mnist/epoch_1.pth',
        prefix='backbone.'),
    align=[(2, 4)],
    mask_ratio=0.75,
    distill_loss=dict(type='NormalizedFeatureLoss', kind='l1'),
    distill_weight=1.0,
)
