# ReMem distillation at paper scale: an ImageNet-1k DeiT-Ti/16 fine-tuned on
# CIFAR-100 with labels, the logits (KL at tau 4) and the head features of
# the ReMem-fine-tuned DeiT-B teacher [our choice: AdamW 5e-4 at batch 128,
# 50 epochs, 5 warm-up].
_base_ = [
    '../_base_/models/vit_cifar100_remem.py',
    '../_base_/datasets/cifar100_224px.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='LogitKD',
    student={{_base_.vit_tiny_student}},
    teacher=dict(
        type='FrozenTeacher',
        # either ft-sam*_vit-base-p16_..._cifar100_in1k teacher: its alpha
        # buffers (1.0 or 0.5) are restored from the checkpoint
        model={{_base_.remem_vit_base}},
        # override with --cfg-options model.teacher.checkpoint=PATH
        checkpoint='work_dirs/ft-sam-mlp0.5_vit-base-p16_8xb16-sgd-10e_'
        'cifar100_in1k/epoch_10.pth'),
    alpha=0.5,
    kd_loss=dict(type='KDLoss', tau=4.0),
    feature_loss=dict(type='NormalizedFeatureLoss', kind='l2'),
)
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=5e-4, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=5,
        end=50,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
