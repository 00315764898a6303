# DMT with two teachers, MAE (4x4 patches) and supervised (7x7 patches, its
# 4x4 grid resized to the student's 7x7): TFD + SFD, uniform fusion.
_base_ = [
    '../_base_/models/dmt_vit_fashion_mnist_parts.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
# a model of its own: merging into the shared one cannot drop the MoCo
# teacher
model = dict(
    type='DMT',
    student={{_base_.dmt_student}},
    teachers=dict(
        mae={{_base_.dmt_teacher_mae}}, sup={{_base_.dmt_teacher_sup}}),
    tfd={{_base_.dmt_tfd}},
    sfd={{_base_.dmt_sfd}})
