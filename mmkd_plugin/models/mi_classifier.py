"""ReMem ("Mutual Information-Aware Fine-tuning of Pretrained ViTs for
Effective KD"): teacher fine-tuning with the MI regulariser."""
from typing import List

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class MIRegularisedClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose loss adds ``mi_loss`` (default
    :class:`~mmkd_plugin.losses.MILoss`, ``-lambda * R_c``) on the features
    its head reads (``head.pre_logits``, e.g. the CLS token [B, D]) and the
    hard labels. Otherwise the same model: a checkpoint of it is an
    ``ImageClassifier`` checkpoint (the loss has no weights).

    Args:
        mi_loss: loss config taking ``(features [B, D], labels [B])``.
        **kwargs: ``ImageClassifier`` arguments.
    """

    def __init__(self,
                 *args,
                 mi_loss: dict = dict(type='MILoss', loss_weight=0.01),
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.mi_loss = MODELS.build(mi_loss)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        feats = self.extract_feat(inputs)
        losses = self.head.loss(feats, data_samples)
        labels = torch.cat([s.gt_label for s in data_samples])  # [B]
        features = self.head.pre_logits(feats)  # [B, D]
        losses['loss_mi'] = self.mi_loss(features, labels.to(features.device))
        return losses
