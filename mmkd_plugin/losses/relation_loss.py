"""Ren et al., "TinyMIM: An Empirical Study of Distilling MIM Pre-trained
Models" (CVPR 2023): the q-k and v-v relation distillation loss."""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


def log_relation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``log softmax(a b^T / sqrt(d_h))`` over keys, in fp32.

    Args:
        a, b: ``[B, H, N, d_h]`` (queries and keys, or values twice).

    Returns:
        ``[B, H, N, N]``: log-probabilities, rows are queries.
    """
    a, b = a.float(), b.float()
    scores = a @ b.transpose(-2, -1) * a.shape[-1]**-0.5  # [B, H, N, N]
    return F.log_softmax(scores, dim=-1)


@MODELS.register_module()
class RelationKDLoss(nn.Module):
    """TinyMIM (CVPR 2023) relation loss: KL(R_teacher || R_student).

    Per head, over all tokens (CLS included),
    ``R_qk = softmax(Q K^T / sqrt(d_h))`` and
    ``R_vv = softmax(V V^T / sqrt(d_h))``, softmax over keys, ``d_h`` each
    side's own head dimension. Each KL is summed over keys and averaged
    over batch x heads x queries; the loss is
    ``qk_weight * KL_qk + vv_weight * KL_vv``. Both sides use
    ``log_softmax`` (not the log of a softmax) in fp32; the teacher side is
    detached.

    Args:
        qk_weight: weight of the query-key relation term.
        vv_weight: weight of the value-value relation term.
    """

    def __init__(self, qk_weight: float = 1.0, vv_weight: float = 1.0):
        super().__init__()
        if qk_weight < 0 or vv_weight < 0 or qk_weight + vv_weight == 0:
            raise ValueError('qk_weight and vv_weight must be >= 0, not '
                             f'both 0; got {qk_weight}, {vv_weight}')
        self.qk_weight = qk_weight
        self.vv_weight = vv_weight

    @staticmethod
    def kl(log_s: torch.Tensor, log_t: torch.Tensor) -> torch.Tensor:
        """``sum_keys p_t (log p_t - log p_s)``, mean over the rest."""
        return (log_t.exp() * (log_t - log_s)).sum(-1).mean()

    def forward(self, student: Sequence[torch.Tensor],
                teacher: Sequence[torch.Tensor]) -> torch.Tensor:
        """Student and teacher ``(q, k, v)``, each ``[B, H, N, d_h]``.

        ``B, H, N`` must agree; ``d_h`` may differ between the sides.
        """
        if len(student) != 3 or len(teacher) != 3:
            raise ValueError('student and teacher must each be (q, k, v)')
        s_shape, t_shape = student[0].shape, teacher[0].shape
        if len(s_shape) != 4 or s_shape[:3] != t_shape[:3]:
            raise ValueError(
                f'student q {tuple(s_shape)} and teacher q {tuple(t_shape)} '
                'must both be [B, heads, tokens, d_h] with the same B, heads '
                '(set last_heads to the teacher head count) and tokens')
        sq, sk, sv = student
        tq, tk, tv = (t.detach() for t in teacher)
        loss = 0.
        if self.qk_weight:
            loss = loss + self.qk_weight * self.kl(
                log_relation(sq, sk), log_relation(tq, tk))
        if self.vv_weight:
            loss = loss + self.vv_weight * self.kl(
                log_relation(sv, sv), log_relation(tv, tv))
        return loss
