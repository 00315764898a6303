_base_ = './mask-rcnn_vit-b16_simplefpn_8xb2-1x_coco.py'
model = dict(
    backbone=dict(
        arch='deit-tiny',
        init_cfg=dict(checkpoint='checkpoints/vit-t16_student_mmdet.pth')),
    neck=dict(in_channels=192))
