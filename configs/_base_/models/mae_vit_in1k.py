# MMPretrain's MAE ViTs for 224x224 RGB images: 16x16 patches -> 196 tokens.
# Variables, no `model`: each config picks one with {{_base_.x}}.

# DMAE student: MAE ViT-B/16 with the official 512-dim, 8-block decoder
mae_vit_base = dict(
    type='MAE',
    backbone=dict(type='MAEViT', arch='b', patch_size=16, mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.,
    ),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=False,  # DMAE's default: un-normalised pixels
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

# DMAE teacher: the encoder of an MAE ViT-L/16 (an MMPretrain MAE
# checkpoint's `backbone.` weights)
mae_vit_large_backbone = dict(type='MAEViT', arch='l', patch_size=16)

# DMAE (ViT-L/16 MAE teacher -> ViT-B/16 MAE student); the configs under
# configs/dmae/ change only the mask ratio
model = dict(
    type='DMAE',
    student=mae_vit_base,
    teacher=dict(
        type='FrozenTeacher',
        model=mae_vit_large_backbone,
        # MMPretrain's MAE ViT-L/16, 1600 epochs (see configs/dmae/README.md);
        # override with --cfg-options model.teacher.checkpoint=PATH
        checkpoint='checkpoints/mae_vit-large-p16_8xb512-fp16-coslr-1600e_'
        'in1k_20220825-cc7e98c9.pth',
        prefix='backbone.'),
    align=[(8, 17)],
    mask_ratio=0.75,
    distill_loss=dict(type='NormalizedFeatureLoss', kind='l1'),
    distill_weight=1.0,
)
