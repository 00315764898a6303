# MoCo v3 pre-training of the contrastive DMT teacher: a 6-block, 128-dim
# ViT on Fashion-MNIST (4x4 patches), two augmented views per image, the
# pre-training schedule of the MAE teacher (1 epoch).
_base_ = [
    '../_base_/models/mocov3_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mocov3.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.mocov3_vit_teacher}}
train_cfg = dict(max_epochs=1)
