# TinyMIM pre-training recipe: AdamW (0.9, 0.95), wd 0.05, lr 2.4e-3 at
# batch 4096, 300 epochs, 15 warm-up, cosine; no decay on norms, biases and
# tokens (as MAE's); mixed precision (the teacher's taps stay fp32).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=2.4e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=15,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=285,
        by_epoch=True,
        begin=15,
        end=300,
        eta_min=1e-6,
        convert_to_iter_based=True)
]

# pre-training only: no validation
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
# lr above is for 4096 images per step (e.g. 32 GPUs x 128)
auto_scale_lr = dict(base_batch_size=4096)
