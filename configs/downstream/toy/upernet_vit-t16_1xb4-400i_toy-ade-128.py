# The ViT-T UperNet on the toy ADE20K-format set of
# tools/data/make_toy_coco_ade.py, for CPU checks. Label maps hold 0 for the
# photo (ignored, reduce_zero_label as ADE20K) and k + 1 for Fashion-MNIST
# class k; ADE20KDataset pins ADE's 150 names, so BaseSegDataset reads them
_base_ = '../mmseg/upernet_vit-t16_8xb2-80k_ade20k-512x512.py'
data_root = 'data/toy/ade'
crop_size = (128, 128)
metainfo = dict(
    classes=('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
             'Shirt', 'Sneaker', 'Bag', 'Ankle boot'))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    decode_head=dict(num_classes=10),
    auxiliary_head=dict(num_classes=10))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(256, 128),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
toy_dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4, dataset=dict(**toy_dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(**toy_dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=400, val_interval=200)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', power=1.0, begin=50, end=400, by_epoch=False)
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=200))
