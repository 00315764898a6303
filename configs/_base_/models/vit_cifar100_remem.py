# ReMem at paper scale on CIFAR-100 (224 px, 16 px patches): an ImageNet-1k
# DeiT-B teacher with MLP reweighting of its top 2 blocks, and a DeiT-Ti
# student, both initialised from MMPretrain's model zoo (download them into
# checkpoints/; mmpretrain's deit metafile lists the URLs).


def _vit(backbone, arch, dims, checkpoint, drop_path, **extra):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type=backbone,
            arch=arch,
            img_size=224,
            patch_size=16,
            drop_path_rate=drop_path,
            init_cfg=dict(
                type='Pretrained',
                checkpoint=checkpoint,
                prefix='backbone.'),
            **extra),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=100,
            in_channels=dims,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


_deit_b = 'checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'
_deit_ti = 'checkpoints/deit-tiny_pt-4xb256_in1k_20220218-13b382a0.pth'
# teacher: alpha 1.0 is exactly the plain ViT (SAM only)
remem_vit_base = _vit(
    'ReweightedVisionTransformer',
    'deit-base',
    768,
    _deit_b,
    0.1,
    mlp_alpha=1.0,
    top_k=2)
# METHODS.md's defaults: top k = 2 blocks, alpha = 0.5
remem_vit_base_rw = _vit(
    'ReweightedVisionTransformer',
    'deit-base',
    768,
    _deit_b,
    0.1,
    mlp_alpha=0.5,
    top_k=2)
vit_tiny_student = _vit('VisionTransformer', 'deit-tiny', 192, _deit_ti, 0.0)
