# ReMem teachers for Fashion-MNIST: the 128-dim, 6-block teacher of
# vit_fashion_mnist.py with MLP reweighting of its top 2 blocks (block i:
# x <- x + alpha * MLP(LN(x)), alpha a checkpointed buffer). alpha = 1.0
# computes exactly what the plain VisionTransformer does, so plain, SAM and
# SAM + reweighting teachers share one checkpoint layout.


def _teacher(alpha, classifier='ImageClassifier', **extra):
    return dict(
        type=classifier,
        backbone=dict(
            type='ReweightedVisionTransformer',
            arch=dict(
                embed_dims=128,
                num_layers=6,
                num_heads=4,
                feedforward_channels=512),
            img_size=28,
            patch_size=7,
            in_channels=1,
            drop_path_rate=0.1,
            out_type='cls_token',
            mlp_alpha=alpha,
            top_k=2),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=10,
            in_channels=128,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        **extra)


# plain ViT (alpha = 1): for the plain and SAM-only fine-tuning
remem_teacher = _teacher(1.0)
# METHODS.md's defaults: top k = 2 blocks, alpha = 0.5
remem_teacher_rw = _teacher(0.5)
# the same with the MI regulariser -lambda * R_c(CLS feature | label)
remem_teacher_rw_mi = _teacher(
    0.5,
    'MIRegularisedClassifier',
    mi_loss=dict(type='MILoss', loss_weight=0.01, eps=0.5))
