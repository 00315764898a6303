# Hinton KD: the 96-dim student learns from labels and the 128-dim teacher.
_base_ = [
    '../_base_/models/vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='LogitKD',
    student={{_base_.vit_student}},
    teacher=dict(
        type='FrozenTeacher',
        model={{_base_.vit_teacher}},
        # trained by supervised_vit-128d6l-p7_...; override with
        # --cfg-options model.teacher.checkpoint=PATH
        checkpoint='work_dirs/fashion_mnist/teacher/epoch_3.pth'),
    alpha=0.5,
    kd_loss=dict(type='KDLoss', tau=4.0),
)
