# DMT on Fashion-MNIST (the parts: dmt_vit_fashion_mnist_parts.py): the
# 96-dim, 4-block student (4x4 patches) distils the MAE, MoCo v3 and
# supervised teachers with token fusion (CLS) and spatial feature fusion
# (patch tokens) distillation, uniform mean, smooth-L1, lambda 1 each.
# The configs under configs/dmt/ that change only this model's values set
# just those (`tfd=None`); those that would remove a teacher or a head's key
# inherit dmt_vit_fashion_mnist_parts.py and compose their own model.
_base_ = 'dmt_vit_fashion_mnist_parts.py'
model = dict(
    type='DMT',
    student={{_base_.dmt_student}},
    teachers=dict(
        mae={{_base_.dmt_teacher_mae}},
        moco={{_base_.dmt_teacher_moco}},
        sup={{_base_.dmt_teacher_sup}}),
    tfd={{_base_.dmt_tfd}},
    sfd={{_base_.dmt_sfd}})
