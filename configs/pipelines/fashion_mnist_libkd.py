# LIB-KD on the real Fashion-MNIST: a convolution teacher (ResNet-18, 16
# channels) and an involution teacher (RedNet-26, 16 channels) trained
# here, then the 96d-4L ViT student at one budget (3 epochs, the same
# random-resized crops) four ways: from scratch, one teacher online (one
# distillation token), both teachers online, and both teachers offline
# (their top-3 labels of 4 views per image precomputed once, timed in the
# table, then no teacher in training).
#   python tools/pipeline.py configs/pipelines/fashion_mnist_libkd.py [--quick]
_base_ = ['../_base_/pipeline_profiles.py']
work_dir = 'work_dirs/pipelines/fashion_mnist_libkd'

_libkd = 'configs/libkd/libkd{}_vit-96d4l-p7_{}_1xb256-adamw-3e_fashion-mnist.py'  # noqa: E501
_teachers = {
    'model.teachers.resnet.checkpoint': 'teacher_resnet',
    'model.teachers.rednet.checkpoint': 'teacher_rednet',
}
stages = [
    dict(
        name='teacher_resnet',
        label='teacher ResNet-18 (convolution)',
        config='configs/libkd/'
        'supervised_resnet18-s16_1xb256-adamw-3e_fashion-mnist.py'),
    dict(
        name='teacher_rednet',
        label='teacher RedNet-26 (involution)',
        config='configs/libkd/'
        'supervised_rednet26-s16_1xb256-adamw-3e_fashion-mnist.py'),
    dict(
        name='scratch',
        label='student ViT 96d-4L, scratch',
        config='configs/libkd/'
        'supervised_vit-96d4l-p7_crop_1xb256-adamw-3e_fashion-mnist.py'),
    dict(
        name='single',
        label='student, ResNet teacher online',
        config=_libkd.format('', 'resnet18'),
        inputs={'model.teachers.resnet.checkpoint': 'teacher_resnet'}),
    dict(
        name='online',
        label='student, both teachers online',
        config=_libkd.format('', 'resnet18-rednet26'),
        inputs=_teachers),
    dict(
        name='offline',
        label='student, both teachers offline',
        config=_libkd.format('-offline', 'resnet18-rednet26'),
        before=dict(tool='tools/precompute_logits.py'),
        cfg_options={'train_dataloader.dataset.store': '{stage_dir}/store'},
        inputs={
            f'train_dataloader.dataset.teachers.{k.split(".")[2]}.checkpoint':
            v
            for k, v in _teachers.items()
        }),
]

profiles = dict(
    default=dict(cfg_options={}),
    quick=dict(cfg_options={{_base_.quick_fashion_mnist}}),
)
