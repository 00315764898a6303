# The Fashion-MNIST students (1-channel ViT, 4x4 patches, 96 dims, 4 blocks,
# 3 heads) in the toy Mask R-CNN: grey 64-px scenes (the generator's colour
# scenes read as grey), the students' own normalisation, a stride-4 ViT map
# pooled to strides 4, 8, 16, 32 (+ 64), and heads small enough for a CPU.
#   python tools/data/make_toy_coco_ade.py data/toy_fm --train 128 --val 32 \
#       --size 64
_base_ = './mask-rcnn_vit-t16_simplefpn_1xb4-12e_toy-coco-128.py'
data_root = 'data/toy_fm/coco/'
size = 64
width = 32  # of the pyramid and the heads (R50-FPN's is 256)
# written by tools/extract_student.py --format mmdet
checkpoint = 'checkpoints/vit-96d4l-p4_student_mmdet.pth'
model = dict(
    # Fashion-MNIST's mean / std (0-255), as the students were trained with
    data_preprocessor=dict(mean=[72.94], std=[90.02], bgr_to_rgb=False),
    backbone=dict(
        arch=dict(
            _delete_=True,  # the base names an arch ('deit-tiny')
            embed_dims=96,
            num_layers=4,
            num_heads=3,
            feedforward_channels=384),
        patch_size=4,  # [B, 96, H/4, W/4]
        in_channels=1,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(
        in_channels=96,
        out_channels=width,
        scale_factors=(1, 0.5, 0.25, 0.125)),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=64),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(
            in_channels=width, conv_out_channels=width, num_convs=1)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    # weak models score below the default 0.05: evaluate every detection
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(score_thr=0., max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),  # [H, W]
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(size, size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=(size, size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# 5 epochs of 128 scenes: 80 steps
train_cfg = dict(max_epochs=5)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(
        type='MultiStepLR',
        begin=0,
        end=5,
        by_epoch=True,
        milestones=[4],
        gamma=0.1)
]
default_hooks = dict(logger=dict(interval=8))
