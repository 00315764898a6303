# DMAE, ImageNet-1k, mask ratio 0.98: MAE ViT-B/16 student, MAE ViT-L/16
# teacher truncated after block 17 of 24, student block 8 -> teacher block
# 17, normalised-feature L1 + un-normalised pixel MSE, 100 epochs.
_base_ = [
    '../_base_/models/mae_vit_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/schedules/imagenet_mae_amp-coslr-100e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='DMAE',
    student={{_base_.mae_vit_base}},
    teacher=dict(
        type='FrozenTeacher',
        model={{_base_.mae_vit_large_backbone}},
        # MMPretrain's MAE ViT-L/16, 1600 epochs (see README.md); override
        # with --cfg-options model.teacher.checkpoint=PATH
        checkpoint='checkpoints/mae_vit-large-p16_8xb512-fp16-coslr-1600e_'
        'in1k_20220825-cc7e98c9.pth',
        prefix='backbone.'),
    align=[(8, 17)],
    mask_ratio=0.98,
    distill_loss=dict(type='NormalizedFeatureLoss', kind='l1'),
    distill_weight=1.0,
)
