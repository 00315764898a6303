# Masked-image-modelling distillation on the real Fashion-MNIST: an MAE
# teacher (128d-6L, 4x4 patches), then 96d-4L students pre-trained at equal
# budget (2 epochs) by MAE alone, DMAE and TinyMIM, each fine-tuned with the
# same labels-and-schedule (1 epoch), beside the same ViT fine-tuned from
# scratch; then TinyMIM's sequential chain 96d -> 72d -> 48d, the 48d end
# fine-tuned beside a 48d from scratch. With --downstream, the 96d students
# (and the same ViT from scratch) are also fine-tuned as Mask R-CNN and
# UperNet backbones on toy grey COCO / ADE20K-format scenes (64 px,
# Fashion-MNIST items on photos; configs/downstream/README.md).
#   python tools/pipeline.py configs/pipelines/fashion_mnist_mim.py [--quick]
#       [--downstream]
_base_ = ['../_base_/pipeline_profiles.py']
work_dir = 'work_dirs/pipelines/fashion_mnist_mim'

_finetune = 'configs/benchmarks/vit-96d4l-p4_1xb256-adamw-3e_fashion-mnist.py'
_finetune_48d = 'configs/benchmarks/vit-48d4l-p4_1xb256-adamw-3e_fashion-mnist.py'  # noqa: E501
_one_epoch = {'train_cfg.max_epochs': 1}
_scratch = {'model.backbone.init_cfg': None, **_one_epoch}
_pretrained = 'model.backbone.init_cfg.checkpoint'
_teacher = {'model.teacher.checkpoint': 'mae_teacher'}
_chain = 'configs/tinymim/tinymim_vit-{}-p4_1xb256-adamw-2e_fashion-mnist.py'
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
        'tinymim_vit-96d4l-p4_mae-vit-128d6l-p4_1xb256-adamw-2e_fashion-mnist.py',  # noqa: E501
        inputs=_teacher,
        export=True,
        test=False),
    dict(
        name='ft_scratch',
        label='96d-4L fine-tuned from scratch',
        config=_finetune,
        cfg_options=_scratch),
    dict(
        name='ft_mae',
        label='96d-4L fine-tuned from MAE',
        config=_finetune,
        cfg_options=_one_epoch,
        inputs={_pretrained: 'mae'}),
    dict(
        name='ft_dmae',
        label='96d-4L fine-tuned from DMAE',
        config=_finetune,
        cfg_options=_one_epoch,
        inputs={_pretrained: 'dmae'}),
    dict(
        name='ft_tinymim',
        label='96d-4L fine-tuned from TinyMIM',
        config=_finetune,
        cfg_options=_one_epoch,
        inputs={_pretrained: 'tinymim'}),
    dict(
        name='tinymim_72d',
        label='student 72d-4L, TinyMIM from the 96d one',
        config=_chain.format('72d4l-p4_tinymim-vit-96d4l'),
        inputs={'model.teacher.checkpoint': 'tinymim'},
        export=True,
        test=False),
    dict(
        name='tinymim_48d',
        label='student 48d-4L, TinyMIM from the 72d one',
        config=_chain.format('48d4l-p4_tinymim-vit-72d4l'),
        inputs={'model.teacher.checkpoint': 'tinymim_72d'},
        export=True,
        test=False),
    dict(
        name='ft48_scratch',
        label='48d-4L fine-tuned from scratch',
        config=_finetune_48d,
        cfg_options=_scratch),
    dict(
        name='ft48_chain',
        label='48d-4L fine-tuned from the TinyMIM chain',
        config=_finetune_48d,
        cfg_options=_one_epoch,
        inputs={_pretrained: 'tinymim_48d'}),
]

# downstream: the scenes, then detection and segmentation per student
_toy = 'configs/downstream/toy/'
_det = _toy + 'mask-rcnn_vit-96d4l-p4_simplefpn_1xb8-5e_toy-coco-grey-64.py'
_seg = _toy + 'upernet_vit-96d4l-p4_1xb8-80i_toy-ade-grey-64.py'
prepare = [
    dict(
        args=[
            'tools/data/make_toy_coco_ade.py', 'data/toy_fm', '--train', '128',
            '--val', '32', '--size', '64'
        ],
        creates='data/toy_fm')
]
_students = dict(
    scratch='from scratch', mae='MAE', dmae='DMAE', tinymim='TinyMIM')
# the toy configs' schedules stretched 8x: 640 steps each
_det_budget = {
    'train_cfg.max_epochs': 40,
    'param_scheduler.1.end': 40,
    'param_scheduler.1.milestones': [32],
    'default_hooks.checkpoint.interval': 10,
}
_seg_budget = {
    'train_cfg.max_iters': 640,
    'train_cfg.val_interval': 640,
    'param_scheduler.1.end': 640,
    'default_hooks.checkpoint.interval': 640,
}
downstream_stages = [
    dict(
        name=f'det_{name}',
        label=f'Mask R-CNN, 96d-4L {what}',
        config=_det,
        # box AP first: what the detector is for (the masks are scored by
        # the UperNet's mIoU too); mask AP beside it
        metric=['coco/bbox_mAP', 'coco/segm_mAP'],
        **(dict(cfg_options={
            **_det_budget, 'model.backbone.init_cfg': None
        }) if name == 'scratch' else dict(
            cfg_options=_det_budget,
            inputs={'model.backbone.init_cfg.checkpoint': (name, 'mmdet')})))
    for name, what in _students.items()
] + [
    dict(
        name=f'seg_{name}',
        label=f'UperNet, 96d-4L {what}',
        config=_seg,
        metric='mIoU',
        **(dict(cfg_options={
            **_seg_budget, 'model.pretrained': None
        }) if name == 'scratch' else dict(
            cfg_options=_seg_budget,
            inputs={'model.pretrained': (name, 'mmseg')})))
    for name, what in _students.items()
]

profiles = dict(
    # about an hour on an idle 2-core machine; --downstream adds about 70
    # minutes (8 stages of 640 steps, measured on shared cores)
    default=dict(cfg_options={}),
    # the shared quick options (configs/_base_/pipeline_profiles.py)
    quick=dict(
        cfg_options={{_base_.quick_fashion_mnist}},
        # the toy sets: 32 training scenes (the COCO metric needs every
        # validation image)
        downstream_cfg_options={
            'train_dataloader.dataset.indices': 32,
            'default_hooks.logger.interval': 2,
        }),
)
