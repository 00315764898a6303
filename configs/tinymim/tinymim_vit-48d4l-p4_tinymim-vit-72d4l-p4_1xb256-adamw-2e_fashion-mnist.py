# Sequential TinyMIM, stage 3: the 4-block, 48-dim ViT (2 heads) learns the
# relations of the last block of the stage-2 72-dim ViT (2 heads, as
# exported by tools/extract_student.py).
_base_ = [
    '../_base_/models/tinymim_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist_tinymim.py',
    '../_base_/schedules/fashion_mnist_mim_adamw.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='TinyMIM',
    student={{_base_.tinymim_student_48d}},
    teacher=dict(
        type='FrozenTeacher',
        model={{_base_.tinymim_teacher_72d}},
        # stage 2 exported; override with model.teacher.checkpoint=PATH
        checkpoint='work_dirs/tinymim_vit-72d4l-p4_tinymim-vit-96d4l-p4_'
        '1xb256-adamw-2e_fashion-mnist/student.pth',
        prefix='backbone.'),
    teacher_block=3,
    last_heads=2,
    target='relation',
)
