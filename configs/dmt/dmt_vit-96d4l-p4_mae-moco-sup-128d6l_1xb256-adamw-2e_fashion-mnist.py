# DMT on Fashion-MNIST: the 96-dim, 4-block student (4x4 patches) distils
# three teachers trained here -- MAE, MoCo v3 and supervised -- with token
# fusion (CLS) and spatial feature fusion (patch tokens) distillation, each
# teacher's tokens LayerNorm'ed and averaged with uniform weights, smooth-L1,
# lambda 1 each; 2 epochs, the budget of the MAE / DMAE / TinyMIM students.
_base_ = [
    '../_base_/models/dmt_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
# the model is the base's (dmt_vit_fashion_mnist.py)
