# Masked-image-modelling distillation on the real Fashion-MNIST: an MAE
# teacher (128d-6L, 4x4 patches), then 96d-4L students pre-trained at equal
# budget (2 epochs) by MAE alone, DMAE and TinyMIM, each fine-tuned with the
# same labels-and-schedule, beside the same ViT fine-tuned from scratch.
#   python tools/pipeline.py configs/pipelines/fashion_mnist_mim.py [--quick]
work_dir = 'work_dirs/pipelines/fashion_mnist_mim'

_finetune = 'configs/dmae/vit-96d4l-p4_mim-pre_1xb256-adamw-1e_fashion-mnist.py'  # noqa: E501
_pretrained = 'model.backbone.init_cfg.checkpoint'
_teacher = {'model.teacher.checkpoint': 'mae_teacher'}
stages = [
    dict(
        name='mae_teacher',
        label='teacher ViT 128d-6L, MAE',
        config='configs/mae/'
        'mae_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist.py',
        test=False),
    dict(
        name='mae',
        label='student 96d-4L, MAE',
        config='configs/mae/mae_vit-96d4l-p4_1xb256-adamw-2e_fashion-mnist.py',
        test=False),
    dict(
        name='dmae',
        label='student 96d-4L, DMAE',
        config='configs/dmae/'
        'dmae_vit-96d4l-p4_mae-vit-128d6l-p4_1xb256-adamw-2e_fashion-mnist.py',
        inputs=_teacher,
        export=True,
        test=False),
    dict(
        name='tinymim',
        label='student 96d-4L, TinyMIM',
        config='configs/tinymim/'
        'tinymim_vit-96d4l-p4_mae-vit-128d6l-p4_1xb256-adamw-5e_fashion-mnist.py',  # noqa: E501
        cfg_options={'train_cfg.max_epochs': 2},  # the same budget
        inputs=_teacher,
        export=True,
        test=False),
    dict(
        name='ft_scratch',
        label='96d-4L fine-tuned from scratch',
        config=_finetune,
        cfg_options={'model.backbone.init_cfg': None}),
    dict(
        name='ft_mae',
        label='96d-4L fine-tuned from MAE',
        config=_finetune,
        inputs={_pretrained: 'mae'}),
    dict(
        name='ft_dmae',
        label='96d-4L fine-tuned from DMAE',
        config=_finetune,
        inputs={_pretrained: 'dmae'}),
    dict(
        name='ft_tinymim',
        label='96d-4L fine-tuned from TinyMIM',
        config=_finetune,
        inputs={_pretrained: 'tinymim'}),
]

profiles = dict(
    # about 50 minutes on an idle 2-core machine
    default=dict(cfg_options={}),
    # a few minutes: 1024 training images in batches of 64, 1 epoch
    quick=dict(
        cfg_options={
            'train_dataloader.dataset.indices': 1024,
            'train_dataloader.batch_size': 64,
            'val_dataloader.dataset.indices': 500,
            'test_dataloader.dataset.indices': 500,
            'train_cfg.max_epochs': 1,
            'param_scheduler.0.end': 2,
            'default_hooks.logger.interval': 2,
        }),
)
