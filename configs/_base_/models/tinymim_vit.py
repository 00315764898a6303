# TinyMIM at ImageNet scale (224 px, 16x16 patches): frozen MAE teachers
# and randomly initialised students.
# Variables, no `model`: each config picks one with {{_base_.x}}.


def _mae_vit(arch):
    # an MAE-pretrained encoder, loaded from `backbone.` keys
    return dict(type='MAEViT', arch=arch, img_size=224, patch_size=16)


def _student(arch):
    return dict(
        type='VisionTransformer',
        arch=arch,
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,  # the paper's weak regularisation
        # timm's ViT initialisation (the official code's)
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ])


# teachers: ViT-L 1024/24/16, ViT-B 768/12/12
tinymim_mae_vit_large = _mae_vit('large')
tinymim_mae_vit_base = _mae_vit('base')
# students: ViT-B 768/12/12, ViT-S 384/12/6, ViT-T 192/12/3
tinymim_vit_base = _student('base')
tinymim_vit_small = _student('deit-small')
tinymim_vit_tiny = _student('deit-tiny')

# TinyMIM-T (the configs under configs/tinymim/ change the student, and for
# TinyMIM-B the teacher): a ViT-T learns the relations of the last block of
# a frozen MAE ViT-B (the official release, converted on load); the
# student's last block is split into the teacher's 12 heads.
model = dict(
    type='TinyMIM',
    student=tinymim_vit_tiny,
    teacher=dict(
        type='FrozenTeacher',
        model=tinymim_mae_vit_base,
        # override with --cfg-options model.teacher.checkpoint=PATH
        checkpoint='checkpoints/mae_pretrain_vit_base.pth',
        layout='auto'),
    teacher_block=11,
    last_heads=12,
    target='relation',
    relation_loss=dict(type='RelationKDLoss', qk_weight=1.0, vv_weight=1.0),
)
