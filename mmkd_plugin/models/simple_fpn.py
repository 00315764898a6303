"""ViTDet's two additions to a detector with a plain ViT backbone (Li et al.,
"Exploring Plain Vision Transformer Backbones for Object Detection", ECCV
2022): a simple feature pyramid built from the ViT's last map (stride 16
in ViTDet; any stride with other scale factors), and layer-wise LR decay of
the ViT.

MMDetection's ViTDet project (which has both) is not in the ``mmdet``
wheel, so they are registered here in MMDetection's registries.
"""
from functools import partial
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.model import BaseModule
from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor
from torch import Tensor, nn


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """ViTDet's simple feature pyramid: one ViT map -> one level per scale
    factor (ViTDet's 4, 2, 1, 0.5 turn a stride-16 map into strides 4, 8,
    16, 32), then extra levels max-pooled from the last (as MMDetection's
    ``FPN`` adds P6 for the RPN).

    A factor of 4 is deconv x2, norm, GELU, deconv x2 (``C/4`` wide); 2 is
    one deconv (``C/2``); 1 the map itself; ``1/k`` a ``k x k`` max-pool
    (``C``). Each level then goes through a 1x1 and a 3x3 conv, each
    followed by the norm, to ``out_channels``.

    Args:
        in_channels: the ViT's width ``C``.
        out_channels: the width of every output level.
        num_outs: how many levels to return (at least ``len(scale_factors)``).
        norm_cfg: the norm after each conv and inside the x4 upsampling:
            ViTDet's channel LayerNorm (MMPretrain's ``LN2d``), or e.g.
            ``dict(type='BN')`` / ``dict(type='GN', num_groups=32)``.
        scale_factors: output size / input size of each level, finest
            first: 4, 2, 1 or ``1/k`` for an integer ``k``; e.g.
            ``(1, 0.5, 0.25, 0.125)`` for a stride-4 map (4x4 patches).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='mmpretrain.LN2d', eps=1e-6),
                 scale_factors: Sequence[float] = (4, 2, 1, 0.5),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if num_outs < len(scale_factors) or in_channels % 4:
            raise ValueError(
                f'need num_outs >= {len(scale_factors)} scale factors (got '
                f'{num_outs}) and in_channels divisible by 4 (got '
                f'{in_channels})')
        c = in_channels
        self.num_outs = num_outs
        self.rescales, widths = nn.ModuleList(), []
        for factor in scale_factors:
            if factor == 4:
                self.rescales.append(
                    nn.Sequential(
                        nn.ConvTranspose2d(c, c // 2, 2, stride=2),
                        build_norm_layer(norm_cfg, c // 2)[1], nn.GELU(),
                        nn.ConvTranspose2d(c // 2, c // 4, 2, stride=2)))
                widths.append(c // 4)
            elif factor == 2:
                self.rescales.append(
                    nn.ConvTranspose2d(c, c // 2, 2, stride=2))
                widths.append(c // 2)
            elif factor == 1:
                self.rescales.append(nn.Identity())
                widths.append(c)
            elif 0 < factor < 1 and float(1 / factor).is_integer():
                k = int(1 / factor)
                self.rescales.append(nn.MaxPool2d(k, stride=k))
                widths.append(c)
            else:
                raise ValueError(f'scale factor {factor}: SimpleFPN takes '
                                 '4, 2, 1 or 1/k for an integer k')
        conv = partial(ConvModule, norm_cfg=norm_cfg, act_cfg=None)
        self.lateral_convs = nn.ModuleList(
            conv(w, out_channels, 1) for w in widths)
        self.fpn_convs = nn.ModuleList(
            conv(out_channels, out_channels, 3, padding=1) for _ in widths)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """``(x,)``, ``x`` [B, C, h, w] -> ``num_outs`` maps
        [B, out_channels, h * f, w * f] for each scale factor ``f``, then
        each extra level half the size of the one before."""
        if len(inputs) != 1:
            raise ValueError('SimpleFPN takes the ViT\'s last map only '
                             "(out_type='featmap', out_indices=-1); "
                             f'got {len(inputs)} maps')
        x = inputs[0]
        outs = [
            fpn(lateral(rescale(x))) for rescale, lateral, fpn in zip(
                self.rescales, self.lateral_convs, self.fpn_convs)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(
        LearningRateDecayOptimWrapperConstructor):
    """MMPretrain's layer-wise LR decay for a model whose *backbone* has
    ``get_layer_depth`` (a detector or segmentor with
    ``mmpretrain.VisionTransformer``); MMPretrain's constructor asks the
    model itself. ``backbone.layers.i`` gets ``lr * rate ** (L - i)``, the
    patch and position embeddings ``lr * rate ** (L + 1)``, everything
    outside the backbone (and its final norm) ``lr``."""

    def add_params(self,
                   params: list,
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth=None,
                   **kwargs) -> None:
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            get_layer_depth = partial(
                module.backbone.get_layer_depth, prefix='backbone.')
        super().add_params(params, module, prefix, get_layer_depth, **kwargs)
