# ImageNet for TinyMIM pre-training: no mask, no labels used. One
# RandomResizedCrop (224, scale 0.2-1) + flip shared by teacher and student;
# only the student's copy gets ColorJitter(0.4, 0.4, 0.4). The two views
# travel as a list: default_collate stacks each, SelfSupDataPreprocessor
# normalises each ([clean, jittered] [B, 3, 224, 224]).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='TwoViewColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4),
    dict(type='PackInputs')
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
