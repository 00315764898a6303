"""Hinton et al., "Distilling the Knowledge in a Neural Network" (2015)."""
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class KDLoss(nn.Module):
    """``tau^2 * KL(softmax(t / tau) || softmax(s / tau))``, batch mean.

    The ``tau^2`` factor keeps gradient magnitudes comparable across
    temperatures. The teacher side is detached.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0):
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor,
                teacher: torch.Tensor) -> torch.Tensor:
        log_s = F.log_softmax(student.float() / self.tau, dim=-1)  # [B, K]
        log_t = F.log_softmax(teacher.detach().float() / self.tau, dim=-1)
        kl = F.kl_div(log_s, log_t, log_target=True, reduction='batchmean')
        return self.loss_weight * self.tau**2 * kl
