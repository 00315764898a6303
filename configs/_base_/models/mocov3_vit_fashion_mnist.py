# MMPretrain's MoCo v3 for 28x28 grey images: a 6-block, 128-dim ViT with
# 4x4 patches (the MAE teacher's grid), a 3-layer projector and a 2-layer
# predictor sized down from the ImageNet recipe (4096 -> 512 hidden, 256 ->
# 64 out), temperature 0.2, momentum 0.01 -> 0 (cosine).
# Variables, no `model`: each config picks one with {{_base_.x}}.

# the contrastive teacher's encoder (MoCo v3 freezes the patch projection)
mocov3_vit_teacher_backbone = dict(
    type='MoCoV3ViT',
    arch=dict(
        embed_dims=128, num_layers=6, num_heads=4, feedforward_channels=512),
    img_size=28,
    patch_size=4,
    in_channels=1,
    stop_grad_conv1=True)


def _mlp(in_channels, num_layers):
    return dict(
        type='NonLinearNeck',
        in_channels=in_channels,
        hid_channels=512,
        out_channels=64,
        num_layers=num_layers,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False)


mocov3_vit_teacher = dict(
    type='MoCoV3',
    base_momentum=0.01,
    backbone=mocov3_vit_teacher_backbone,
    neck=_mlp(128, 3),
    head=dict(
        type='MoCoV3Head',
        predictor=_mlp(64, 2),
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * 0.2),
        temperature=0.2))
