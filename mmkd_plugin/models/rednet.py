"""Involution and RedNet (Li et al., "Involution: Inverting the Inherence of
Convolution for Visual Recognition", CVPR 2021)."""
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmpretrain.models import ResNet
from mmpretrain.models.backbones.resnet import Bottleneck
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class Involution(nn.Module):
    """A K x K kernel generated at every output pixel, shared by the
    ``group_channels`` channels of each group.

    The kernel comes from the input (average-pooled by ``stride``): a 1x1
    reduce conv (``channels // reduction``, norm, ReLU) then a 1x1 span conv
    to ``K * K * G`` values, ``G = channels // group_channels``. The output
    at a pixel is, per group, the kernel-weighted sum of the K x K input
    window around it. Key names follow the official code (``conv1.conv``,
    ``conv1.bn``, ``conv2.conv``). Two cases the official code cannot run
    are defined here: fewer channels than ``group_channels`` make one group
    (narrow stems), and for an odd input side with ``stride`` 2 the pooling
    keeps the partial last window, as the unfold does.

    Args:
        channels: input and output channels, a multiple of
            ``group_channels`` (or fewer).
        kernel_size: K, odd.
        stride: output stride.
        group_channels: channels sharing one kernel.
        reduction: channel reduction of the kernel generator.
        norm_cfg: norm of the reduce conv.
    """

    def __init__(self,
                 channels: int,
                 kernel_size: int = 7,
                 stride: int = 1,
                 group_channels: int = 16,
                 reduction: int = 4,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        group_channels = min(group_channels, channels)
        if channels % group_channels or kernel_size % 2 == 0:
            raise ValueError(
                f'Involution needs channels ({channels}) divisible by '
                f'group_channels ({group_channels}) and an odd kernel_size '
                f'({kernel_size})')
        self.kernel_size, self.stride = kernel_size, stride
        self.groups = channels // group_channels
        self.conv1 = ConvModule(
            channels, channels // reduction, 1, norm_cfg=norm_cfg)
        self.conv2 = ConvModule(
            channels // reduction,
            kernel_size**2 * self.groups,
            1,
            act_cfg=None)
        self.pool = nn.AvgPool2d(
            stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        K, G = self.kernel_size, self.groups
        kernel = self.conv2(self.conv1(self.pool(x)))  # [B, G*K*K, h, w]
        h, w = kernel.shape[-2:]
        kernel = kernel.view(B, G, 1, K * K, h, w)
        cols = F.unfold(x, K, padding=K // 2, stride=self.stride)
        cols = cols.view(B, G, C // G, K * K, h, w)  # windows, per group
        return (kernel * cols).sum(3).view(B, C, h, w)


class InvolutionBottleneck(Bottleneck):
    """ResNet's bottleneck with a 7x7 involution as its middle layer."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.dilation != 1:
            raise ValueError('RedNet has no dilated involution')
        self.conv2 = Involution(
            self.mid_channels, 7, self.conv2_stride, norm_cfg=self.norm_cfg)


@MODELS.register_module()
class RedNet(ResNet):
    """RedNet: ResNet with involution in the stem and every bottleneck.

    The stem is a stride-2 3x3 conv to ``stem_channels // 2``, a 3x3
    involution, norm + ReLU, a 3x3 conv to ``stem_channels``, then the
    max-pool. Key names match the official (mmcls) checkpoints, so one
    loads strictly into an ``ImageClassifier`` with this backbone, a
    ``GlobalAveragePooling`` neck and a ``LinearClsHead``. The involution
    is not fp16-safe: run RedNet teachers in fp32.

    Args:
        depth: 26, 38, 50, 101 or 152.
        **kwargs: as :class:`mmpretrain.models.ResNet` (``stem_channels``
            and ``base_channels`` must keep every involution's channels a
            multiple of 16; ``deep_stem`` is always on).
    """

    arch_settings = {
        26: (InvolutionBottleneck, (1, 2, 4, 1)),
        38: (InvolutionBottleneck, (2, 3, 5, 2)),
        50: (InvolutionBottleneck, (3, 4, 6, 3)),
        101: (InvolutionBottleneck, (3, 4, 23, 3)),
        152: (InvolutionBottleneck, (3, 8, 36, 3))
    }

    def __init__(self, depth: int, **kwargs):
        kwargs['deep_stem'] = True  # the forward runs self.stem
        super().__init__(depth, **kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int):
        half = stem_channels // 2
        conv = dict(
            kernel_size=3,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg)
        self.stem = nn.Sequential(  # indices are the checkpoints' keys
            ConvModule(in_channels, half, stride=2, **conv),  # stem.0
            Involution(half, 3, 1, norm_cfg=self.norm_cfg),  # stem.1
            build_norm_layer(self.norm_cfg, half)[1],  # stem.2
            nn.ReLU(inplace=True),
            ConvModule(half, stem_channels, **conv))  # stem.4
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
