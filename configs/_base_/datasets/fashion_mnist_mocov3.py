# Fashion-MNIST for contrastive pre-training (MoCo v3): training split only,
# no labels used, no validation. Two views per image, each a random resized
# crop (scale 0.2-1) and a flip, the second also solarised (MMPretrain's
# ColorJitter and GaussianBlur need 3-channel images; these are grey).
# default_collate stacks each view, SelfSupDataPreprocessor normalises each
# ([view1, view2] [B, 1, 28, 28]).
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
# mean / std of the training set in 0-255 units (as fashion_mnist.py)
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[72.94], std=[90.02], to_rgb=False)

view_pipeline1 = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
# MoCo v3's second view also solarises (prob 0.2)
view_pipeline2 = view_pipeline1 + [dict(type='Solarize', thr=128, prob=0.2)]
train_pipeline = [
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=1,
    persistent_workers=True,
    drop_last=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        download=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
