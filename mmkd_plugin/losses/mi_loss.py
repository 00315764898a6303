"""ReMem ("Mutual Information-Aware Fine-tuning of Pretrained ViTs for
Effective KD"): the MI regulariser of teacher fine-tuning."""
import torch
from mmpretrain.registry import MODELS
from torch import nn

from mmkd_plugin.evaluation import class_conditional_coding_rate


@MODELS.register_module()
class MILoss(nn.Module):
    """``-lambda * R_c(Z | y)``: rewards features that keep information
    beyond the label (the class-conditional coding rate of
    :func:`~mmkd_plugin.evaluation.class_conditional_coding_rate` on
    L2-normalised rows), so that a fine-tuned teacher does not collapse
    each class to a point.

    Args:
        loss_weight: lambda, >= 0.
        eps: the coding rate's distortion.
    """

    def __init__(self, loss_weight: float = 0.01, eps: float = 0.5):
        super().__init__()
        if loss_weight < 0 or not eps > 0:
            raise ValueError('MILoss needs loss_weight >= 0 and eps > 0, '
                             f'got {loss_weight}, {eps}')
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, features: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Features [B, D] and integer labels [B] -> scalar loss."""
        rate = class_conditional_coding_rate(
            features, labels, self.eps, normalize=True)
        return -self.loss_weight * rate
