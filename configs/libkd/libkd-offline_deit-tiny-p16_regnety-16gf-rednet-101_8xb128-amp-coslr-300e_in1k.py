# LIB-KD, offline, on ImageNet-1k: the DeiT-Ti student of the online config
# trained alone on RegNetY-16GF's and RedNet-101's labels stored per view
# (500 views, top-5) by tools/precompute_logits.py; one store serves both
# students. DeiT's recipe, as online.
_base_ = [
    '../_base_/models/libkd_in1k.py',
    '../_base_/datasets/imagenet_bs128_libkd_views.py',
    '../_base_/schedules/imagenet_deit_amp-coslr-300e.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.libkd_student_tiny}}
train_dataloader = dict(
    dataset=dict(
        store={{_base_.libkd_store}},
        # as the online config's: order, checkpoints (their sha256 is
        # part of the store's spec)
        teachers=dict(
            rednet={{_base_.libkd_teacher_rednet}},
            regnety={{_base_.libkd_teacher_regnety}})))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
