# LIB-KD on Fashion-MNIST (28x28 grey, 10 classes): light convolutional
# teachers of two families and a multi-token ViT student (one distillation
# token per teacher). Variables only: each config picks one with {{_base_.x}}.


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
# a three-stage RegNetX (widths 8 / 16 / 32, 12 k parameters)
regnet_teacher = _cnn(
    dict(
        type='RegNet',
        arch=dict(w0=8, wa=8.0, wm=2.0, group_w=8, depth=4, bot_mul=1.0),
        in_channels=1,
        stem_channels=8,
        strides=(2, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )), 32)
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
