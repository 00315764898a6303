# The pre-training recipe of MAE, DMAE and TinyMIM (AdamW (0.9, 0.95), wd
# 0.05, no decay on norms, biases and tokens; linear warm-up then cosine),
# sized for Fashion-MNIST: lr for batch 256, warm-up in iterations as in
# fashion_mnist_adamw.py, 2 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }),
)
# 100-iteration warm-up; cosine to the end of training, whatever its length
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
        end=100),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True),
]
# pre-training only: no validation
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
auto_scale_lr = dict(base_batch_size=256)
