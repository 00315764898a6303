"""Official ViT and RegNet checkpoints -> MMPretrain names.

Layouts read (``detect_layout`` tells them apart):

- ``'timm'``: timm names, bare or under ``model``: MAE's
  ``mae_pretrain_vit_*.pth`` (decoder keys, if any, are dropped), DeiT and
  timm classifiers (``head``, ``fc_norm``; distilled DeiT ``dist_token``,
  ``head_dist``), DINO / iBOT released backbones.
- ``'dino'``: one network of a DINO / iBOT run, timm names under
  ``backbone.`` and a projection ``head.`` (dropped).
- ``'dino-full'``: a DINO / iBOT training checkpoint ``{'teacher': ...,
  'student': ...}``; one entry (the teacher by default) read as ``'dino'``.
- ``'timm-regnet'``: a timm RegNet (``stem``, ``s1.b1...``, ``head.fc``),
  bare or under ``model``: DeiT's RegNetY-16GF teacher
  ``regnety_160-a5fe301d.pth``, timm's RegNetY / RegNetX classifiers; into
  MMPretrain's ``RegNet`` or this plugin's ``RegNetY``.
- ``'mmpretrain'``: an MMPretrain classifier (``backbone.``, ``head.``) or a
  bare backbone (ViT or ResNet family), already in MMPretrain names.
- ``'mmpretrain-selfsup'``: an MMPretrain self-supervised model (e.g. MAE:
  ``backbone.``, ``neck.``, ``head.``); everything outside the backbone is
  dropped.

Renaming timm's blocks this way reproduces their outputs exactly in
MMPretrain's pre-norm ``VisionTransformer`` with ``final_norm=True``, and
timm's RegNet in MMPretrain's ``RegNet`` (stride in the 3x3 conv, SE after
its norm and ReLU, 1x1 conv + BN projection): the same layers in the same
order (max abs logit difference 0.0 measured).
"""
import re
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

import torch

from .checkpoint import CheckpointError, state_dict_of

LAYOUTS = ('mmpretrain', 'mmpretrain-selfsup', 'timm', 'dino', 'dino-full',
           'timm-regnet')
TARGETS = ('backbone', 'classifier')

# The mapping tables, one per timm family: timm / official name (full
# match) -> MMPretrain name, backbone-relative except ``head.*`` (the
# classifier's head); a template, or a function of the match; None:
# pre-training only, dropped and reported.
_Rename = Union[None, str, Callable[[re.Match], str]]
TIMM_TO_MMPRETRAIN: Tuple[Tuple[str, _Rename], ...] = (
    (r'cls_token|pos_embed|dist_token', r'\g<0>'),
    (r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1'),
    (r'norm_pre\.(weight|bias)', r'pre_norm.\1'),
    (r'blocks\.(\d+)\.norm([12])\.(weight|bias)', r'layers.\1.ln\2.\3'),
    (r'blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)',
     r'layers.\1.attn.\2.\3'),
    (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
     r'layers.\1.ffn.layers.0.0.\2'),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)', r'layers.\1.ffn.layers.1.\2'),
    (r'norm\.(weight|bias)', r'ln1.\1'),  # final norm
    (r'fc_norm\.(weight|bias)', r'ln2.\1'),  # after global average pooling
    (r'head\.(weight|bias)', r'head.layers.head.\1'),
    (r'head_dist\.(weight|bias)', r'head.layers.head_dist.\1'),
    # MAE's decoder and iBOT's masked-patch embedding: pre-training only
    (r'mask_token|masked_embed|decoder_.*', None),
)


def _block(rest: str) -> Callable[[re.Match], str]:
    """timm's block ``s{i}.b{j}`` (j from 1) -> MMPretrain's
    ``layer{i}.{j - 1}``, then ``rest`` (a template of the match)."""
    return lambda m: f'layer{m[1]}.{int(m[2]) - 1}.{m.expand(rest)}'


