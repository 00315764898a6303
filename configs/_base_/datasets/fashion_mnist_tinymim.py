# Fashion-MNIST for TinyMIM pre-training: training split only, no labels
# used, no validation. One crop + flip shared by both views; the student's
# copy is also colour-jittered (brightness and contrast: the images are
# grey). The two views travel as a list: default_collate stacks each, and
# SelfSupDataPreprocessor normalises each ([clean, jittered] [B, 1, 28, 28]).
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
# mean / std of the training set in 0-255 units (as fashion_mnist.py)
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TwoViewColorJitter', brightness=0.4, contrast=0.4),
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
