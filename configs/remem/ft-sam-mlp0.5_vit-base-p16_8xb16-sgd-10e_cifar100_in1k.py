# ReMem at paper scale: as ft-sam_vit-base-p16_..., with the MLP branches of
# the top 2 blocks (10, 11) scaled by alpha = 0.5.
_base_ = [
    '../_base_/models/vit_cifar100_remem.py',
    '../_base_/datasets/cifar100_224px.py',
    '../_base_/schedules/cifar100_remem_ft_sam.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.remem_vit_base_rw}}
