# Fashion-MNIST for masked-image pre-training: training split only, no
# labels used, no validation. Images are stacked by ClsDataPreprocessor
# (the default collate gives lists, which SelfSupDataPreprocessor keeps).
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
# mean / std of the training set in 0-255 units (as fashion_mnist.py)
data_preprocessor = dict(
    type='ClsDataPreprocessor', mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        download=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
