# DMT at ImageNet scale (224 px, 16x16 patches): three frozen ViT-B/16
# teachers from official releases -- MAE, DINO and CLIP -- each read through
# its own key layout and fed with its own input normalisation, tapped at
# its last block; randomly initialised ViT-T / S / B students.


def _vit_b(**kwargs):
    return dict(
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        **kwargs)


def _student(arch):
    return dict(
        type='VisionTransformer',
        arch=arch,
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        # timm's ViT initialisation
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ])


# MAE ViT-B/16: facebookresearch/mae `mae_pretrain_vit_base.pth` (timm names
# under `model`); ImageNet normalisation, the student's
dmt_teacher_mae = dict(
    type='FrozenTeacher',
    model=_vit_b(),
    checkpoint='checkpoints/mae_pretrain_vit_base.pth',
    layout='timm')
# DINO ViT-B/16: facebookresearch/dino `dino_vitbase16_pretrain.pth` (the
# released backbone, timm names); ImageNet normalisation
dmt_teacher_dino = dict(
    type='FrozenTeacher',
    model=_vit_b(),
    checkpoint='checkpoints/dino_vitbase16_pretrain.pth',
    layout='timm')
# CLIP ViT-B/16 image encoder: OpenAI's weights in timm names
# (`vit_base_patch16_clip_224.openai`, saved with torch.save): a LayerNorm
# before the blocks (`norm_pre`), no patch-embedding bias, QuickGELU, and
# CLIP's own mean / std (0-255 units)
dmt_teacher_clip = dict(
    type='FrozenTeacher',
    model=_vit_b(
        pre_norm=True, layer_cfgs=dict(act_cfg=dict(type='QuickGELU'))),
    checkpoint='checkpoints/vit_base_patch16_clip_224.openai.pth',
    layout='timm',
    mean=[122.770938, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305])

# students: ViT-B 768/12/12, ViT-S 384/12/6, ViT-T 192/12/3
dmt_student_base = _student('base')
dmt_student_small = _student('deit-small')
dmt_student_tiny = _student('deit-tiny')

# TFD and SFD: uniform mean of the teachers, smooth-L1, lambda 1 each
dmt_tfd = dict(
    type='TokenFusionHead',
    fusion='mean',
    loss=dict(type='SmoothL1FeatureLoss'),
    loss_weight=1.0)
dmt_sfd = dict(
    type='SpatialFusionHead',
    fusion='mean',
    loss=dict(type='SmoothL1FeatureLoss'),
    loss_weight=1.0)

# DMT with all three teachers, TFD and SFD (here with the ViT-B student);
# the configs under configs/dmt/ set only the student. The teachers run in
# order by name, as written here (per-teacher lists follow it)
model = dict(
    type='DMT',
    student=dmt_student_base,
    teachers=dict(
        clip=dmt_teacher_clip, dino=dmt_teacher_dino, mae=dmt_teacher_mae),
    tfd=dmt_tfd,
    sfd=dmt_sfd)
