# MAE ViTs for 28x28 grey images: 4x4 patches -> 49 tokens + CLS.
# Variables, no `model`: each config picks one with {{_base_.x}}.


def _mae_vit(embed_dims, num_layers, num_heads):
    return dict(
        type='MAEViT',
        arch=dict(
            embed_dims=embed_dims,
            num_layers=num_layers,
            num_heads=num_heads,
            feedforward_channels=embed_dims * 4),
        img_size=28,
        patch_size=4,
        patch_cfg=dict(in_channels=1),
        mask_ratio=0.75)


def _mae(backbone):
    # MMPretrain's MAE with a small decoder (64 dims, 2 blocks)
    return dict(
        type='MAE',
        backbone=backbone,
        neck=dict(
            type='MAEPretrainDecoder',
            num_patches=49,
            patch_size=4,
            in_chans=1,
            embed_dim=backbone['arch']['embed_dims'],
            decoder_embed_dim=64,
            decoder_depth=2,
            decoder_num_heads=4,
            mlp_ratio=4.),
        head=dict(
            type='MAEPretrainHead',
            norm_pix=False,  # DMAE's default: un-normalised pixels
            patch_size=4,
            in_channels=1,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')),
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ])


# teacher: 128 dims, 6 blocks, 4 heads (the bare backbone is the DMAE teacher)
mae_vit_teacher_backbone = _mae_vit(128, 6, 4)
mae_vit_teacher = _mae(mae_vit_teacher_backbone)
# student: 96 dims, 4 blocks, 3 heads
mae_vit_student = _mae(_mae_vit(96, 4, 3))
