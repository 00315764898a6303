"""DMT, "Comprehensive Distillation with Multiple Self-supervised Teachers":
token fusion (TFD) and spatial feature fusion (SFD) distillation heads."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


def isometry(in_dims: int, out_dims: int) -> torch.Tensor:
    """A fixed adapter ``[out_dims, in_dims]``: the identity for equal
    widths, else a random (semi-)orthogonal map, distance-preserving when
    widening."""
    if in_dims == out_dims:
        return torch.eye(in_dims)
    weight = torch.empty(out_dims, in_dims)
    nn.init.orthogonal_(weight)
    return weight


def projector(in_dims: int, out_dims: int,
              hidden_dims: Optional[int]) -> nn.Module:
    """The student's projector: a linear layer, or a 2-layer GELU MLP."""
    if not hidden_dims:
        return nn.Linear(in_dims, out_dims)
    return nn.Sequential(
        nn.Linear(in_dims, hidden_dims), nn.GELU(),
        nn.Linear(hidden_dims, out_dims))


class FusionDistillHead(BaseModule):
    """DMT: the student regresses the fusion of K teachers' features.

    Each teacher's features ``[B, *, D_k]`` go through its fixed adapter
    (:func:`isometry` into ``embed_dims``) and a LayerNorm without affine
    parameters; ``fusion='mean'`` averages them with fixed weights (uniform
    by default), ``'learned'`` with ``softmax(logits)`` weights trained with
    the student (logged per teacher as ``{tag}_weight_{name}``); the
    student's features through one projector regress the fused target.
    ``'none'`` is the per-teacher baseline: one projector and loss per
    teacher, weighted. The adapters are fixed: learned ones would receive
    the loss's gradient through the target and could collapse it.

    Args:
        in_dims: the student's width.
        teacher_dims: name -> teacher width, in the teachers' order
            (DMT's: by name for a dict config, as written for a list, see
            :func:`~mmkd_plugin.teachers.multi.named_teachers`); the
            adapters, the ``'none'`` projectors and ``weights`` are by
            position in it.
        fusion: ``'mean'``, ``'learned'`` or ``'none'``.
        weights: one positive weight per teacher, in the teachers' order,
            normalised to sum to 1: the fixed fusion weights (``'mean'``),
            the initial ones (``'learned'``) or the loss weights
            (``'none'``).
        embed_dims: width of the fused space; default the widest teacher.
        hidden_dims: hidden width of an MLP projector; None: linear.
        loss: config of a loss ``(pred, target) -> scalar``, e.g.
            ``SmoothL1FeatureLoss`` or MMPretrain's ``CosineSimilarityLoss``
            (negative cosine).
        loss_weight: lambda of this term.
    """

    tag = 'fd'
    FUSIONS = ('mean', 'learned', 'none')

    def __init__(self,
                 in_dims: int,
                 teacher_dims: Dict[str, int],
                 fusion: str = 'mean',
                 weights: Optional[Sequence[float]] = None,
                 embed_dims: Optional[int] = None,
                 hidden_dims: Optional[int] = None,
                 loss: dict = dict(type='SmoothL1FeatureLoss'),
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if fusion not in self.FUSIONS:
            raise ValueError(f'fusion must be one of {self.FUSIONS}, got '
                             f'{fusion!r}')
        self.names, self.fusion = list(teacher_dims), fusion
        K = len(self.names)
        if weights is None:
            weights = [1.0] * K
        if len(weights) != K or min(weights) <= 0:
            raise ValueError(
                f'{self.tag}: weights {list(weights)} must be {K} positive '
                f'numbers, one per teacher {self.names}')
        weights = torch.tensor(weights, dtype=torch.float32)
        weights = weights / weights.sum()  # [K]
        if fusion == 'learned':
            self.logits = nn.Parameter(weights.log())  # softmax -> weights
        else:
            self.register_buffer('fixed_weights', weights, persistent=False)
        self.embed_dims = embed_dims or max(teacher_dims.values())
        for k, dims in enumerate(teacher_dims.values()):
            self.register_buffer(f'adapter{k}',
                                 isometry(dims, self.embed_dims))
        self.projectors = nn.ModuleList(
            projector(in_dims, self.embed_dims, hidden_dims)
            for _ in range(K if fusion == 'none' else 1))
        self.loss = MODELS.build(loss)
        self.loss_weight = loss_weight

    def weights(self) -> torch.Tensor:
        """Per-teacher weights ``[K]``, summing to one."""
        if self.fusion == 'learned':
            return self.logits.softmax(0)
        return self.fixed_weights

    def targets(self, teachers: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Per teacher: ``LayerNorm(adapter(t))``, ``[B, *, embed_dims]``."""
        out = []
        for k, feats in enumerate(teachers):
            feats = F.linear(feats.float(), getattr(self, f'adapter{k}'))
            out.append(F.layer_norm(feats, (self.embed_dims, )))
        return out

    def forward(self, student: torch.Tensor,
                teachers: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Student features ``[B, *, D_s]`` and one ``[B, *, D_k]`` per
        teacher -> ``loss_{tag}`` (and, learned, the weights to log)."""
        if len(teachers) != len(self.names):
            raise ValueError(f'{self.tag}: {len(teachers)} teacher features'
                             f' for teachers {self.names}')
        for name, feats in zip(self.names, teachers):
            if feats.shape[:-1] != student.shape[:-1]:
                raise ValueError(
                    f'{self.tag}: teacher {name} features '
                    f'{tuple(feats.shape)} do not match the student '
                    f'features {tuple(student.shape)}')
        targets, weights = self.targets(teachers), self.weights()
        if self.fusion == 'none':
            loss = sum(
                w * self.loss(proj(student), target)
                for w, proj, target in zip(weights, self.projectors, targets))
        else:
            fused = sum(w * t for w, t in zip(weights, targets))  # [B, *, D]
            loss = self.loss(self.projectors[0](student), fused)
        out = {f'loss_{self.tag}': self.loss_weight * loss}
        if self.fusion == 'learned':
            out.update({
                f'{self.tag}_weight_{name}': w.detach()
                for name, w in zip(self.names, weights)
            })
        return out


@MODELS.register_module()
class TokenFusionHead(FusionDistillHead):
    """DMT token fusion distillation (TFD): the student's CLS token
    ``[B, D_s]`` regresses the fused teachers' CLS tokens ``[B, D_k]``."""

    tag = 'tfd'


@MODELS.register_module()
class SpatialFusionHead(FusionDistillHead):
    """DMT spatial feature fusion distillation (SFD): the student's patch
    tokens ``[B, L, D_s]`` regress, token by token, the fused teachers'
    patch tokens ``[B, L, D_k]`` (on the student's grid)."""

    tag = 'sfd'
