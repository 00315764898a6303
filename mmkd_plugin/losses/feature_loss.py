"""Bai et al., "Masked Autoencoders Enable Efficient Knowledge Distillers"
(CVPR 2023): the feature distillation loss of DMAE."""
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class NormalizedFeatureLoss(nn.Module):
    """Distance between per-token L2-normalised features.

    Each token's feature (last dimension) is L2-normalised on both sides,
    then ``'l1'`` takes the mean absolute difference and ``'l2'`` the mean
    squared difference over batch x tokens x channels. The teacher side is
    detached; both sides are computed in fp32.

    Args:
        kind: ``'l1'`` (DMAE's default) or ``'l2'``.
        loss_weight: multiplies the loss.
    """

    KINDS = ('l1', 'l2')

    def __init__(self, kind: str = 'l1', loss_weight: float = 1.0):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f'kind must be one of {self.KINDS}, got {kind!r}')
        self.kind = kind
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor,
                teacher: torch.Tensor) -> torch.Tensor:
        """Features ``[B, N, C]`` (any leading shape) -> scalar loss."""
        if student.shape != teacher.shape:
            raise ValueError(f'student features {tuple(student.shape)} and '
                             f'teacher features {tuple(teacher.shape)} '
                             'differ in shape')
        s = F.normalize(student.float(), dim=-1)  # [B, N, C]
        t = F.normalize(teacher.detach().float(), dim=-1)  # [B, N, C]
        diff = s - t
        loss = diff.abs().mean() if self.kind == 'l1' else diff.pow(2).mean()
        return self.loss_weight * loss
