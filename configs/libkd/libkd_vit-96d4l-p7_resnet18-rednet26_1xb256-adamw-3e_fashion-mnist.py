# LIB-KD, online: both teachers run on every batch; the student's
# distillation tokens learn from the RedNet (involution) and the ResNet
# (convolution), by name (teachers_by_name), on random-resized crops.
_base_ = [
    '../_base_/models/libkd_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='LIBKD',
    student={{_base_.libkd_student}},
    teachers={{_base_.libkd_teachers}},
    # teachers run in fp32 even under --amp (involution is not fp16-safe)
    fp32_teachers=None,
)
train_dataloader = dict(dataset=dict(pipeline={{_base_.crop_pipeline}}))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.dist_token': dict(decay_mult=0.0)}))
