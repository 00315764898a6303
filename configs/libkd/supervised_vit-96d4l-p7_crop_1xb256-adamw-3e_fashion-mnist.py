# The LIB-KD students' baseline: the same 96-dim, 4-block ViT trained from
# scratch with labels only, on the same random-resized crops.
_base_ = [
    '../_base_/models/vit_fashion_mnist.py',
    '../_base_/models/libkd_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.vit_student}}
train_dataloader = dict(dataset=dict(pipeline={{_base_.crop_pipeline}}))
