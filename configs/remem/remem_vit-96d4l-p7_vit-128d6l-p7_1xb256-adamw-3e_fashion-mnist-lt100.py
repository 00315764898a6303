# ReMem distillation: the 96d-4L student learns from labels, the logits
# (KL at tau 4) and the head features (normalised L2, through a linear
# projection) of a ReMem-fine-tuned 128d-6L teacher, on the long-tailed set.
_base_ = [
    '../_base_/models/vit_fashion_mnist.py',
    '../_base_/models/vit_fashion_mnist_remem.py',
    '../_base_/datasets/fashion_mnist_lt.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='LogitKD',
    student={{_base_.vit_student}},
    teacher=dict(
        type='FrozenTeacher',
        # any of the ft*_fashion-mnist-lt100 teachers: their alpha buffers
        # (1.0 or 0.5) are restored from the checkpoint
        model={{_base_.remem_teacher}},
        # override with --cfg-options model.teacher.checkpoint=PATH
        checkpoint='work_dirs/ft-sam-mlp0.5_vit-128d6l-p7_1xb256-adamw-2e_'
        'fashion-mnist-lt100/epoch_2.pth'),
    alpha=0.5,
    kd_loss=dict(type='KDLoss', tau=4.0),
    feature_loss=dict(type='NormalizedFeatureLoss', kind='l2'),
)
