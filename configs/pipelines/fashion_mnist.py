# teacher -> student from scratch -> student distilled (logit KD), on the
# real Fashion-MNIST (60k train / 10k test), equal budget for both students.
#   python tools/pipeline.py configs/pipelines/fashion_mnist.py [--quick]
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
    # about 2 minutes: 1024 training images in batches of 64, 1 epoch,
    # 500 test images
    quick=dict(
        cfg_options={
            'train_dataloader.dataset.indices': 1024,
            'train_dataloader.batch_size': 64,
            'val_dataloader.dataset.indices': 500,
            'test_dataloader.dataset.indices': 500,
            'train_cfg.max_epochs': 1,
            'train_cfg.val_interval': 1,
            'param_scheduler.0.end': 2,
            'default_hooks.logger.interval': 2,
        }),
)
