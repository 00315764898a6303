# MAE's pre-training recipe for 100 epochs (DMAE): AdamW (0.9, 0.95),
# wd 0.05, lr 1.5e-4 x 4096 / 256, 20 warm-up epochs then cosine, AMP.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW',
        lr=1.5e-4 * 4096 / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.0001,
        by_epoch=True,
        begin=0,
        end=20,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=80,
        by_epoch=True,
        begin=20,
        end=100,
        convert_to_iter_based=True)
]

# pre-training only: no validation
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
# the lr above is for a total batch of 4096 (8 GPUs x 512)
auto_scale_lr = dict(base_batch_size=4096)
