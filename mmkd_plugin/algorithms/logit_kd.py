"""Hinton et al., "Distilling the Knowledge in a Neural Network" (2015)."""
from typing import Dict, List, Optional

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from .base import BaseDistiller


@MODELS.register_module()
class LogitKD(BaseDistiller):
    """Logit distillation: ``(1 - alpha) * CE + alpha * KD [+ feature KD]``.

    ``KD`` is ``kd_loss`` (default :class:`KDLoss`, ``tau^2`` times the KL
    between teacher and student softmax at temperature ``tau``); CE is the
    student head's own loss, so label smoothing or mixup targets work.

    Args:
        student: MMPretrain classifier config.
        teacher: :class:`FrozenTeacher` config.
        alpha: weight of the distillation term, in [0, 1].
        kd_loss: loss config taking ``(student_logits, teacher_logits)``.
        feature_loss: optional feature KD (e.g. ReMem's distillation):
            a loss config taking ``(student, teacher)`` features, applied to
            what each head reads (``head.pre_logits``, [B, D]); a linear
            projection maps the student's width to the teacher's.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 alpha: float = 0.5,
                 kd_loss: dict = dict(type='KDLoss', tau=4.0),
                 feature_loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        super().__init__(student, dict(teacher=teacher), data_preprocessor,
                         init_cfg)
        self.alpha = alpha
        self.kd_loss = MODELS.build(kd_loss)
        self.feature_loss = None
        if feature_loss is not None:
            self.feature_loss = MODELS.build(feature_loss)
            dims = [
                _head_width(m.head) for m in (self.student, self.teacher.model)
            ]
            self.feature_proj = nn.Linear(*dims)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        head = self.student.head
        feats = self.student.extract_feat(inputs)
        logits = head(feats)  # [B, K]
        ce = head._get_loss(logits, data_samples)['loss']
        if self.feature_loss is None:
            target = self.teacher.logits(inputs)  # [B, K], no grad
            return dict(
                loss_ce=(1 - self.alpha) * ce,
                loss_kd=self.alpha * self.kd_loss(logits, target))
        target, t_feat = self._teacher_head(inputs)  # [B, K], [B, Dt]
        s_feat = self.feature_proj(head.pre_logits(feats))  # [B, Dt]
        return dict(
            loss_ce=(1 - self.alpha) * ce,
            loss_kd=self.alpha * self.kd_loss(logits, target),
            loss_feat=self.feature_loss(s_feat, t_feat))

    @torch.no_grad()
    def _teacher_head(self, inputs: torch.Tensor):
        """Teacher logits [B, K] and head input [B, Dt], one forward."""
        model = self.teacher.model
        feats = model.extract_feat(self.teacher.normalise(inputs))
        return model.head(feats).float(), model.head.pre_logits(feats).float()


def _head_width(head: nn.Module) -> int:
    """Width of a classification head's input after ``pre_logits``."""
    return getattr(head, 'hidden_dim', None) or head.in_channels
