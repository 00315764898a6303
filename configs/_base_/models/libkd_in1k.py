# LIB-KD at ImageNet scale (224 px, 1000 classes): a convolution teacher,
# RegNetY-16GF (DeiT's own teacher), and an involution teacher, RedNet-101,
# both frozen and run in fp32; DeiT-Ti / DeiT-S students with one
# distillation token per teacher (Co-advise: soft KD, tau 1, equal weights,
# inference averages the three heads). Variables only: each config picks
# its parts with {{_base_.x}}.


def _classifier(backbone, width):
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=width))


def _student(arch, width):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='MultiTokenViT',
            arch=arch,
            img_size=224,
            patch_size=16,
            num_dist_tokens=2,
            drop_path_rate=0.1,
            out_type='cls_token'),
        neck=None,
        head=dict(
            type='MultiTokenClsHead',
            num_classes=1000,
            in_channels=width,
            num_dist_tokens=2,
            kd_loss=dict(type='MultiTeacherKDLoss', tau=1.0, mode='soft'),
            predict_mode='mean',
            # DeiT's label smoothing, on the CLS head's CE
            loss=dict(
                type='LabelSmoothLoss', label_smooth_val=0.1,
                mode='original')),
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ])


# RegNetY-16GF (83.6 M): pycls's architecture with SE; DeiT's teacher file
# (timm names) as it is, or the plugin's (MMPretrain) names, e.g. that file
# converted by tools/convert_teacher.py: layout='auto' tells them apart
libkd_teacher_regnety = dict(
    type='FrozenTeacher',
    model=_classifier(dict(type='RegNetY', arch='regnety_16gf'), 3024),
    checkpoint='checkpoints/regnety_160-a5fe301d.pth',
    layout='auto')
# RedNet-101 (25.7 M, 78.9 % top-1): the official d-li14/involution
# checkpoint (mmcls layout) loads as it is
libkd_teacher_rednet = dict(
    type='FrozenTeacher',
    model=_classifier(dict(type='RedNet', depth=101), 2048),
    checkpoint='checkpoints/rednet101_in1k.pth')
# one store of teacher labels serves every student: it depends on the
# images, the views and the teachers only
libkd_store = 'data/imagenet/libkd_views_regnety-16gf_rednet-101'

# students: DeiT-Ti 192/12/3, DeiT-S 384/12/6, each + 2 tokens and heads
libkd_student_tiny = _student('deit-tiny', 192)
libkd_student_small = _student('deit-small', 384)
