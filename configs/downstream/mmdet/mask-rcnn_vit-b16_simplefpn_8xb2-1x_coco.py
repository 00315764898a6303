# Mask R-CNN, ViTDet-style: the student ViT's last stride-16 map through a
# simple feature pyramid; everything else is MMDetection's R50-FPN recipe
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmkd_plugin', 'mmpretrain.models'], allow_failed_imports=False)

# written by tools/extract_student.py --format mmdet
checkpoint = 'checkpoints/vit-b16_student_mmdet.pth'
model = dict(
    # the data preprocessor pads to a multiple of 32: stride-16 patches, and
    # an even grid for the stride-32 level
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=224,  # the export's grid; resized to each input on the fly
        patch_size=16,
        out_type='featmap',  # [B, C, H/16, W/16]
        out_indices=-1,  # an int: mmpretrain 1.2.0 fails on (-1, )
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        in_channels=768,
        out_channels=256,
        num_outs=5,
        norm_cfg=dict(type='mmpretrain.LN2d', eps=1e-6)))

# AdamW with layer-wise LR decay of the backbone (ViTDet's ViT-B settings)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        custom_keys={
            '.cls_token': dict(decay_mult=0.),
            '.pos_embed': dict(decay_mult=0.)
        }))
