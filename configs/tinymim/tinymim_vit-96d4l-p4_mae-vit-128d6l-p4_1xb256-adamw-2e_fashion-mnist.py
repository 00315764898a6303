# TinyMIM on Fashion-MNIST: the 4-block, 96-dim ViT (3 heads) learns the
# q-k and v-v relations of block 4 of the MAE-pretrained 6-block, 128-dim
# teacher (4 heads; 5 of its 6 blocks run, as 18 of ViT-L's 24 in the
# paper), its last block split into 4 heads of 24 dims for the relation.
# Stage 1 of the sequential chain 128d -> 96d -> 72d -> 48d.
_base_ = [
    '../_base_/models/mae_vit_fashion_mnist.py',
    '../_base_/models/tinymim_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_tinymim.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='TinyMIM',
    student={{_base_.tinymim_student_96d}},
    teacher=dict(
        type='FrozenTeacher',
        model={{_base_.mae_vit_teacher_backbone}},
        # trained by configs/mae/mae_vit-128d6l-p4_...; override with
        # --cfg-options model.teacher.checkpoint=PATH
        checkpoint='work_dirs/mae_vit-128d6l-p4_1xb256-adamw-1e_'
        'fashion-mnist/epoch_1.pth',
        prefix='backbone.'),
    teacher_block=4,
    last_heads=4,
    target='relation',
)
