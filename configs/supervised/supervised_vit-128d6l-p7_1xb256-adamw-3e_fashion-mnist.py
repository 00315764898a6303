# Teacher: a 6-block, 128-dim ViT trained with labels on Fashion-MNIST.
_base_ = [
    '../_base_/models/vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.vit_teacher}}
