"""DMT, "Comprehensive Distillation with Multiple Self-supervised
Teachers": the smooth-L1 feature regression loss."""
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class SmoothL1FeatureLoss(nn.Module):
    """Smooth-L1 between predicted and target features, mean over all
    elements, in fp32.

    Per element, ``0.5 * d^2 / beta`` where ``|d| < beta``, else
    ``|d| - 0.5 * beta`` (``d = pred - target``). The target is *not*
    detached: a fused target carries the gradient of learned fusion
    weights; teachers' features come without gradient already.

    Args:
        beta: where the quadratic part ends; must be > 0.
        loss_weight: multiplies the loss.
    """

    def __init__(self, beta: float = 1.0, loss_weight: float = 1.0):
        super().__init__()
        if beta <= 0:
            raise ValueError(f'beta must be > 0, got {beta}')
        self.beta = beta
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Features ``[B, N, C]`` (any leading shape) -> scalar loss."""
        if pred.shape != target.shape:
            raise ValueError(f'predicted features {tuple(pred.shape)} and '
                             f'targets {tuple(target.shape)} differ in shape')
        loss = F.smooth_l1_loss(pred.float(), target.float(), beta=self.beta)
        return self.loss_weight * loss
