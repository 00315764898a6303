# LIB-KD involution teacher: RedNet-26 (16 base channels), labels only.
_base_ = [
    '../_base_/models/libkd_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.rednet_teacher}}
