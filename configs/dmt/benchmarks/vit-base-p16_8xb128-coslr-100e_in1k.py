# Fine-tune the exported DMT-B student on ImageNet-1k: MMPretrain's MAE
# fine-tuning recipe as it is (AdamW lr 2e-3 at batch 1024, 100 epochs, 5
# warm-up, layer decay 0.65, drop path 0.1, mixup 0.8 / cutmix 1.0, label
# smoothing 0.1, RandAugment, random erasing 0.25, average pooling).
# Set the student with
# --cfg-options model.backbone.init_cfg.checkpoint=STUDENT.pth
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py']
custom_imports = dict(imports=['mmkd_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/dmt_vit-base-p16_mae-dino-clip-vit-base-p16_'
            '8xb512-amp-coslr-300e_in1k/student.pth',
            prefix='backbone.')),
    head=dict(in_channels=768))
