# ReMem at paper scale: MMPretrain's ImageNet-1k DeiT-B/16 fine-tuned on
# CIFAR-100 with SAM (rho 0.05) over SGD. (`_in1k`: initialised from
# ImageNet-1k weights; tests/test_remem/test_remem_configs.py runs it tiny.)
_base_ = [
    '../_base_/models/vit_cifar100_remem.py',
    '../_base_/datasets/cifar100_224px.py',
    '../_base_/schedules/cifar100_remem_ft_sam.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.remem_vit_base}}
