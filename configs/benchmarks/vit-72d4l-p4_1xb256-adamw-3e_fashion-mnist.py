# Fine-tune a pre-trained 72-dim ViT (4 blocks, 2 heads, 4x4 patches) on
# Fashion-MNIST labels, MAE's way: average pooling without a final norm,
# label smoothing 0.1, drop path 0.1, layer decay 0.75, the 3-epoch AdamW
# schedule of the supervised configs. The backbone is a student exported
# by tools/extract_student.py (stage 2 of the TinyMIM chain);
# as in MMPretrain's MAE benchmarks, the checkpoint must be given:
#   --cfg-options model.backbone.init_cfg.checkpoint=STUDENT.pth
# or, for the same ViT from scratch, model.backbone.init_cfg=None.
_base_ = [
    '../_base_/models/tinymim_vit_fashion_mnist.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/fashion_mnist_adamw.py',
    '../_base_/default_runtime.py',
]
model = {{_base_.tinymim_finetune_72d}}
optim_wrapper = dict(
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
