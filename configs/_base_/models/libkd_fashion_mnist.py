# LIB-KD on Fashion-MNIST (28x28 grey, 10 classes): light teachers of two
# inductive biases (convolution, involution) and a multi-token ViT student
# (one distillation token per teacher). Variables only: each config picks
# one with {{_base_.x}}.


def _cnn(backbone, width):
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=width,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


# ResNet-18 at a quarter of the width (16 stem / base channels, 0.7 M)
resnet_teacher = _cnn(
    dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=16,
        base_channels=16), 128)
# RedNet-26 at a quarter of the width (16 stem / base channels): 7x7
# involutions in place of the bottlenecks' 3x3 convolutions
rednet_teacher = _cnn(
    dict(
        type='RedNet',
        depth=26,
        in_channels=1,
        stem_channels=16,
        base_channels=16), 512)
# the two as frozen teachers, with the checkpoints their configs train
# (override with --cfg-options ...teachers.NAME.checkpoint=PATH)
libkd_teachers = dict(
    resnet=dict(
        type='FrozenTeacher',
        model=resnet_teacher,
        checkpoint='work_dirs/supervised_resnet18-s16_1xb256-adamw-3e_'
        'fashion-mnist/epoch_3.pth'),
    rednet=dict(
        type='FrozenTeacher',
        model=rednet_teacher,
        checkpoint='work_dirs/supervised_rednet26-s16_1xb256-adamw-3e_'
        'fashion-mnist/epoch_3.pth'))
# student: the 96-dim, 4-block ViT of vit_fashion_mnist.py, plus two
# distillation tokens and their heads
libkd_student = dict(
    type='ImageClassifier',
    backbone=dict(
        type='MultiTokenViT',
        num_dist_tokens=2,
        arch=dict(
            embed_dims=96,
            num_layers=4,
            num_heads=3,
            feedforward_channels=384),
        img_size=28,
        patch_size=7,
        in_channels=1,
        out_type='cls_token'),
    neck=None,
    head=dict(
        type='MultiTokenClsHead',
        num_classes=10,
        in_channels=96,
        num_dist_tokens=2,
        kd_loss=dict(type='MultiTeacherKDLoss', tau=1.0, mode='soft'),
        predict_mode='mean',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
# the students' augmentation: random-resized crops (the views LIB-KD's
# offline mode stores) and horizontal flips
crop = dict(scale=28, crop_ratio_range=(0.35, 1.0))
crop_pipeline = [
    dict(type='RandomResizedCrop', **crop),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# the same views, replayed from a store (LIB-KD offline)
replay_pipeline = [
    dict(type='ReplayResizedCrop', **crop, flip_prob=0.5),
    dict(type='PackInputs'),
]
