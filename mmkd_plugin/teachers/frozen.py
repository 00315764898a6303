"""Frozen teachers: loaded strictly, never trained, own normalisation."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import nn

from mmkd_plugin.models.vit_taps import (block_qkv, check_blocks, check_vit,
                                         embed_tokens, run_blocks)
from mmkd_plugin.utils import (CheckpointError, convert_checkpoint,
                               detect_layout, load_checkpoint_file,
                               load_weights_strict, sha256sum, state_dict_of)


@MODELS.register_module()
class FrozenTeacher(nn.Module):
    """A frozen MMPretrain model used as a distillation teacher.

    Frozen by construction: parameters never require gradients, the module
    stays in eval mode whatever ``train()`` is asked, and forwards run under
    ``torch.no_grad``. Distillers hold teachers outside their module tree,
    so a teacher is also outside the optimiser, DDP and saved checkpoints;
    :attr:`record` (source and sha256) goes into the checkpoint meta.

    Args:
        model: config of an MMPretrain classifier (e.g. ``ImageClassifier``)
            or of a bare backbone (e.g. an MAE-pretrained ``MAEViT``).
        checkpoint: weights file; an MMEngine checkpoint, an exported
            student or a bare state dict. ``None`` only for tests and
            benchmarks that need no trained teacher.
        prefix: take only keys under this prefix (e.g. ``'student.'`` to
            use a distilled student as the next teacher).
        mean, std: the teacher's own input normalisation in 0-255 pixel
            units; ``None`` means the student's.
        layout: ``'mmpretrain'`` loads the checkpoint's keys as they are;
            ``'auto'`` or a layout of
            :func:`~mmkd_plugin.utils.convert_checkpoint` (``'timm'`` for
            MAE / DeiT / timm ViT files, ``'timm-regnet'`` for timm's
            RegNet, e.g. DeiT's RegNetY-16GF teacher, ``'dino-full'``...)
            converts it to the model's names first; then every key must
            land. A conversion adds ``layout`` and ``dropped`` (the source
            keys deliberately left out) to :attr:`record`.
    """

    def __init__(self,
                 model: dict,
                 checkpoint: Optional[str],
                 prefix: Optional[str] = None,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 layout: str = 'mmpretrain'):
        super().__init__()
        model = dict(model)
        model.pop('data_preprocessor', None)
        model.pop('init_cfg', None)
        self.model = MODELS.build(model)
        self.record = dict(source=None, sha256=None)
        if checkpoint is not None:
            ckpt = load_checkpoint_file(checkpoint)
            weights, converted = state_dict_of(ckpt), {}
            if layout != 'mmpretrain':
                if prefix:
                    raise ValueError("a teacher's prefix needs "
                                     "layout='mmpretrain'")
                weights, converted = _convert(ckpt, layout, self.model,
                                              checkpoint)
            load_weights_strict(self.model, weights,
                                f'teacher checkpoint {checkpoint}', prefix)
            self.record = dict(
                source=checkpoint, sha256=sha256sum(checkpoint), **converted)
        self.model.requires_grad_(False)
        self.own_norm = mean is not None
        if (mean is None) != (std is None):
            raise ValueError('teacher mean and std must be given together')
        shape = (1, -1, 1, 1)
        self.register_buffer(
            'mean', torch.tensor(mean or [0.]).view(shape), persistent=False)
        self.register_buffer(
            'std', torch.tensor(std or [1.]).view(shape), persistent=False)
        # the student's normalisation, set by the distiller
        self.register_buffer('src_mean', torch.zeros(1), persistent=False)
        self.register_buffer('src_std', torch.ones(1), persistent=False)
        self.truncated = False
        super().train(False)

    def train(self, mode: bool = True) -> 'FrozenTeacher':
        """Stay in eval mode: a teacher is never trained."""
        return super().train(False)

    def set_input_space(self, mean: Optional[torch.Tensor],
                        std: Optional[torch.Tensor]) -> None:
        """Declare the normalisation of the inputs the teacher is given."""
        if mean is not None:
            self.src_mean = mean.detach().view(1, -1, 1, 1).clone()
            self.src_std = std.detach().view(1, -1, 1, 1).clone()

    def normalise(self, inputs: torch.Tensor) -> torch.Tensor:
        """Student-normalised inputs [B, C, H, W] -> teacher-normalised."""
        if not self.own_norm:
            return inputs
        pixels = inputs * self.src_std + self.src_mean
        return (pixels - self.mean) / self.std

    @torch.no_grad()
    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class scores before softmax, [B, num_classes]."""
        if self.truncated or not hasattr(self.model, 'head'):
            raise RuntimeError('this teacher has no classification head '
                               '(a backbone, or truncated)')
        return self.model(self.normalise(inputs), mode='tensor').float()

    @property
    def vit(self) -> nn.Module:
        """The ViT backbone (of a classifier, or the model itself)."""
        vit = getattr(self.model, 'backbone', self.model)
        check_vit(vit)
        return vit

    def check_blocks(self, indices: Sequence[int]) -> None:
        """Raise if a block index is outside the teacher's depth."""
        check_blocks(self.vit, indices, 'teacher')

    def truncate(self, deepest: int) -> None:
        """Drop the blocks after ``deepest`` (and the final norm and head),
        which no tap of the method needs: they are never run or kept."""
        self.check_blocks([deepest])
        vit = self.vit
        del vit.layers[deepest + 1:]
        vit.final_norm = False
        self.truncated = True

    @torch.no_grad()
    def block_outputs(
            self,
            inputs: torch.Tensor,
            indices: Sequence[int],
            keep: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
        """Raw residual stream after each block in ``indices``, CLS
        included, no final norm: ``[B, 1 + L, D]`` each, fp32.

        Args:
            keep: [B, K] indices of the patches to run on (the visible set of
                an MAE mask); the rest are never computed.
        """
        self.check_blocks(indices)
        tokens = embed_tokens(self.vit, self.normalise(inputs), keep)
        return tuple(t.float() for t in run_blocks(self.vit, tokens, indices))

    @torch.no_grad()
    def qkv(self,
            inputs: torch.Tensor,
            block: int,
            keep: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
        """q, k, v ``[B, heads, 1 + L, d_h]`` of ``block``, fp32: blocks
        before it, then only its pre-attention norm and qkv projection."""
        self.check_blocks([block])
        vit = self.vit
        tokens = embed_tokens(vit, self.normalise(inputs), keep)
        if block > 0:
            tokens = run_blocks(vit, tokens, [block - 1])[0]
        return tuple(t.float() for t in block_qkv(vit.layers[block], tokens))


def _convert(ckpt: dict, layout: str, model: nn.Module,
             source: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """A checkpoint converted to ``model``'s names, and what to record."""
    backbone = getattr(model, 'backbone', model)
    try:
        layout = detect_layout(ckpt) if layout == 'auto' else layout
        weights, dropped = convert_checkpoint(
            ckpt,
            layout,
            target='classifier' if backbone is not model else 'backbone',
            distilled=getattr(backbone, 'dist_token', None) is not None)
    except CheckpointError as err:
        raise CheckpointError(f'teacher checkpoint {source}: {err}') from err
    return weights, dict(layout=layout, dropped=dropped)


def build_teacher(cfg: dict) -> FrozenTeacher:
    """Build a teacher from its config; errors name the config."""
    teacher = MODELS.build(cfg)
    if not isinstance(teacher, FrozenTeacher):
        raise TypeError(f'{cfg.get("type")} is not a FrozenTeacher')
    return teacher
