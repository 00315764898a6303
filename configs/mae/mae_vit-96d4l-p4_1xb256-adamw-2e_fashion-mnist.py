# MAE-only baseline of the DMAE student: the 4-block, 96-dim ViT, same
# schedule and mask ratio as dmae_vit-96d4l-p4_mae-vit-128d6l-p4_...
_base_ = [
    '../_base_/models/mae_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.mae_vit_student}}
