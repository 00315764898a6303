"""Mixup / CutMix for distillation targets: stored teacher labels of two
images mix with the same lambda and permutation as the images (FKD, Shen &
Xing, ECCV 2022)."""
from typing import List, Optional, Sequence

import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


class _RideAlong:
    """Calls a batch augment on ``[gt_score | riders]`` side by side.

    MMPretrain's Mixup / CutMix mix every column of a score row with one
    lambda and one permutation, so columns appended to ``gt_score`` are
    mixed exactly as the labels (and the images) are.
    """

    def __init__(self, augment):
        self.augment = augment
        self.riders: Optional[List[torch.Tensor]] = None

    def __call__(self, inputs: torch.Tensor, score: torch.Tensor):
        if not self.riders:
            return self.augment(inputs, score)
        score = score.float()  # one-hot labels may be integers
        flat = [r.flatten(1).to(score) for r in self.riders]  # [B, F_i]
        widths = [score.shape[1]] + [f.shape[1] for f in flat]
        inputs, mixed = self.augment(inputs, torch.cat([score] + flat, 1))
        parts = mixed.split(widths, dim=1)
        self.riders = [
            p.reshape(r.shape) for p, r in zip(parts[1:], self.riders)
        ]
        return inputs, parts[0]


@MODELS.register_module()
class SoftTargetClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` whose batch augments also mix soft targets.

    The data samples' ``soft_keys`` fields (e.g. ``teacher_scores``
    ``[T, C]`` from :class:`~mmkd_plugin.datasets.PrecomputedViewDataset`)
    are mixed by the configured ``batch_augments`` (MMPretrain's ``Mixup``,
    ``CutMix``...) in the same call as ``gt_score``: the same lambda
    (CutMix's area-corrected one) and the same permutation as the images.
    When no augment is drawn, or outside training, they pass unchanged.

    Args:
        soft_keys: data-sample fields to mix; absent ones are skipped.
        **kwargs: as :class:`ClsDataPreprocessor`.
    """

    def __init__(self,
                 soft_keys: Sequence[str] = ('teacher_scores', ),
                 **kwargs):
        super().__init__(**kwargs)
        self.soft_keys = tuple(soft_keys)
        if self.batch_augments is not None:
            self.batch_augments = _RideAlong(self.batch_augments)

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples')
        keys = []
        if training and self.batch_augments is not None and samples and \
                isinstance(samples[0], DataSample):
            keys = [k for k in self.soft_keys if k in samples[0]]
        if not keys:
            return super().forward(data, training)
        self.batch_augments.riders = [
            torch.stack([s.get(k) for s in samples]).to(self.device)
            for k in keys
        ]  # [B, ...] each
        try:
            out = super().forward(data, training)
            mixed = self.batch_augments.riders
        finally:
            self.batch_augments.riders = None
        for key, values in zip(keys, mixed):
            for sample, value in zip(out['data_samples'], values):
                sample.set_field(value, key)
        return out
