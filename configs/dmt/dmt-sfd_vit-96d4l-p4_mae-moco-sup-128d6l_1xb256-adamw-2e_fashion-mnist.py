# DMT, spatial feature fusion distillation only: the student's patch tokens
# regress the uniform mean of the three teachers' LayerNorm'ed patch tokens
# (the supervised teacher's 4x4 grid resized to 7x7).
_base_ = [
    '../_base_/models/dmt_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(tfd=None)
