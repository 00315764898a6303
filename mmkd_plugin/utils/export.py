"""A distilled ViT student in the layouts downstream OpenMMLab code loads.

``mmpretrain`` / ``mmdet``: MMPretrain's ``VisionTransformer`` names under
``backbone.`` (what ``init_cfg=dict(type='Pretrained', prefix='backbone.')``
reads; MMDetection configs use ``mmpretrain.VisionTransformer``).
``mmseg``: MMSegmentation's own ``VisionTransformer`` names, no prefix (what
its ``model.pretrained`` reads, non-strictly).

Both get the position embedding at the 224-pixel grid, CLS row kept. The
conversion is exact: MMSegmentation's patch embedding has no bias
(``patch_bias=False`` in its configs), so the bias is folded into the patch
rows of the position embedding (both are added to every patch token; bicubic
resizing keeps a constant). Extra tokens (e.g. distillation tokens) are
dropped with their position rows; what cannot be expressed (no CLS token,
layer scale) is refused.
"""
import math
from typing import Dict, List, Tuple

import torch
from torch import Tensor

from .checkpoint import CheckpointError

FORMATS = ('mmpretrain', 'mmseg', 'mmdet')
_MMSEG_NAMES = (  # MMPretrain -> MMSegmentation, inside each block
    ('.attn.qkv.weight', '.attn.attn.in_proj_weight'),
    ('.attn.qkv.bias', '.attn.attn.in_proj_bias'),
    ('.attn.proj.', '.attn.attn.out_proj.'),
)
_BLOCK_PARTS = ('ln1.', 'ln2.', 'attn.qkv.', 'attn.proj.', 'ffn.layers.0.0.',
                'ffn.layers.1.')


