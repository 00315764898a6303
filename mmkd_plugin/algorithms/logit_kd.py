"""Hinton et al., "Distilling the Knowledge in a Neural Network" (2015)."""
from typing import Dict, List, Optional

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .base import BaseDistiller


@MODELS.register_module()
class LogitKD(BaseDistiller):
    """Logit distillation: ``(1 - alpha) * CE + alpha * KD``.

    ``KD`` is ``kd_loss`` (default :class:`KDLoss`, ``tau^2`` times the KL
    between teacher and student softmax at temperature ``tau``); CE is the
    student head's own loss, so label smoothing or mixup targets work.

    Args:
        student: MMPretrain classifier config.
        teacher: :class:`FrozenTeacher` config.
        alpha: weight of the distillation term, in [0, 1].
        kd_loss: loss config taking ``(student_logits, teacher_logits)``.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 alpha: float = 0.5,
                 kd_loss: dict = dict(type='KDLoss', tau=4.0),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        super().__init__(student, dict(teacher=teacher), data_preprocessor,
                         init_cfg)
        self.alpha = alpha
        self.kd_loss = MODELS.build(kd_loss)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        head = self.student.head
        logits = head(self.student.extract_feat(inputs))  # [B, K]
        ce = head._get_loss(logits, data_samples)['loss']
        target = self.teacher.logits(inputs)  # [B, K], no grad
        return dict(
            loss_ce=(1 - self.alpha) * ce,
            loss_kd=self.alpha * self.kd_loss(logits, target))
