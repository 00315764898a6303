"""Co-advise (Ren et al., CVPR 2022) / LIB-KD: one distillation token per
teacher, each token's head taught by its own teacher."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

TARGETS = ('logits', 'probs')


def topk_to_probs(indices: torch.Tensor, probs: torch.Tensor,
                  num_classes: int) -> torch.Tensor:
    """A top-k soft label -> a full distribution over ``num_classes``.

    The mass the top-k entries leave, ``1 - sum(probs)`` (clipped at 0), is
    spread uniformly over the other classes; the result is renormalised, so
    that rounding of stored probabilities cannot push the sum above 1.

    Args:
        indices: [..., k] class indices, distinct along the last axis.
        probs: [..., k] their probabilities.

    Returns:
        [..., num_classes] float32 probabilities.
    """
    k = indices.shape[-1]
    probs = probs.float()
    rest = (1 - probs.sum(-1, keepdim=True)).clamp(min=0)  # [..., 1]
    fill = rest / max(num_classes - k, 1)
    dense = fill.expand(*probs.shape[:-1], num_classes).clone()
    dense.scatter_(-1, indices.long(), probs)
    return dense / dense.sum(-1, keepdim=True)


@MODELS.register_module()
class MultiTeacherKDLoss(nn.Module):
    """``sum_k w_k * KD_k`` over teachers, batch mean.

    Soft: ``KD_k = tau^2 * KL(p_k || softmax(s_k / tau))`` with ``p_k`` the
    teacher's distribution at temperature ``tau``: ``softmax(z_k / tau)``
    for logits, ``normalise(p^(1 / tau))`` for probabilities (exact when
    ``p`` is a full softmax at temperature 1; stored top-k labels and mixed
    targets are approximations of one). Hard (DeiT): ``KD_k`` is the cross
    entropy of ``s_k`` to the teacher's argmax class.

    Args:
        num_teachers: how many teachers (distillation tokens).
        tau: softmax temperature (soft mode only).
        weights: ``w_k`` per teacher; default 1 each (Co-advise).
        mode: ``'soft'`` or ``'hard'``.
        loss_weight: multiplies the sum.
    """

    def __init__(self,
                 num_teachers: int,
                 tau: float = 1.0,
                 weights: Optional[Sequence[float]] = None,
                 mode: str = 'soft',
                 loss_weight: float = 1.0):
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        if mode not in ('soft', 'hard'):
            raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}")
        weights = [1.0] * num_teachers if weights is None else list(weights)
        if len(weights) != num_teachers:
            raise ValueError(f'{len(weights)} weights for {num_teachers} '
                             'teachers')
        self.num_teachers = num_teachers
        self.tau = tau
        self.mode = mode
        self.loss_weight = loss_weight
        self.register_buffer('weights',
                             torch.tensor(weights, dtype=torch.float32), False)

    def forward(self,
                student: torch.Tensor,
                teacher: torch.Tensor,
                target: str = 'logits') -> torch.Tensor:
        """Args:
            student: [B, T, C] logits of the distillation heads.
            teacher: [B, T, C] teacher logits or probabilities.
            target: what ``teacher`` holds, ``'logits'`` or ``'probs'``.
        """
        if target not in TARGETS:
            raise ValueError(f'target must be one of {TARGETS}, got '
                             f'{target!r}')
        if student.shape != teacher.shape or student.shape[1] != \
                self.num_teachers:
            raise ValueError(f'student {tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)} must both be [B, '
                             f'{self.num_teachers}, C]')
        teacher = teacher.detach().float()
        student = student.float()
        if self.mode == 'hard':
            labels = teacher.argmax(-1)  # [B, T]
            per = F.cross_entropy(
                student.transpose(1, 2), labels, reduction='none')  # [B, T]
        else:
            log_s = F.log_softmax(student / self.tau, dim=-1)  # [B, T, C]
            if target == 'logits':
                p_t = F.softmax(teacher / self.tau, dim=-1)
            else:
                p_t = teacher.clamp(min=0)**(1 / self.tau)
                p_t = p_t / p_t.sum(-1, keepdim=True)
            kl = torch.xlogy(p_t, p_t) - p_t * log_s  # 0 log 0 = 0
            per = self.tau**2 * kl.sum(-1)  # [B, T]
        return self.loss_weight * (per.mean(0) * self.weights).sum()
