# MAE pre-training of the DMAE teacher: a 6-block, 128-dim ViT on
# Fashion-MNIST (4x4 patches, 75% masked, un-normalised pixel targets).
_base_ = [
    '../_base_/models/mae_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.mae_vit_teacher}}
train_cfg = dict(max_epochs=1)
