"""LIB-KD, "Distilling Inductive Bias", after Co-advise (Ren et al., CVPR
2022): light teachers of different inductive biases, one token each."""
from typing import Dict, List, Optional, Sequence

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.heads import MultiTokenClsHead
from mmkd_plugin.teachers import teachers_by_name
from .base import BaseDistiller


@MODELS.register_module()
class LIBKD(BaseDistiller):
    """Online LIB-KD: every teacher runs on every batch.

    The student is an MMPretrain ``ImageClassifier`` with a
    :class:`~mmkd_plugin.models.MultiTokenViT` backbone and a
    :class:`~mmkd_plugin.heads.MultiTokenClsHead`; distillation token ``k``
    learns from the ``k``-th teacher by name
    (:func:`~mmkd_plugin.teachers.teachers_by_name`). The
    teachers' logits on the (mixed, if Mixup / CutMix) batch go into the
    data samples as ``teacher_logits`` and the student's head computes
    ``CE(cls) + sum_k w_k KD_k``; offline training (stored labels,
    :class:`~mmkd_plugin.datasets.PrecomputedViewDataset`) trains the same
    student with no distiller at all.

    Args:
        student: config of the multi-token classifier.
        teachers: name -> :class:`FrozenTeacher` config (e.g. ResNet /
            RegNet for convolution, RedNet for involution).
        fp32_teachers: teachers that run in fp32 even under AMP
            (involution is not fp16-safe); ``None``: all of them.
    """

    def __init__(self,
                 student: dict,
                 teachers: Dict[str, dict],
                 fp32_teachers: Optional[Sequence[str]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(student, teachers_by_name(teachers),
                         data_preprocessor, init_cfg)
        head = self.student.head
        if not isinstance(head, MultiTokenClsHead) or \
                head.num_dist_tokens != len(self.teachers):
            raise ValueError(
                f'the student needs a MultiTokenClsHead with one '
                f'distillation token per teacher ({len(self.teachers)})')
        names = list(self.teachers)
        fp32 = names if fp32_teachers is None else list(fp32_teachers)
        unknown = sorted(set(fp32) - set(names))
        if unknown:
            raise ValueError(f'fp32_teachers {unknown} are not teachers '
                             f'({names})')
        self.fp32 = set(fp32)

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Every teacher's logits, ``[B, T, C]`` fp32."""
        out = []
        for name, teacher in self.teachers.items():
            if name in self.fp32:
                with torch.autocast(inputs.device.type, enabled=False):
                    out.append(teacher.logits(inputs.float()))
            else:
                out.append(teacher.logits(inputs).float())
        return torch.stack(out, 1)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        for sample, logits in zip(data_samples, self.teacher_logits(inputs)):
            sample.set_field(logits, 'teacher_logits')  # [T, C]
        return self.student.loss(inputs, data_samples)
