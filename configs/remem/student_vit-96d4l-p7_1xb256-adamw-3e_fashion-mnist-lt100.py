# Baseline: the 96d-4L student trained from scratch with labels on the
# long-tailed training set (the budget of the distilled students).
_base_ = [
    '../_base_/models/vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_lt.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.vit_student}}
