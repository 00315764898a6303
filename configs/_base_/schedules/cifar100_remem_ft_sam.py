# ReMem teacher fine-tuning at paper scale on CIFAR-100: SAM (rho 0.05)
# over SGD + momentum, no weight decay, clip 1.0, 1 warm-up epoch then
# cosine, 10 epochs at batch 8 x 16 [our choice: the usual ViT transfer
# recipe]
optim_wrapper = dict(
    type='SAMOptimWrapper',
    rho=0.05,
    adaptive=False,
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=1,
        end=10,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
