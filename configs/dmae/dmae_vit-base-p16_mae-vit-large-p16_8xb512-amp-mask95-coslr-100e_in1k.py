# DMAE, ImageNet-1k, mask ratio 0.95: MAE ViT-B/16 student, MAE ViT-L/16
# teacher truncated after block 17 of 24, student block 8 -> teacher block
# 17, normalised-feature L1 + un-normalised pixel MSE, 100 epochs.
_base_ = [
    '../_base_/models/mae_vit_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    '../_base_/schedules/imagenet_mae_amp-coslr-100e.py',
    '../_base_/default_runtime.py',
]
model = dict(mask_ratio=0.95)
