# teacher -> student from scratch -> student distilled (logit KD), on the
# real Fashion-MNIST (60k train / 10k test), equal budget for both students.
#   python tools/pipeline.py configs/pipelines/fashion_mnist.py [--quick]
_base_ = ['../_base_/pipeline_profiles.py']
work_dir = 'work_dirs/pipelines/fashion_mnist'

_student = 'configs/supervised/supervised_vit-96d4l-p7_1xb256-adamw-3e_fashion-mnist.py'  # noqa: E501
stages = [
    dict(
        name='teacher',
        label='teacher ViT 128d-6L',
        config='configs/supervised/'
        'supervised_vit-128d6l-p7_1xb256-adamw-3e_fashion-mnist.py'),
    dict(name='scratch', label='student ViT 96d-4L, scratch', config=_student),
    dict(
        name='kd',
        label='student ViT 96d-4L, logit KD',
        config='configs/kd/'
        'kd_vit-96d4l-p7_vit-128d6l-p7_1xb256-adamw-3e_fashion-mnist.py',
        # cfg key <- checkpoint of an earlier stage
        inputs={'model.teacher.checkpoint': 'teacher'},
        # a distiller's student is extracted and tested with this config
        eval_config=_student),
]

profiles = dict(
    # about 28 minutes on 2 idle cores
    default=dict(cfg_options={}),
    # the shared quick options (configs/_base_/pipeline_profiles.py)
    quick=dict(cfg_options={{_base_.quick_fashion_mnist}}),
)
