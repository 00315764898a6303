"""Typed taps into MMPretrain's ``VisionTransformer``: token embedding on a
subset of patches, raw block outputs, and a block's q / k / v.

Pure functions shared by students and teachers, so that both compute the
same thing the same way.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from torch import nn


def check_vit(vit: nn.Module) -> None:
    """Raise unless ``vit`` looks like MMPretrain's VisionTransformer."""
    for attr in ('patch_embed', 'layers', 'pos_embed', 'cls_token'):
        if not hasattr(vit, attr):
            raise TypeError(f'{type(vit).__name__} has no {attr!r}: taps '
                            'need an MMPretrain VisionTransformer')


def check_blocks(vit: nn.Module,
                 indices: Sequence[int],
                 who: str = 'model') -> None:
    """Raise an error naming the valid range for out-of-range blocks."""
    depth = len(vit.layers)
    bad = [i for i in indices if not 0 <= i < depth]
    if not indices or bad:
        raise IndexError(f'{who} block index {bad or "[]"} out of range: '
                         f'the {who} has blocks 0..{depth - 1}')


def embed_tokens(vit: nn.Module,
                 x: torch.Tensor,
                 keep: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Images [B, C, H, W] -> tokens [B, 1 + L, D] (CLS first, if any).

    Args:
        keep: [B, K] indices of the patches to keep (MAE's visible set);
            positions are added before the gather, so a kept token equals
            the same token of the unmasked sequence.
    """
    patches, hw = vit.patch_embed(x)  # [B, L, D]
    pos = resize_pos_embed(
        vit.pos_embed,
        vit.patch_resolution,
        hw,
        mode=vit.interpolate_mode,
        num_extra_tokens=vit.num_extra_tokens)  # [1, extra + L, D]
    extra = vit.num_extra_tokens
    patches = patches + pos[:, extra:]
    if keep is not None:
        index = keep.unsqueeze(-1).expand(-1, -1, patches.shape[-1])
        patches = torch.gather(patches, 1, index)  # [B, K, D]
    tokens = patches
    if vit.cls_token is not None:
        cls = (vit.cls_token + pos[:, :extra]).expand(x.shape[0], -1, -1)
        tokens = torch.cat([cls, patches], dim=1)
    return vit.pre_norm(vit.drop_after_pos(tokens))


def run_blocks(vit: nn.Module, tokens: torch.Tensor,
               indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
    """Raw residual stream after each block in ``indices`` (no final norm);
    blocks after the deepest one requested are not run."""
    outs = {}
    wanted = set(indices)
    for i, layer in enumerate(vit.layers[:max(indices) + 1]):
        tokens = layer(tokens)
        if i in wanted:
            outs[i] = tokens
    return tuple(outs[i] for i in indices)


def block_qkv(layer: nn.Module,
              x: torch.Tensor,
              num_heads: Optional[int] = None) -> Tuple[torch.Tensor, ...]:
    """q, k, v [B, heads, N, d_h] of a block, given the block's input.

    Runs only the pre-attention LayerNorm and the qkv projection. ``heads``
    defaults to the block's own; another count regroups the same weights.
    """
    attn = layer.attn
    heads = num_heads or attn.num_heads
    B, N, _ = x.shape
    qkv = attn.qkv(layer.ln1(x))  # [B, N, 3 * D]
    qkv = qkv.reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]