_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_S_B = r's(\d)\.b(\d+)\.'  # stage, block
# timm's RegNet -> MMPretrain's RegNet / this plugin's RegNetY, an
# ``ImageClassifier`` with ``LinearClsHead``: ConvNormAct ``conv{k}.conv``
# / ``.bn`` -> ``conv{k}`` / ``bn{k}``, SE ``fc1`` / ``fc2`` ->
# ``se.conv1`` / ``se.conv2`` (ConvModule), projection ``downsample.conv``
# / ``.bn`` -> ``downsample.0`` / ``.1`` (Sequential)
TIMM_REGNET_TO_MMPRETRAIN: Tuple[Tuple[str, _Rename], ...] = (
    (r'stem\.conv\.weight', 'conv1.weight'),
    (r'stem\.bn\.' + _BN, r'bn1.\1'),
    (_S_B + r'conv([123])\.conv\.weight', _block(r'conv\3.weight')),
    (_S_B + r'conv([123])\.bn\.' + _BN, _block(r'bn\3.\4')),
    (_S_B + r'se\.fc([12])\.(weight|bias)', _block(r'se.conv\3.conv.\4')),
    (_S_B + r'downsample\.conv\.weight', _block('downsample.0.weight')),
    (_S_B + r'downsample\.bn\.' + _BN, _block(r'downsample.1.\3')),
    (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
)


def _compile(table: tuple) -> tuple:
    return tuple((re.compile(src), dst) for src, dst in table)


# the table of each layout read with timm's names
_TABLES = dict.fromkeys(('timm', 'dino', 'dino-full'),
                        _compile(TIMM_TO_MMPRETRAIN))
_TABLES['timm-regnet'] = _compile(TIMM_REGNET_TO_MMPRETRAIN)
# layouts whose keys outside ``backbone.`` are pre-training heads
_PRETRAIN = ('mmpretrain-selfsup', 'dino', 'dino-full')
# MMPretrain's ViT, and its ResNet family (ResNet, ResNeXt, RegNet)
_MM_NAMES = re.compile(
    r'(backbone\.)?(layers\.\d+\.ln1|patch_embed\.projection'
    r'|layer\d+\.\d+\.conv1)\..*')
_TIMM_VIT = re.compile(r'(backbone\.)?(blocks\.\d+\.norm1|patch_embed\.proj)'
                       r'\..*')
_TIMM_REGNET = re.compile(r's\d\.b\d+\.conv1\.conv\.weight')
_MM_CLS_HEAD = re.compile(r'head\.(fc|layers\.head)\..*')


def _examples(keys: Iterable[str], limit: int = 5) -> str:
    keys = list(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return '[' + ', '.join(keys[:limit]) + ']' + more


def _unwrap(key: str) -> str:
    """Strip the ``module.`` of a DDP-wrapped model."""
    return key[len('module.'):] if key.startswith('module.') else key


def detect_layout(ckpt: dict) -> str:
    """The key layout of a loaded checkpoint (or of a bare state dict).

    Returns:
        One of :data:`LAYOUTS`.

    Raises:
        CheckpointError: naming a few of the keys seen, when no layout
            fits.
    """
    if isinstance(ckpt.get('teacher'), dict):
        return 'dino-full'
    keys = [_unwrap(k) for k in state_dict_of(ckpt)]
    if any(_MM_NAMES.fullmatch(k) for k in keys):
        selfsup = any(k.startswith('neck.') for k in keys) and not any(
            _MM_CLS_HEAD.fullmatch(k) for k in keys)
        return 'mmpretrain-selfsup' if selfsup else 'mmpretrain'
    if any(_TIMM_VIT.fullmatch(k) for k in keys):
        prefixed = any(k.startswith('backbone.') for k in keys)
        return 'dino' if prefixed else 'timm'
    if any(_TIMM_REGNET.fullmatch(k) for k in keys):
        return 'timm-regnet'
    raise CheckpointError(
        'unknown checkpoint layout: neither MMPretrain nor timm ViT / RegNet '
        f'names (keys seen: {_examples(keys)}); known layouts: '
        f'{list(LAYOUTS)}')


def _rename_timm(name: str, layout: str) -> Optional[str]:
    """timm name -> MMPretrain name, by the layout's table; None: dropped
    on purpose.

    Raises:
        KeyError: no table entry matches ``name``.
    """
    for pattern, dst in _TABLES[layout]:
        if pattern.fullmatch(name):
            return None if dst is None else pattern.sub(dst, name)
    raise KeyError(name)


def _classifier_name(key: str, layout: str) -> Optional[str]:
    """A key's name in an MMPretrain classifier (``backbone.*``,
    ``head.*``, ``neck.*``); None: dropped on purpose.

    Raises:
        KeyError: a timm-named key that the table does not know.
    """
    key = _unwrap(key)
    in_backbone = key.startswith('backbone.')
    if in_backbone:
        key = key[len('backbone.'):]
    elif layout in _PRETRAIN:
        return None  # DINO projection head, MAE decoder neck...
    if layout in _TABLES:
        key = _rename_timm(key, layout)
        if key is None:
            return None
    elif not in_backbone and key.split('.')[0] in ('head', 'neck'):
        return key
    return key if key.startswith('head.') else f'backbone.{key}'


def _weights(ckpt: dict, layout: str, entry: str) -> Dict[str, torch.Tensor]:
    if layout == 'dino-full':
        if not isinstance(ckpt.get(entry), dict):
            found = [k for k, v in ckpt.items() if isinstance(v, dict)]
            raise CheckpointError(f'no {entry!r} entry in the training '
                                  f'checkpoint (entries: {found})')
        ckpt = ckpt[entry]
    weights = state_dict_of(ckpt)
    bad = [k for k, v in weights.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f'not a state dict: non-tensor values at '
                              f'{_examples(bad)}')
    return weights


def convert_checkpoint(
        ckpt: dict,
        layout: str = 'auto',
        target: str = 'backbone',
        entry: str = 'teacher',
        distilled: bool = False) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Convert a ViT or RegNet checkpoint to MMPretrain names.

    Args:
        ckpt: the loaded checkpoint (or a bare state dict).
        layout: one of :data:`LAYOUTS`, or ``'auto'`` to detect it.
        target: ``'backbone'`` gives unprefixed backbone keys (a classifier
            head in the source is dropped and reported); ``'classifier'``
            gives ``backbone.*`` and ``head.*`` keys of an MMPretrain
            ``ImageClassifier``: ``VisionTransformerClsHead`` (ViT),
            ``LinearClsHead`` (RegNet).
        entry: the network of a ``'dino-full'`` checkpoint to take.
        distilled: the target has DeiT's distillation token and head
            (``DistilledVisionTransformer``, ``DeiTClsHead``); without it,
            a checkpoint holding them is refused.

    Returns:
        The converted state dict, and the source keys deliberately dropped
        (decoder, projection head...), sorted.

    Raises:
        CheckpointError: unknown layout or key, or a source that lacks what
            the target needs.
    """
    if layout == 'auto':
        layout = detect_layout(ckpt)
    if layout not in LAYOUTS or target not in TARGETS:
        raise CheckpointError(f'layout {layout!r} / target {target!r}: '
                              f'choose from {LAYOUTS} / {TARGETS}')
    out, dropped, unknown = {}, [], []
    for key, value in _weights(ckpt, layout, entry).items():
        try:
            name = _classifier_name(key, layout)
        except KeyError:
            unknown.append(key)
            continue
        if name is None:
            dropped.append(key)
        else:
            out[name] = value
            if target == 'backbone' and not name.startswith('backbone.'):
                dropped.append(key)  # the source's classifier head
    if unknown:
        raise CheckpointError(f'{layout} checkpoint has keys with no '
                              f'MMPretrain name: {_examples(unknown)}')
    names = set(out)
    if not distilled and names & {
            'backbone.dist_token', 'head.layers.head_dist.weight'
    }:
        raise CheckpointError(
            'a distilled DeiT checkpoint (dist_token, head_dist): build the '
            'target with DistilledVisionTransformer and DeiTClsHead '
            '(distilled=True), or use a non-distilled checkpoint')
    backbone = {
        k[len('backbone.'):]: v
        for k, v in out.items() if k.startswith('backbone.')
    }
    if not backbone:
        raise CheckpointError(f'{layout} checkpoint holds no backbone '
                              f'weights (keys: {_examples(list(out))})')
    if target == 'backbone':
        return backbone, sorted(dropped)
    if len(backbone) == len(out):
        raise CheckpointError(f'{layout} checkpoint has no classification '
                              "head: convert it with target='backbone'")
    return out, sorted(dropped)
