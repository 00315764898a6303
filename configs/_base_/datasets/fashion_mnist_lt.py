# Fashion-MNIST with a long-tailed training set (CIFAR-LT protocol): class c
# keeps floor(6000 * 100^(-c/9)) images (6000 .. 60, 14.9k in all); the test
# set stays balanced. imbalance_ratio=1 with max_per_class=1500 gives a
# balanced subset of the same size (15k).
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=256,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type='LongTailDataset',
        imbalance_ratio=100,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            test_mode=False,
            download=False,
            pipeline=train_pipeline)),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=500,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=True,
        download=False,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
