# ReMem: SAM + MLP reweighting + the MI regulariser (-0.01 * R_c of the CLS
# feature given the label) during teacher fine-tuning.
_base_ = [
    '../_base_/models/vit_fashion_mnist_remem.py',
    '../_base_/datasets/fashion_mnist_lt.py',
    '../_base_/schedules/fashion_mnist_remem_ft.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.remem_teacher_rw_mi}}
optim_wrapper = dict(type='SAMOptimWrapper', rho=0.05, adaptive=False)
# the pretrained teacher (supervised_vit-128d6l-p7_...); override with
# --cfg-options load_from=PATH (its alpha buffers are missing: they keep
# the configured value)
load_from = 'work_dirs/fashion_mnist/teacher/epoch_3.pth'
