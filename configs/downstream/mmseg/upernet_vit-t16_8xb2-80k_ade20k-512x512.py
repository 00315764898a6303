# ViT-T (DeiT-tiny's shape): the ViT-S recipe at width 192, 3 heads
_base_ = './upernet_vit-s16_8xb2-80k_ade20k-512x512.py'
model = dict(
    pretrained='checkpoints/vit-t16_student_mmseg.pth',
    backbone=dict(embed_dims=192, num_heads=3),
    decode_head=dict(in_channels=[192, 192, 192, 192]),
    auxiliary_head=dict(in_channels=192))
