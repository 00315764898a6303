# DeiT's recipe (Touvron et al., ICML 2021): AdamW, lr 5e-4 x batch / 512
# (1e-3 at 8 GPUs x 128), wd 0.05, 5 warm-up epochs from lr x 1e-3, then
# cosine to 1e-5 over 300 epochs; no decay on norms, biases, tokens and
# position embedding; mixed precision (LIB-KD's teachers stay fp32).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW',
        lr=5e-4 * 1024 / 512,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.dist_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=295,
        eta_min=1e-5,
        by_epoch=True,
        begin=5,
        end=300,
        convert_to_iter_based=True)
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
val_cfg = dict()
test_cfg = dict()
# the lr above is for a total batch of 1024 (8 GPUs x 128)
auto_scale_lr = dict(base_batch_size=1024)
