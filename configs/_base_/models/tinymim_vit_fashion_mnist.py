# TinyMIM on 28x28 grey images: ViTs with 4x4 patches (49 tokens + CLS),
# the grid of the MAE teacher in mae_vit_fashion_mnist.py.
# Variables, no `model`: each config picks one with {{_base_.x}}.


def _vit(embed_dims, num_layers, num_heads, drop_path_rate=0.0):
    # a bare backbone: students, and exported students as next teachers
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=embed_dims,
            num_layers=num_layers,
            num_heads=num_heads,
            feedforward_channels=embed_dims * 4),
        img_size=28,
        patch_size=4,
        in_channels=1,
        drop_path_rate=drop_path_rate,
        # timm's ViT initialisation (the official code's)
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ])


def _finetune(embed_dims, num_layers, num_heads):
    # fine-tuning as MAE's: average pooling, no final norm before it
    backbone = _vit(embed_dims, num_layers, num_heads, drop_path_rate=0.1)
    backbone.update(
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.'))
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=None,
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=embed_dims,
            loss=dict(
                type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
            init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))


# sequential chain: MAE 128d-6L-4h -> 96d-4L-3h -> 72d-4L-2h -> 48d-4L-2h;
# students get drop path 0.1 (the paper's weak regularisation)
tinymim_student_96d = _vit(96, 4, 3, drop_path_rate=0.1)
tinymim_student_72d = _vit(72, 4, 2, drop_path_rate=0.1)
tinymim_student_48d = _vit(48, 4, 2, drop_path_rate=0.1)
# exported students as teachers (same keys, nothing dropped)
tinymim_teacher_96d = _vit(96, 4, 3)
tinymim_teacher_72d = _vit(72, 4, 2)
# classifiers that fine-tune an exported student
tinymim_finetune_96d = _finetune(96, 4, 3)
tinymim_finetune_72d = _finetune(72, 4, 2)
tinymim_finetune_48d = _finetune(48, 4, 2)
