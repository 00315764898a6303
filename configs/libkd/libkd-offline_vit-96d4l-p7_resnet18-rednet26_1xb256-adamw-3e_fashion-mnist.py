# LIB-KD, offline: the teachers' top-3 labels of 4 random-resized-crop
# views per image are computed once and stored; training replays a stored
# view and reads its labels, so no teacher runs. Same student, views and
# schedule as the online config.
#   python tools/precompute_logits.py CONFIG   # resumable; --workers N
#   python tools/train.py CONFIG
_base_ = [
    '../_base_/models/libkd_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.libkd_student}}
data_preprocessor = dict(type='SoftTargetClsDataPreprocessor')
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PrecomputedViewDataset',
        dataset=dict(
            type='FashionMNIST',
            data_root='data/fashion_mnist',
            test_mode=False,
            download=False,
            pipeline={{_base_.replay_pipeline}}),
        store='work_dirs/libkd_stores/fashion-mnist_resnet18-rednet26_'
        '4views_top3',
        teachers={{_base_.libkd_teachers}},
        num_views=4,
        topk=3,
        seed=0))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.dist_token': dict(decay_mult=0.0)}))
