# ReMem teacher fine-tuning on Fashion-MNIST: the supervised recipe of
# fashion_mnist_adamw.py at a quarter of its lr, a 20-iteration warm-up,
# 2 epochs [our choice]
_base_ = ['./fashion_mnist_adamw.py']
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [  # a list replaces the base's
    dict(
        type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=2, val_interval=2)