def backbone_of(weights: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """The ViT weights of a classifier (``backbone.``) or bare backbone."""
    if any(k.startswith('backbone.') for k in weights):
        return {
            k[len('backbone.'):]: v
            for k, v in weights.items() if k.startswith('backbone.')
        }
    return dict(weights)


def _check_expressible(vit: Dict[str, Tensor]) -> List[str]:
    """Raise what a plain ViT cannot hold; return the extra token names."""
    if 'cls_token' not in vit or 'pos_embed' not in vit:
        raise CheckpointError(
            'the student has no cls_token / pos_embed: the target ViT '
            'layouts need a CLS token and a learned position embedding')
    scaled = sorted(k for k in vit if 'gamma' in k or 'layer_scale' in k)
    if scaled:
        raise CheckpointError(
            f'the student uses layer scale ({scaled[0]}, ...), which the '
            "target ViT has no parameter for; export it as 'mmpretrain' "
            'with a backbone config that sets layer_scale_init_value')
    extra = sorted(
        k for k in vit
        if k.endswith('_token') and '.' not in k and k != 'cls_token')
    blocks = {k for k in vit if k.startswith('layers.')}
    unknown = sorted(
        k for k in set(vit) - blocks - set(extra)
        if k.split('.')[0] not in ('cls_token', 'pos_embed', 'patch_embed',
                                   'ln1', 'pre_norm'))
    odd = sorted(
        k for k in blocks if not k.split('.', 2)[2].startswith(_BLOCK_PARTS))
    if unknown or odd:
        raise CheckpointError(f'not a plain MMPretrain VisionTransformer: '
                              f'unexpected weights {(unknown + odd)[:5]}')
    return extra


def _pos_embed_224(vit: Dict[str, Tensor], extra: List[str],
                   fold_bias: bool) -> Tensor:
    """[1, 1 + N, D] -> [1, 1 + (224 / p)^2, D]: extra rows dropped, the
    patch-embedding bias folded in if asked, then bicubic resizing."""
    from mmpretrain.models.utils import resize_pos_embed
    pos = vit['pos_embed']
    n_extra = sum(vit[name].shape[1] for name in extra)
    pos = torch.cat([pos[:, :1], pos[:, 1 + n_extra:]], dim=1)
    if fold_bias and 'patch_embed.projection.bias' in vit:
        pos = pos.clone()
        pos[:, 1:] += vit['patch_embed.projection.bias']
    side = math.isqrt(pos.shape[1] - 1)
    if side * side != pos.shape[1] - 1:
        raise CheckpointError(f'pos_embed holds {pos.shape[1] - 1} patch '
                              'positions: not a square grid')
    patch = vit['patch_embed.projection.weight'].shape[-1]
    if 224 % patch:
        raise CheckpointError(f'patch size {patch} does not divide 224')
    return resize_pos_embed(
        pos, (side, side), (224 // patch, 224 // patch), num_extra_tokens=1)


def export_vit(weights: Dict[str, Tensor],
               fmt: str) -> Tuple[Dict[str, Tensor], List[str]]:
    """A student's weights (classifier or bare ViT) -> ``fmt``'s layout.

    Returns:
        The state dict, and the names left out (heads, extra tokens, and
        for ``mmseg`` the final norm, which its ViT configs do not have).
    """
    if fmt not in FORMATS:
        raise CheckpointError(f'unknown format {fmt!r}; valid: {FORMATS}')
    vit = backbone_of(weights)
    extra = _check_expressible(vit)
    dropped = sorted(set(weights) - {'backbone.' + k
                                     for k in vit} - set(vit)) + extra
    out = {k: v for k, v in vit.items() if k not in extra}
    out['pos_embed'] = _pos_embed_224(vit, extra, fold_bias=fmt == 'mmseg')
    if fmt != 'mmseg':
        return {'backbone.' + k: v for k, v in out.items()}, dropped
    out.pop('patch_embed.projection.bias', None)  # folded into pos_embed
    for name in ('ln1.weight', 'ln1.bias'):
        if out.pop(name, None) is not None:
            dropped.append(name)
    if 'pre_norm.weight' in out:  # CLIP-style: mmseg's pre_norm=True
        out['pre_ln.weight'] = out.pop('pre_norm.weight')
        out['pre_ln.bias'] = out.pop('pre_norm.bias')
    renamed = {}
    for key, value in out.items():
        for old, new in _MMSEG_NAMES:
            key = key.replace(old, new)
        renamed[key] = value
    return renamed, dropped


def target_backbone(state: Dict[str, Tensor], fmt: str) -> dict:
    """The config of the backbone ``fmt``'s loaders would put the export
    into (sized from the weights), with ``init_cfg`` left to the caller."""
    prefix = '' if fmt == 'mmseg' else 'backbone.'
    dims = state[prefix + 'cls_token'].shape[-1]
    layers = 1 + max(
        int(k[len(prefix):].split('.')[1])
        for k in state if k.startswith(prefix + 'layers.'))
    hidden = state[prefix + 'layers.0.ffn.layers.0.0.weight'].shape[0]
    patch = state[prefix + 'patch_embed.projection.weight'].shape[-1]
    channels = state[prefix + 'patch_embed.projection.weight'].shape[1]
    common = dict(img_size=224, patch_size=patch, in_channels=channels)
    if fmt == 'mmseg':  # heads do not change any parameter's shape
        if hidden % dims:
            raise CheckpointError(
                f'MLP width {hidden} is not a multiple of the width {dims}: '
                "mmseg's VisionTransformer takes an integer mlp_ratio")
        return dict(
            type='mmseg.VisionTransformer',
            embed_dims=dims,
            num_layers=layers,
            num_heads=1,
            mlp_ratio=hidden // dims,
            final_norm=False,
            pre_norm='pre_ln.weight' in state,
            norm_cfg=dict(type='LN', eps=1e-6),
            **common)
    return dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(
            embed_dims=dims,
            num_layers=layers,
            num_heads=1,
            feedforward_channels=hidden),
        final_norm=prefix + 'ln1.weight' in state,
        pre_norm=prefix + 'pre_norm.weight' in state,
        **common)


def verify_loads(path: str, state: Dict[str, Tensor], fmt: str) -> int:
    """Build the target backbone, load ``path`` through its own init code
    (non-strict for MMSegmentation) and check that every parameter and
    buffer it has now equals the export, and that nothing was left unused.

    Returns:
        The number of tensors checked.
    """
    from mmengine.registry import MODELS
    cfg = target_backbone(state, fmt)
    prefix = '' if fmt == 'mmseg' else 'backbone.'
    cfg['init_cfg'] = dict(type='Pretrained', checkpoint=path)
    if prefix:
        cfg['init_cfg']['prefix'] = prefix
    model = MODELS.build(cfg)
    model.init_weights()
    loaded = model.state_dict()
    expected = {k[len(prefix):]: v for k, v in state.items()}
    missing = sorted(set(loaded) - set(expected))
    unused = sorted(set(expected) - set(loaded))
    wrong = sorted(
        k for k in set(loaded) & set(expected)
        if not torch.equal(loaded[k], expected[k].to(loaded[k])))
    if missing or unused or wrong:
        raise CheckpointError(
            f'the {fmt} export does not load exactly: not in the file '
            f'{missing[:5]}, not used {unused[:5]}, different {wrong[:5]}')
    return len(loaded)
