# Fine-tuning an MAE- or DMAE-pretrained 96-dim, 4-block ViT (4x4 patches)
# on Fashion-MNIST, MAE's way: average pooling without a final norm, layer
# decay 0.75, label smoothing 0.1.
_base_ = [
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=96,
            num_layers=4,
            num_heads=3,
            feedforward_channels=384),
        img_size=28,
        patch_size=4,
        in_channels=1,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        # the student of dmae_vit-96d4l-p4_..., exported with
        # tools/extract_student.py (or an MAE checkpoint of
        # mae_vit-96d4l-p4_... as it is); override with --cfg-options
        # model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/dmae_vit-96d4l-p4_mae-vit-128d6l-p4_'
            '1xb256-adamw-2e_fashion-mnist/student.pth',
            prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=96,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
)
optim_wrapper = dict(
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
train_cfg = dict(max_epochs=1, val_interval=1)
