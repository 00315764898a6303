# Single-teacher distillation with DMT's heads: the MAE teacher alone (with
# one teacher, fusion is the identity), CLS and patch tokens.
_base_ = [
    '../_base_/models/dmt_vit_fashion_mnist_parts.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
# a model of its own: merging into the shared one cannot drop the MoCo
# and supervised teachers
model = dict(
    type='DMT',
    student={{_base_.dmt_student}},
    teachers=dict(mae={{_base_.dmt_teacher_mae}}),
    tfd={{_base_.dmt_tfd}},
    sfd={{_base_.dmt_sfd}})
