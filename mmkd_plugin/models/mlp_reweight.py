"""ReMem ("Mutual Information-Aware Fine-tuning of Pretrained ViTs for
Effective KD"): MLP reweighting, ``x <- x + alpha * MLP(LN(x))`` in the top
blocks of a ViT.

The scale is put where MMCV's ``FFN`` already scales its branch (its
``gamma2``, an identity unless the model uses layer scale), so each block's
own ``forward`` applies it: the full model, typed taps
(:func:`~mmkd_plugin.models.run_blocks`) and a frozen teacher all see the
reweighted blocks. ``alpha`` is a buffer, saved in and restored from
checkpoints.
"""
from typing import Optional, Sequence

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS
from torch import nn

from .vit_taps import check_blocks, check_vit


class MLPBranchScale(nn.Module):
    """Multiplies the MLP branch ``[B, N, D]`` by the buffer ``alpha``,
    after the block's own layer scale (if any)."""

    def __init__(self, alpha: float, layer_scale: nn.Module):
        super().__init__()
        if not isinstance(layer_scale, nn.Identity):
            # MMCV's / MMPretrain's LayerScale: a [D] weight, channels last;
            # kept under its own name (ffn.gamma2.weight)
            if getattr(layer_scale, 'data_format', '') != 'channels_last':
                raise TypeError('cannot reweight an MLP branch scaled by '
                                f'{type(layer_scale).__name__}')
            self.weight = layer_scale.weight
        # 0-dim: a bf16 branch stays bf16 under autocast
        self.register_buffer('alpha', torch.tensor(float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, 'weight'):
            x = x * self.weight
        return x * self.alpha


def check_alpha(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f'MLP reweighting alpha must be in (0, 1], '
                         f'got {alpha}')


def reweight_mlp(vit: nn.Module, blocks: Sequence[int], alpha: float) -> None:
    """Scale the MLP residual branch of ``blocks`` of an MMPretrain
    ``VisionTransformer`` by ``alpha``, in place.

    Raises:
        ValueError: ``alpha`` outside (0, 1].
        IndexError: a block outside the model, naming the valid range.
    """
    check_vit(vit)
    check_alpha(alpha)
    check_blocks(vit, blocks, 'ViT')
    for i in blocks:
        ffn = vit.layers[i].ffn
        if isinstance(ffn.gamma2, MLPBranchScale):
            raise ValueError(f'block {i} is already reweighted')
        ffn.gamma2 = MLPBranchScale(alpha, ffn.gamma2)


@MODELS.register_module()
class ReweightedVisionTransformer(VisionTransformer):
    """MMPretrain's ``VisionTransformer`` with ReMem's MLP reweighting.

    Give ``mlp_blocks`` (0-based indices) or ``top_k`` (the last k blocks;
    the default, k = 2). With ``mlp_alpha=1`` the model computes exactly
    what ``VisionTransformer`` does. Weights of a plain ViT load into it
    (the ``alpha`` buffers are then reported missing and keep their
    configured value); a reweighted checkpoint restores its ``alpha``.

    Args:
        mlp_alpha: the scale, in (0, 1].
        mlp_blocks: blocks to reweight; exclusive with ``top_k``.
        top_k: reweight the last ``top_k`` blocks.
        **kwargs: ``VisionTransformer`` arguments.
    """

    def __init__(self,
                 *args,
                 mlp_alpha: float = 0.5,
                 mlp_blocks: Optional[Sequence[int]] = None,
                 top_k: Optional[int] = None,
                 **kwargs):
        check_alpha(mlp_alpha)
        if mlp_blocks is not None and top_k is not None:
            raise ValueError('give mlp_blocks or top_k, not both')
        super().__init__(*args, **kwargs)
        depth = len(self.layers)
        if mlp_blocks is None:
            top_k = 2 if top_k is None else top_k
            if not 1 <= top_k <= depth:
                raise IndexError(f'top_k={top_k} out of range: the ViT has '
                                 f'{depth} blocks, top_k must be 1..{depth}')
            mlp_blocks = range(depth - top_k, depth)
        self.mlp_blocks = sorted(mlp_blocks)
        reweight_mlp(self, self.mlp_blocks, mlp_alpha)
