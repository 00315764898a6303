# Single-teacher baseline of LIB-KD, online: the ResNet alone teaches the
# student through one distillation token (DeiT's design), same crops and
# schedule as the two-teacher configs.
_base_ = ['./libkd_vit-96d4l-p7_resnet18-rednet26_1xb256-adamw-3e_'
          'fashion-mnist.py']
model = dict(
    student=dict(
        backbone=dict(num_dist_tokens=1), head=dict(num_dist_tokens=1)),
    teachers=dict(_delete_=True, resnet={{_base_.model.teachers.resnet}}))
