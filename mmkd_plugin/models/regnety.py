"""RegNetY (Radosavovic et al., "Designing Network Design Spaces", CVPR
2020): RegNetX with squeeze-excitation in every block."""
from mmpretrain.models import RegNet
from mmpretrain.models.backbones.resnet import ResLayer
from mmpretrain.models.backbones.resnext import Bottleneck
from mmpretrain.models.utils import SELayer
from mmpretrain.registry import MODELS
from torch.utils.checkpoint import checkpoint


class SEBottleneck(Bottleneck):
    """RegNet's bottleneck with SE after the grouped 3x3 conv (and its norm
    and ReLU); the squeeze width is ``se_ratio`` of the block's input
    width, as in pycls."""

    def __init__(self, in_channels: int, *args, se_ratio: float, **kwargs):
        super().__init__(in_channels, *args, **kwargs)
        self.se = SELayer(
            self.mid_channels,
            squeeze_channels=int(round(in_channels * se_ratio)))

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            out = checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        return self.relu(out)

    def _residual(self, x):
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.se(self.relu(self.norm2(self.conv2(out))))
        out = self.drop_path(self.norm3(self.conv3(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


@MODELS.register_module()
class RegNetY(RegNet):
    """MMPretrain's ``RegNet`` with SE blocks (``se_ratio`` 0.25).

    ``arch`` names one of :attr:`arch_settings` (pycls's RegNetY models) or
    is a dict as for ``RegNet``; other arguments as ``RegNet``.
    """

    arch_settings = {
        'regnety_400mf':
        dict(w0=48, wa=27.89, wm=2.09, group_w=8, depth=16, bot_mul=1.0),
        'regnety_800mf':
        dict(w0=56, wa=38.84, wm=2.4, group_w=16, depth=14, bot_mul=1.0),
        'regnety_1.6gf':
        dict(w0=48, wa=20.71, wm=2.65, group_w=24, depth=27, bot_mul=1.0),
        'regnety_3.2gf':
        dict(w0=80, wa=42.63, wm=2.66, group_w=24, depth=21, bot_mul=1.0),
        'regnety_4.0gf':
        dict(w0=96, wa=31.41, wm=2.24, group_w=64, depth=22, bot_mul=1.0),
        'regnety_8.0gf':
        dict(w0=192, wa=76.82, wm=2.19, group_w=56, depth=17, bot_mul=1.0),
        'regnety_16gf':
        dict(w0=200, wa=106.23, wm=2.48, group_w=112, depth=18, bot_mul=1.0),
        'regnety_32gf':
        dict(w0=232, wa=115.89, wm=2.53, group_w=232, depth=20, bot_mul=1.0),
    }

    def __init__(self, arch, se_ratio: float = 0.25, **kwargs):
        self.se_ratio = se_ratio  # read by make_res_layer
        super().__init__(arch, **kwargs)

    def make_res_layer(self, **kwargs):
        kwargs.update(block=SEBottleneck, se_ratio=self.se_ratio)
        return ResLayer(**kwargs)
