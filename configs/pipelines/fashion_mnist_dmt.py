# DMT on the real Fashion-MNIST: three 128d-6L teachers trained here with
# different objectives (MAE and MoCo v3 with 4x4 patches, supervised with
# 7x7 patches), then 96d-4L students pre-trained at equal budget (2 epochs
# over the first 20k training images) by DMT (TFD + SFD, TFD only, SFD
# only, learned fusion weights, the per-teacher baseline, two teachers) and
# by single-teacher distillation
# from the MAE teacher, each fine-tuned with the same labels-and-schedule
# (1 epoch) beside the same ViT fine-tuned from scratch.
#   python tools/pipeline.py configs/pipelines/fashion_mnist_dmt.py [--quick]
_base_ = ['../_base_/pipeline_profiles.py']
work_dir = 'work_dirs/pipelines/fashion_mnist_dmt'

_finetune = 'configs/benchmarks/vit-96d4l-p4_1xb256-adamw-3e_fashion-mnist.py'
_one_epoch = {'train_cfg.max_epochs': 1}
# 2 epochs over 20k images: a 3-teacher step costs ~2.5 s on 2 cores
_subset = {'train_dataloader.dataset.indices': 20000}
_pretrained = 'model.backbone.init_cfg.checkpoint'
_dmt = 'configs/dmt/{}_vit-96d4l-p4_{}-128d6l_1xb256-adamw-2e_fashion-mnist.py'
_mae = {'model.teachers.mae.checkpoint': 'mae_teacher'}
_two = {**_mae, 'model.teachers.sup.checkpoint': 'sup_teacher'}
_three = {**_two, 'model.teachers.moco.checkpoint': 'moco_teacher'}
# name -> (label, method, teachers, their stages)
_students = dict(
    dmt=('DMT, TFD + SFD, 3 teachers', 'dmt', 'mae-moco-sup', _three),
    dmt_tfd=('DMT, TFD only, 3 teachers', 'dmt-tfd', 'mae-moco-sup', _three),
    dmt_sfd=('DMT, SFD only, 3 teachers', 'dmt-sfd', 'mae-moco-sup', _three),
    dmt_learned=('DMT, learned fusion, 3 teachers', 'dmt-learned',
                 'mae-moco-sup', _three),
    dmt_per_teacher=('per-teacher baseline, 3 teachers', 'dmt-per-teacher',
                     'mae-moco-sup', _three),
    dmt_two=('DMT, TFD + SFD, MAE + supervised', 'dmt', 'mae-sup', _two),
    single_mae=('single teacher (MAE), TFD + SFD', 'dmt', 'mae', _mae),
)
stages = [
    dict(
        name='mae_teacher',
        label='teacher ViT 128d-6L p4, MAE',
        config='configs/mae/'
        'mae_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist.py',
        test=False),
    dict(
        name='moco_teacher',
        label='teacher ViT 128d-6L p4, MoCo v3',
        config='configs/mocov3/'
        'mocov3_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist.py',
        test=False),
    dict(
        name='sup_teacher',
        label='teacher ViT 128d-6L p7, supervised',
        config='configs/supervised/'
        'supervised_vit-128d6l-p7_1xb256-adamw-3e_fashion-mnist.py'),
] + [
    dict(
        name=name,
        label=f'student 96d-4L, {label}',
        config=_dmt.format(method, teachers),
        cfg_options=_subset,
        inputs=inputs,
        export=True,
        test=False)
    for name, (label, method, teachers, inputs) in _students.items()
] + [
    dict(
        name='ft_scratch',
        label='96d-4L fine-tuned from scratch',
        config=_finetune,
        cfg_options={
            'model.backbone.init_cfg': None,
            **_one_epoch
        }),
] + [
    dict(
        name=f'ft_{name}',
        label=f'96d-4L fine-tuned from {label}',
        config=_finetune,
        cfg_options=_one_epoch,
        inputs={_pretrained: name}) for name, (label, *_) in _students.items()
]

profiles = dict(
    # measured: 1.8 h of stages on 2 cores shared with other jobs (MoCo
    # teacher 20 min, each 3-teacher student 5-7 min, each fine-tune 4-8 min)
    default=dict(cfg_options={}),
    # the shared quick options (configs/_base_/pipeline_profiles.py)
    quick=dict(cfg_options={{_base_.quick_fashion_mnist}}),
)
