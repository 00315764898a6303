# Small ViTs for 28x28 grey images: 7x7 patches -> 16 tokens + CLS.
# Two variables, no `model`: each config picks one with {{_base_.x}}.


def _vit(embed_dims, num_layers, num_heads, drop_path_rate):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=embed_dims,
                num_layers=num_layers,
                num_heads=num_heads,
                feedforward_channels=embed_dims * 4),
            img_size=28,
            patch_size=7,
            in_channels=1,
            drop_path_rate=drop_path_rate,
            out_type='cls_token'),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=10,
            in_channels=embed_dims,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


# teacher: 128 dims, 6 blocks, 4 heads (1.2 M parameters)
vit_teacher = _vit(128, 6, 4, 0.1)
# student: 96 dims, 4 blocks, 3 heads (0.45 M parameters)
vit_student = _vit(96, 4, 3, 0.0)
