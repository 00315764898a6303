# DMT, token fusion distillation only: the student's CLS token regresses
# the uniform mean of the three teachers' LayerNorm'ed CLS tokens.
_base_ = [
    '../_base_/models/dmt_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(sfd=None)
