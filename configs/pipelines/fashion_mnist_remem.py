# ReMem on the real Fashion-MNIST: a pretrained 128d-6L teacher (labels, full
# training set) fine-tuned plainly, with SAM, and with SAM + MLP reweighting
# (top 2 blocks, alpha 0.5), on a long-tailed training set (imbalance 100,
# 14.9k images) and on a balanced subset of the same size (1500 per class);
# then a 96d-4L student distilled (logit + feature KD) from each teacher at
# equal budget, beside the student trained from scratch on the same data.
# All tested on the balanced 10k test set.
#   python tools/pipeline.py configs/pipelines/fashion_mnist_remem.py [--quick]
# Each teacher's MI profile (tools/analysis/teacher_mi.py, 500 test images,
# CLS token per block) goes into the table and the plot.
_base_ = ['../_base_/pipeline_profiles.py']
work_dir = 'work_dirs/pipelines/fashion_mnist_remem'

_remem = 'configs/remem/'
_ft = '_vit-128d6l-p7_1xb256-adamw-2e_fashion-mnist-lt100.py'
_teachers = dict(
    plain=f'{_remem}ft{_ft}',
    sam=f'{_remem}ft-sam{_ft}',
    sam_rw=f'{_remem}ft-sam-mlp0.5{_ft}')
_labels = dict(plain='plain', sam='SAM', sam_rw='SAM + MLP reweighting')
_student = f'{_remem}student_vit-96d4l-p7_1xb256-adamw-3e_fashion-mnist-lt100.py'  # noqa: E501
_kd = f'{_remem}remem_vit-96d4l-p7_vit-128d6l-p7_1xb256-adamw-3e_fashion-mnist-lt100.py'  # noqa: E501
# the long-tailed set is the configs' own; the balanced one is derived
_data = dict(
    lt=({}, 'long-tailed 100:1'),
    bal=({
        'train_dataloader.dataset.imbalance_ratio': 1,
        'train_dataloader.dataset.max_per_class': 1500
    }, 'balanced 15k'))

_mi = dict(tool='tools/analysis/teacher_mi.py', args=['--num-samples', '500'])

stages = [
    dict(
        name='pretrain',
        label='teacher ViT 128d-6L, pretrained (full set)',
        config='configs/supervised/'
        'supervised_vit-128d6l-p7_1xb256-adamw-3e_fashion-mnist.py',
        analysis=_mi),
]
for _d, (_opts, _name) in _data.items():
    for _t, _cfg in _teachers.items():
        stages.append(
            dict(
                name=f'ft_{_t}_{_d}',
                label=f'teacher fine-tuned {_labels[_t]}, {_name}',
                config=_cfg,
                cfg_options=_opts,
                inputs={'load_from': 'pretrain'},
                analysis=_mi))
    stages.append(
        dict(
            name=f'scratch_{_d}',
            label=f'student 96d-4L scratch, {_name}',
            config=_student,
            cfg_options=_opts))
    for _t in _teachers:
        stages.append(
            dict(
                name=f'kd_{_t}_{_d}',
                label=f'student 96d-4L from {_labels[_t]} teacher, {_name}',
                config=_kd,
                cfg_options=_opts,
                inputs={'model.teacher.checkpoint': f'ft_{_t}_{_d}'},
                eval_config=_student))

profiles = dict(
    # not timed here: about an hour on 2 idle cores, by the stages' sizes
    default=dict(cfg_options={}),
    # the shared quick options (configs/_base_/pipeline_profiles.py)
    quick=dict(cfg_options={{_base_.quick_fashion_mnist}}),
)
