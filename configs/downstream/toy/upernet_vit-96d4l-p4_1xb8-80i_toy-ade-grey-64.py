# The Fashion-MNIST students (1-channel ViT, 4x4 patches, 96 dims, 4 blocks,
# 3 heads) in the toy UperNet: grey 64-px scenes (the generator's colour
# scenes read as grey), the students' own normalisation, every block's
# stride-4 map into a narrow UperNet head.
#   python tools/data/make_toy_coco_ade.py data/toy_fm --train 128 --val 32 \
#       --size 64
_base_ = './upernet_vit-t16_1xb4-400i_toy-ade-128.py'
data_root = 'data/toy_fm/ade'
crop_size = (64, 64)
model = dict(
    # written by tools/extract_student.py --format mmseg
    pretrained='checkpoints/vit-96d4l-p4_student_mmseg.pth',
    # Fashion-MNIST's mean / std (0-255), as the students were trained with
    data_preprocessor=dict(
        mean=[72.94], std=[90.02], bgr_to_rgb=False, size=crop_size),
    backbone=dict(
        img_size=crop_size,
        patch_size=4,  # [B, 96, H/4, W/4] from every block
        in_channels=1,
        embed_dims=96,
        num_layers=4,
        num_heads=3,
        out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[96] * 4, channels=32),
    auxiliary_head=dict(in_channels=96, channels=16))

# the base's pipelines without PhotoMetricDistortion (colour only)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),  # [H, W]
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(128, 64),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=80, val_interval=80)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', power=1.0, begin=10, end=80, by_epoch=False)
]
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=80))
