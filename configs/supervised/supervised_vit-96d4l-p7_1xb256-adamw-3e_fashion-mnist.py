# Student baseline: the 4-block, 96-dim ViT trained from scratch with labels.
_base_ = [
    '../_base_/models/vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.vit_student}}
