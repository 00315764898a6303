# Fine-tune the exported TinyMIM-B on ImageNet-1k: MMPretrain's MAE
# fine-tuning recipe (AdamW lr 2e-3 at batch 1024, 100 epochs, 5 warm-up,
# layer decay 0.65, mixup 0.8 / cutmix 1.0, label smoothing 0.1,
# RandAugment, random erasing 0.25, average pooling) with TinyMIM's drop
# path 0.2. Set the student with
# --cfg-options model.backbone.init_cfg.checkpoint=STUDENT.pth
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py']
custom_imports = dict(imports=['mmkd_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/tinymim_vit-base-p16_mae-vit-large-p16_'
            '32xb128-adamw-300e_in1k/student.pth',
            prefix='backbone.')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))
