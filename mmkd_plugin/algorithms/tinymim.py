"""Ren et al., "TinyMIM: An Empirical Study of Distilling MIM Pre-trained
Models" (CVPR 2023)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from mmkd_plugin.models.vit_taps import (block_qkv, check_vit, embed_tokens,
                                         run_blocks)
from .base import BaseDistiller

Inputs = Union[torch.Tensor, Sequence[torch.Tensor]]


@MODELS.register_module()
class TinyMIM(BaseDistiller):
    """TinyMIM (CVPR 2023): a ViT learns the token relations of a frozen
    MIM (MAE) teacher on unmasked images.

    ``inputs`` are ``[clean, jittered]`` views of one crop (see
    :class:`TwoViewColorJitter`): the teacher gets the clean one, the student
    the jittered one; a single tensor serves as both.

    ``target='relation'``: :class:`RelationKDLoss` between the teacher's
    q/k/v at ``teacher_block`` (blocks before it, then only its pre-attention
    norm and qkv projection) and the student's last-block q/k/v split into
    ``last_heads`` heads; the student's last attention projection, MLP and
    final norm never run and are frozen. ``'feature'`` (all tokens) and
    ``'cls'`` (CLS only), the paper's baselines: ``feature_loss`` between the
    student's last raw block output through ``Linear(D_s, D_t)`` and the
    teacher's ``teacher_block`` output; the final norm is frozen.

    Args:
        student: MMPretrain ViT backbone config (or a classifier's: its
            backbone is taken).
        teacher: :class:`FrozenTeacher` config of a ViT (e.g. MAE's).
        teacher_block: 0-based; default the teacher's last block.
        last_heads: heads of the student's relations; default the teacher's.
        target: ``'relation'``, ``'feature'`` or ``'cls'``.
        relation_loss, feature_loss: loss configs of the targets.
    """

    LOSS_NAMES = dict(
        relation='loss_relation', feature='loss_feature', cls='loss_cls_token')

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 teacher_block: Optional[int] = None,
                 last_heads: Optional[int] = None,
                 target: str = 'relation',
                 relation_loss: dict = dict(type='RelationKDLoss'),
                 feature_loss: dict = dict(type='NormalizedFeatureLoss'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if target not in self.LOSS_NAMES:
            raise ValueError(f'target must be one of {tuple(self.LOSS_NAMES)}'
                             f', got {target!r}')
        pre = dict(data_preprocessor or {})
        pre.setdefault('type', 'mmpretrain.SelfSupDataPreprocessor')
        super().__init__(
            dict(student.get('backbone', student)), dict(teacher=teacher), pre,
            init_cfg)
        self.target = target
        t_vit = self.teacher.vit
        self.teacher_block = len(t_vit.layers) - 1 if teacher_block is None \
            else teacher_block
        self.teacher.truncate(self.teacher_block)  # errors name the range
        self.last_heads = last_heads or t_vit.layers[0].attn.num_heads
        self._check(self.student, t_vit)
        if target == 'relation':
            self.relation_loss = MODELS.build(relation_loss)
        else:
            self.proj = nn.Linear(self.student.embed_dims, t_vit.embed_dims)
            self.feature_loss = MODELS.build(feature_loss)
        self._freeze_unused()

    def _check(self, s_vit: nn.Module, t_vit: nn.Module) -> None:
        """Student and teacher tokens match; last_heads splits the width."""
        check_vit(s_vit)
        s_grid = (*s_vit.patch_resolution, s_vit.num_extra_tokens)
        t_grid = (*t_vit.patch_resolution, t_vit.num_extra_tokens)
        if s_grid != t_grid:
            raise ValueError(f'student patch grid {s_grid[:2]} + {s_grid[2]} '
                             f'extra tokens != teacher {t_grid[:2]} + '
                             f'{t_grid[2]}: relations need the same tokens')
        if self.target == 'relation' and (self.last_heads < 1 or
                                          s_vit.embed_dims % self.last_heads):
            raise ValueError(f'last_heads={self.last_heads} does not divide '
                             f'the student width {s_vit.embed_dims}')

    def _freeze_unused(self) -> None:
        """No gradient (and outside DDP's reducer) for what is never run."""
        vit = self.student
        last = vit.layers[-1]
        used = [vit.patch_embed, vit.pre_norm, *vit.layers[:-1]]
        used += [last.ln1, last.attn.qkv] if self.target == 'relation' \
            else [last]
        keep = {id(p) for m in used for p in m.parameters()}
        keep |= {id(vit.cls_token), id(vit.pos_embed)}
        for param in vit.parameters():
            if id(param) not in keep:
                param.requires_grad_(False)

    @staticmethod
    def split_views(inputs: Inputs) -> Tuple[torch.Tensor, torch.Tensor]:
        """-> (teacher's clean view, student's jittered view)."""
        if isinstance(inputs, torch.Tensor):
            return inputs, inputs
        if len(inputs) != 2:
            raise ValueError(f'TinyMIM takes [clean, jittered] views, got '
                             f'{len(inputs)} views')
        return inputs[0], inputs[1]

    def _student_tokens(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """Raw student tokens [B, N, D] after ``block`` (-1: embedding)."""
        tokens = embed_tokens(self.student, x)  # [B, N, D]
        if block < 0:
            return tokens
        return run_blocks(self.student, tokens, [block])[0]

    def student_qkv(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The student's last-block q, k, v ``[B, last_heads, N, d_h]``."""
        depth = len(self.student.layers)
        tokens = self._student_tokens(x, depth - 2)  # input of the last
        return block_qkv(self.student.layers[-1], tokens, self.last_heads)

    def _feature_loss(self, clean: torch.Tensor,
                      jittered: torch.Tensor) -> torch.Tensor:
        pred = self._student_tokens(jittered, len(self.student.layers) - 1)
        target = self.teacher.block_outputs(clean, [self.teacher_block])[0]
        if self.target == 'cls':
            pred, target = pred[:, :1], target[:, :1]  # [B, 1, D]
        return self.feature_loss(self.proj(pred), target)  # [B, N, D_t]

    def loss(
        self,
        inputs: Inputs,
        data_samples: Optional[List[DataSample]] = None
    ) -> Dict[str, torch.Tensor]:
        clean, jittered = self.split_views(inputs)
        if self.target == 'relation':
            target = self.teacher.qkv(clean, self.teacher_block)  # no grad
            loss = self.relation_loss(self.student_qkv(jittered), target)
        else:
            loss = self._feature_loss(clean, jittered)
        return {self.LOSS_NAMES[self.target]: loss}

    def forward(self,
                inputs: Inputs,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.student(self.split_views(inputs)[0])
        raise RuntimeError(f'TinyMIM pre-trains a backbone, it has no '
                           f'{mode!r} mode: fine-tune the exported student')
