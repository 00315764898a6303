# The per-teacher baseline of DMT: no fusion; one projector and one loss per
# teacher (CLS and patch tokens), the losses averaged.
_base_ = [
    '../_base_/models/dmt_vit_fashion_mnist_parts.py',
    '../_base_/datasets/fashion_mnist_mae.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
# a model of its own: merged into the shared one, its heads would keep
# the uniform heads' loss settings
model = dict(
    type='DMT',
    student={{_base_.dmt_student}},
    teachers=dict(
        mae={{_base_.dmt_teacher_mae}},
        moco={{_base_.dmt_teacher_moco}},
        sup={{_base_.dmt_teacher_sup}}),
    tfd=dict(type='TokenFusionHead', fusion='none'),
    sfd=dict(type='SpatialFusionHead', fusion='none'))
