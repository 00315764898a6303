# LIB-KD, online: both teachers run on every batch; the student's
# distillation tokens learn from the ResNet and the RegNet, in that order.
_base_ = [
    '../_base_/models/libkd_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='LIBKD',
    student={{_base_.libkd_student}},
    teachers=dict(
        resnet=dict(
            type='FrozenTeacher',
            model={{_base_.resnet_teacher}},
            # trained by supervised_resnet18-s16_...; override with
            # --cfg-options model.teachers.resnet.checkpoint=PATH
            checkpoint='work_dirs/supervised_resnet18-s16_1xb256-adamw-3e_'
            'fashion-mnist/epoch_3.pth'),
        regnet=dict(
            type='FrozenTeacher',
            model={{_base_.regnet_teacher}},
            checkpoint='work_dirs/supervised_regnetx-tiny_1xb256-adamw-3e_'
            'fashion-mnist/epoch_3.pth')),
    # teachers run in fp32 even under --amp (involution teachers need it)
    fp32_teachers=None,
)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.dist_token': dict(decay_mult=0.0)}))
