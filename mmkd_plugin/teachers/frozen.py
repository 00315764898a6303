"""Frozen teachers: loaded strictly, never trained, own normalisation."""
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn

from mmkd_plugin.utils import (load_checkpoint_file, load_weights_strict,
                               sha256sum, state_dict_of)


@MODELS.register_module()
class FrozenTeacher(nn.Module):
    """A frozen MMPretrain classifier used as a distillation teacher.

    Frozen by construction: parameters never require gradients, the module
    stays in eval mode whatever ``train()`` is asked, and forwards run under
    ``torch.no_grad``. Distillers hold teachers outside their module tree,
    so a teacher is also outside the optimiser, DDP and saved checkpoints;
    :attr:`record` (source and sha256) goes into the checkpoint meta.

    Args:
        model: config of an MMPretrain classifier (e.g. ``ImageClassifier``).
        checkpoint: weights file; an MMEngine checkpoint, an exported
            student or a bare state dict. ``None`` only for tests and
            benchmarks that need no trained teacher.
        prefix: take only keys under this prefix (e.g. ``'student.'`` to
            use a distilled student as the next teacher).
        mean, std: the teacher's own input normalisation in 0-255 pixel
            units; ``None`` means the student's.
    """

    def __init__(self,
                 model: dict,
                 checkpoint: Optional[str],
                 prefix: Optional[str] = None,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None):
        super().__init__()
        model = dict(model)
        model.pop('data_preprocessor', None)
        model.pop('init_cfg', None)
        self.model = MODELS.build(model)
        self.record = dict(source=None, sha256=None)
        if checkpoint is not None:
            ckpt = load_checkpoint_file(checkpoint)
            load_weights_strict(self.model, state_dict_of(ckpt),
                                f'teacher checkpoint {checkpoint}', prefix)
            self.record = dict(source=checkpoint, sha256=sha256sum(checkpoint))
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
        return self.model(self.normalise(inputs), mode='tensor').float()

    @property
    def vit(self) -> nn.Module:
        backbone = self.model.backbone
        if not hasattr(backbone, 'layers') or not hasattr(
                backbone, 'patch_embed'):
            raise TypeError(f'{type(backbone).__name__} is not a ViT; '
                            'block outputs need a VisionTransformer backbone')
        return backbone

    def check_blocks(self, indices: Sequence[int]) -> None:
        """Raise if a block index is outside the teacher's depth."""
        depth = len(self.vit.layers)
        bad = [i for i in indices if not 0 <= i < depth]
        if bad:
            raise IndexError(f'teacher block index {bad} out of range: the '
                             f'teacher has blocks 0..{depth - 1}')

    @torch.no_grad()
    def block_outputs(self, inputs: torch.Tensor,
                      indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        """Raw residual stream after each block in ``indices``, CLS
        included, no final norm: ``[B, 1 + L, D]`` each. Blocks after the
        deepest requested one are not run."""
        if not indices:
            raise ValueError('block_outputs needs at least one block index')
        self.check_blocks(indices)
        vit = self.vit
        x, hw = vit.patch_embed(self.normalise(inputs))
        if vit.cls_token is not None:
            x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = x + resize_pos_embed(
            vit.pos_embed,
            vit.patch_resolution,
            hw,
            mode=vit.interpolate_mode,
            num_extra_tokens=vit.num_extra_tokens)
        x = vit.pre_norm(vit.drop_after_pos(x))
        outs = {}
        for i, layer in enumerate(vit.layers[:max(indices) + 1]):
            x = layer(x)
            outs[i] = x
        return tuple(outs[i].float() for i in indices)


def build_teacher(cfg: dict) -> FrozenTeacher:
    """Build a teacher from its config; errors name the config."""
    teacher = MODELS.build(cfg)
    if not isinstance(teacher, FrozenTeacher):
        raise TypeError(f'{cfg.get("type")} is not a FrozenTeacher')
    return teacher
