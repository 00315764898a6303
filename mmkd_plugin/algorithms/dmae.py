"""Bai et al., "Masked Autoencoders Enable Efficient Knowledge Distillers"
(CVPR 2023)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from mmkd_plugin.models.vit_taps import (check_blocks, check_vit, embed_tokens,
                                         run_blocks)
from .base import BaseDistiller


@MODELS.register_module()
class DMAE(BaseDistiller):
    """DMAE: MAE pre-training plus feature distillation on the same mask.

    Per step one random MAE mask is drawn; the student (an MMPretrain
    ``MAE``: ``MAEViT`` + ``MAEPretrainDecoder`` + ``MAEPretrainHead``) and
    the frozen teacher see the same visible patches. The teacher is
    truncated at its deepest aligned block and runs on the visible tokens
    only. Loss = MAE pixel reconstruction + ``distill_weight`` x the mean,
    over aligned pairs, of ``distill_loss(proj(student block), teacher
    block)``, on raw block outputs (CLS included).

    Args:
        student: MMPretrain ``MAE`` config.
        teacher: :class:`FrozenTeacher` config, e.g. an MAE-pretrained
            ``MAEViT`` loaded with ``prefix='backbone.'``.
        align: ``(student_block, teacher_block)`` pairs, 0-based.
        mask_ratio: ratio of patches removed; ``None`` takes the student
            backbone's.
        distill_loss: loss config taking ``(student, teacher)`` features.
        distill_weight: weight of the distillation term.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 align: Sequence[Tuple[int, int]] = ((8, 17), ),
                 mask_ratio: Optional[float] = None,
                 distill_loss: dict = dict(type='NormalizedFeatureLoss'),
                 distill_weight: float = 1.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(student, dict(teacher=teacher), data_preprocessor,
                         init_cfg)
        vit, t_vit = self.student.backbone, self.teacher.vit
        check_vit(vit)
        pairs = [tuple(pair) for pair in align]
        if not pairs or any(len(pair) != 2 for pair in pairs):
            raise ValueError('align must be a non-empty list of '
                             f'(student_block, teacher_block), got {align}')
        self.student_blocks = [s for s, _ in pairs]
        self.teacher_blocks = [t for _, t in pairs]
        check_blocks(vit, self.student_blocks, 'student')
        self.teacher.check_blocks(self.teacher_blocks)
        _check_same_patches(vit, t_vit)
        self.teacher.truncate(max(self.teacher_blocks))
        self.mask_ratio = (
            vit.mask_ratio if mask_ratio is None else float(mask_ratio))
        self.num_patches = vit.patch_resolution[0] * vit.patch_resolution[1]
        if int(self.num_patches * (1 - self.mask_ratio)) < 1:
            raise ValueError(f'mask_ratio {self.mask_ratio} leaves no '
                             f'visible patch out of {self.num_patches}')
        self.projs = nn.ModuleList(
            nn.Linear(vit.embed_dims, t_vit.embed_dims) for _ in pairs)
        self.distill_loss = MODELS.build(distill_loss)
        self.distill_weight = distill_weight

    def random_mask(
        self, batch: int, device: torch.device
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """MAE's per-sample random mask (argsort of uniform noise).

        Returns:
            ``ids_keep`` [B, K] visible patches, ``mask`` [B, L] (0 keep,
            1 remove) and ``ids_restore`` [B, L].
        """
        L = self.num_patches
        keep = int(L * (1 - self.mask_ratio))
        noise = torch.rand(batch, L, device=device)  # [B, L]
        ids_shuffle = torch.argsort(noise, dim=1)  # small is keep
        ids_restore = torch.argsort(ids_shuffle, dim=1)  # [B, L]
        mask = torch.ones(batch, L, device=device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)  # 0 keep, 1 remove
        return ids_shuffle[:, :keep], mask, ids_restore

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        vit = self.student.backbone
        ids_keep, mask, ids_restore = self.random_mask(inputs.shape[0],
                                                       inputs.device)
        tokens = embed_tokens(vit, inputs, ids_keep)  # [B, 1 + K, D]
        last = len(vit.layers) - 1
        *taps, latent = run_blocks(vit, tokens, self.student_blocks + [last])
        latent = vit.ln1(latent)  # [B, 1 + K, D]
        pred = self.student.neck(latent, ids_restore)  # [B, L, p * p * C]
        loss_rec = self.student.head.loss(pred, inputs, mask)
        # [B, 1 + K, D_t] each, no grad, fp32
        targets = self.teacher.block_outputs(
            inputs, self.teacher_blocks, keep=ids_keep)
        distill = sum(
            self.distill_loss(proj(tap), target)
            for proj, tap, target in zip(self.projs, taps, targets))
        return dict(
            loss_rec=loss_rec,
            loss_distill=self.distill_weight * distill / len(targets))


def _check_same_patches(student: nn.Module, teacher: nn.Module) -> None:
    """Raise unless both ViTs cut images into the same patches."""
    for what, get in (
        ('patch size', lambda v: tuple(v.patch_embed.projection.kernel_size)),
        ('patch grid', lambda v: tuple(v.patch_resolution)),
    ):
        if get(student) != get(teacher):
            raise ValueError(f'DMAE needs teacher and student to see the '
                             f'same patches: student {what} {get(student)}, '
                             f'teacher {what} {get(teacher)}')
