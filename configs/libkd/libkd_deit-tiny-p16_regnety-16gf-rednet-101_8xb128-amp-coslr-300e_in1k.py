# LIB-KD, online, on ImageNet-1k: DeiT-Ti with two distillation tokens
# learns from RegNetY-16GF (convolution) and RedNet-101 (involution), both
# run in fp32 on every (mixed) batch; DeiT's recipe: 300 epochs, batch 1024
# (8 GPUs x 128), AdamW lr 1e-3, RandAugment, Mixup / CutMix, label
# smoothing, random erasing, repeated augmentation.
_base_ = [
    '../_base_/models/libkd_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_deit_amp-coslr-300e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='LIBKD',
    student={{_base_.libkd_student_tiny}},
    # tokens follow the teachers' names in sorted order (teachers_by_name)
    teachers=dict(
        rednet={{_base_.libkd_teacher_rednet}},
        regnety={{_base_.libkd_teacher_regnety}}),
    # every teacher in fp32 under AMP (involution is not fp16-safe)
    fp32_teachers=None)
data_preprocessor = dict(
    batch_augments=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
train_dataloader = dict(
    batch_size=128, sampler=dict(type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=128)
test_dataloader = dict(batch_size=128)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
