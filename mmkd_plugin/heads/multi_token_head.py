"""Co-advise (Ren et al., CVPR 2022): one linear head per token, CE on the
CLS head, each distillation head taught by its own teacher."""
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

PREDICT_MODES = ('mean', 'cls')


@MODELS.register_module()
class MultiTokenClsHead(ClsHead):
    """Linear heads on the CLS and distillation tokens of
    :class:`~mmkd_plugin.models.MultiTokenViT` (``[B, 1 + T, D]``).

    ``loss``: ``loss_cls`` is ``loss`` (CE to ``gt_label``, or to
    ``gt_score`` under Mixup / CutMix) on the CLS head; ``loss_kd`` is
    ``kd_loss`` on the distillation heads (head ``k`` for the ``k``-th
    teacher by name, see
    :func:`~mmkd_plugin.teachers.teachers_by_name`) against the teacher
    targets the data samples carry: ``teacher_logits`` ``[T, C]``
    (online: teachers run on the batch) or ``teacher_scores`` ``[T, C]``
    probabilities (offline:
    :class:`~mmkd_plugin.datasets.PrecomputedViewDataset`). Inference
    averages the heads' logits, or uses the CLS head alone.

    Args:
        num_classes: number of classes.
        in_channels: token width.
        num_dist_tokens: distillation tokens (teachers), as the backbone.
        kd_loss: config of a loss taking ``(student [B, T, C], teacher
            [B, T, C], target)``; ``num_teachers`` is filled in.
        predict_mode: ``'mean'`` (of all heads) or ``'cls'``.
        loss, topk, cal_acc, init_cfg: as :class:`ClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_dist_tokens: int = 1,
                 kd_loss: dict = dict(type='MultiTeacherKDLoss'),
                 predict_mode: str = 'mean',
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02)):
        super().__init__(loss, topk, cal_acc, init_cfg)
        if predict_mode not in PREDICT_MODES:
            raise ValueError(f'predict_mode must be one of {PREDICT_MODES}, '
                             f'got {predict_mode!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_dist_tokens = num_dist_tokens
        self.predict_mode = predict_mode
        self.heads = nn.ModuleList(
            nn.Linear(in_channels, num_classes)
            for _ in range(1 + num_dist_tokens))
        kd_loss = dict(kd_loss)
        kd_loss.setdefault('num_teachers', num_dist_tokens)
        self.kd_loss = MODELS.build(kd_loss)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        tokens = feats[-1]  # [B, 1 + T, D]
        if tokens.dim() != 3 or tokens.shape[1] != len(self.heads):
            raise ValueError(
                f'expected tokens [B, {len(self.heads)}, D] (CLS + '
                f'{self.num_dist_tokens} distillation), got '
                f'{tuple(tokens.shape)}: use MultiTokenViT with '
                f"num_dist_tokens={self.num_dist_tokens}, out_type="
                "'cls_token'")
        return tokens

    def token_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Each head on its token: ``[B, 1 + T, C]``, CLS first."""
        tokens = self.pre_logits(feats)
        return torch.stack(
            [head(tokens[:, i]) for i, head in enumerate(self.heads)], 1)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Inference scores [B, C]: mean of the heads, or the CLS head."""
        logits = self.token_logits(feats)
        return logits[:, 0] if self.predict_mode == 'cls' else logits.mean(1)

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        logits = self.token_logits(feats)  # [B, 1 + T, C]
        losses = self._get_loss(logits[:, 0], data_samples, **kwargs)
        losses['loss_cls'] = losses.pop('loss')
        teacher, target = self.teacher_targets(data_samples)
        losses['loss_kd'] = self.kd_loss(logits[:, 1:],
                                         teacher.to(logits.device), target)
        return losses

    def teacher_targets(self, data_samples: List[DataSample]):
        """``([B, T, C], 'logits' | 'probs')`` from the data samples."""
        for field, target in (('teacher_logits', 'logits'), ('teacher_scores',
                                                             'probs')):
            if field in data_samples[0]:
                return torch.stack([s.get(field)
                                    for s in data_samples]), target
        raise KeyError(
            'the data samples carry no teacher targets (teacher_logits or '
            'teacher_scores): train with the LIBKD algorithm (online) or '
            'wrap the training set in PrecomputedViewDataset (offline)')
