"""LIB-KD's teachers: the involution against a per-pixel loop, RedNet and
RegNetY against their published sizes, an official RedNet checkpoint (key
names built here as the official code names them) loading strictly, and a
RegNetY block against a computation from its weights."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmkd_plugin.models import Involution
from mmkd_plugin.teachers import build_teacher

pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')
# millions of parameters with the 1000-class head: RedNet from the
# d-li14/involution README, RegNetY from pycls's model zoo
PUBLISHED = {
    'rednet-26': (dict(type='RedNet', depth=26), 9.23),
    'rednet-50': (dict(type='RedNet', depth=50), 15.54),
    'regnety-1.6gf': (dict(type='RegNetY', arch='regnety_1.6gf'), 11.2),
    'regnety-4.0gf': (dict(type='RegNetY', arch='regnety_4.0gf'), 20.6),
}
# pycls's stage widths of the same models
REGNETY_WIDTHS = {
    'regnety_1.6gf': [48, 120, 336, 888],
    'regnety_4.0gf': [128, 192, 512, 1088],
}
TINY_REGNETY = dict(
    type='RegNetY',
    arch=dict(w0=16, wa=16.0, wm=2.0, group_w=8, depth=6, bot_mul=1.0),
    stem_channels=16)


def _classifier(backbone, width):
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=width))


def _randomise_norms(module, seed):
    """Random affine parameters and running statistics, eval mode."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean = torch.randn(c, generator=gen) * 0.1
            m.running_var = 0.5 + torch.rand(c, generator=gen)
    module.eval()


def _np(t):
    return t.detach().double().numpy()


def _bn_affine(bn):
    scale = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    return scale, _np(bn.bias) - _np(bn.running_mean) * scale


def naive_involution(x, inv):
    """Output pixel by output pixel: the kernel from the mean of the
    pixel's ``stride`` x ``stride`` cell (cut at the border) through the
    reduce conv, norm, ReLU and span conv written out; then, channel by
    channel, the kernel of its group times the zero-padded K x K window."""
    x = _np(x)
    B, C, H, W = x.shape
    K, s, G = inv.kernel_size, inv.stride, inv.groups
    w1 = _np(inv.conv1.conv.weight)[:, :, 0, 0]  # [C / 4, C]
    scale, shift = _bn_affine(inv.conv1.bn)
    w2 = _np(inv.conv2.conv.weight)[:, :, 0, 0]  # [G * K * K, C / 4]
    b2 = _np(inv.conv2.conv.bias)
    pad = K // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    h, w = -(-H // s), -(-W // s)
    out = np.zeros((B, C, h, w))
    for i in range(h):
        for j in range(w):
            cell = x[:, :, i * s:(i + 1) * s, j * s:(j + 1) * s].mean((2, 3))
            hidden = np.maximum(cell @ w1.T * scale + shift, 0)
            kernel = (hidden @ w2.T + b2).reshape(B, G, K, K)
            for c in range(C):
                window = padded[:, c, i * s:i * s + K, j * s:j * s + K]
                out[:, c, i, j] = (kernel[:, c // (C // G)] * window).sum(
                    (1, 2))
    return out


CASES = [(7, 1, 9), (3, 1, 8), (7, 2, 8), (7, 2, 9)]  # kernel, stride, side


@pytest.mark.parametrize('kernel,stride,size', CASES)
def test_involution_equals_per_pixel_loop(kernel, stride, size):
    torch.manual_seed(kernel + stride + size)
    inv = Involution(32, kernel, stride)  # 2 groups of 16 channels
    _randomise_norms(inv, seed=size)
    for conv in (inv.conv1.conv, inv.conv2.conv):
        torch.nn.init.normal_(conv.weight, std=0.3)
    torch.nn.init.normal_(inv.conv2.conv.bias, std=0.1)
    x = torch.randn(2, 32, size, size)
    with torch.no_grad():
        out = inv(x)
    expected = naive_involution(x, inv)
    assert out.shape == expected.shape == (2, 32, -(-size // stride),
                                           -(-size // stride))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_narrow_involution_is_one_group():
    inv = Involution(8, 3, 1)
    assert inv.groups == 1
    with pytest.raises(ValueError, match='divisible by group_channels'):
        Involution(24, 7, 1)


@pytest.mark.parametrize('name', PUBLISHED)
def test_parameter_count_is_the_published_one(name):
    cfg, millions = PUBLISHED[name]
    backbone = MODELS.build(cfg)
    count = sum(p.numel() for p in backbone.parameters())
    count += (backbone.feat_dim + 1) * 1000  # the linear head
    digits = 2 if name.startswith('rednet') else 1
    assert round(count / 1e6, digits) == millions
    if cfg['type'] == 'RegNetY':
        assert backbone.stage_widths == REGNETY_WIDTHS[cfg['arch']]


def _bn_keys(prefix, c):
    keys = {
        f'{prefix}.{n}': (c, )
        for n in ('weight', 'bias', 'running_mean', 'running_var')
    }
    keys[f'{prefix}.num_batches_tracked'] = ()
    return keys


def _involution_keys(prefix, c, k):
    span = k * k * (c // 16)  # one K x K kernel per 16 channels
    return {
        f'{prefix}.conv1.conv.weight': (c // 4, c, 1, 1),
        **_bn_keys(f'{prefix}.conv1.bn', c // 4),
        f'{prefix}.conv2.conv.weight': (span, c // 4, 1, 1),
        f'{prefix}.conv2.conv.bias': (span, ),
    }


def official_rednet_keys(blocks, stem=64, base=64, classes=1000):
    """Names and shapes of an official RedNet classifier checkpoint (mmcls
    ``ImageClassifier``): ``stem`` a Sequential of ConvModule, involution,
    BatchNorm2d, ReLU, ConvModule; bottlenecks ``conv1/bn1``, involution
    ``conv2``, ``bn2``, ``conv3/bn3``, ``downsample.0/1``; ``head.fc``."""
    half = stem // 2
    keys = {
        'stem.0.conv.weight': (half, 3, 3, 3),
        **_bn_keys('stem.0.bn', half),
        **_involution_keys('stem.1', half, 3),
        **_bn_keys('stem.2', half),
        'stem.4.conv.weight': (stem, half, 3, 3),
        **_bn_keys('stem.4.bn', stem),
    }
    cin = stem
    for i, num in enumerate(blocks):
        mid = base * 2**i
        for j in range(num):
            p = f'layer{i + 1}.{j}'
            keys.update({
                f'{p}.conv1.weight': (mid, cin, 1, 1),
                **_bn_keys(f'{p}.bn1', mid),
                **_involution_keys(f'{p}.conv2', mid, 7),
                **_bn_keys(f'{p}.bn2', mid),
                f'{p}.conv3.weight': (4 * mid, mid, 1, 1),
                **_bn_keys(f'{p}.bn3', 4 * mid),
            })
            if j == 0:
                keys[f'{p}.downsample.0.weight'] = (4 * mid, cin, 1, 1)
                keys.update(_bn_keys(f'{p}.downsample.1', 4 * mid))
            cin = 4 * mid
    keys = {f'backbone.{k}': v for k, v in keys.items()}
    keys['head.fc.weight'] = (classes, cin)
    keys['head.fc.bias'] = (classes, )
    return keys


def test_official_rednet_checkpoint_loads_strictly(tmp_path):
    shapes = official_rednet_keys((1, 2, 4, 1))  # RedNet-26
    buffers = ('running_mean', 'running_var', 'num_batches_tracked')
    params = sum(
        int(np.prod(s)) for k, s in shapes.items() if not k.endswith(buffers))
    assert round(params / 1e6, 2) == 9.23  # the README's, from the names
    gen = torch.Generator().manual_seed(0)
    weights = {
        k: torch.tensor(7) if not s else torch.randn(s, generator=gen) * 0.05
        for k, s in shapes.items()
    }
    path = tmp_path / 'rednet26.pth'
    torch.save(
        dict(meta=dict(mmcls_version='0.11.0'), state_dict=weights), path)
    teacher = build_teacher(
        dict(
            type='FrozenTeacher',
            model=_classifier(dict(type='RedNet', depth=26), 2048),
            checkpoint=str(path)))
    got = teacher.model.state_dict()
    assert got.keys() == weights.keys()
    assert all(torch.equal(got[k], weights[k]) for k in weights)
    logits = teacher.logits(torch.randn(1, 3, 64, 64))
    assert logits.shape == (1, 1000) and logits.dtype == torch.float32


def test_regnety_block_equals_computation_from_weights():
    """Stage 2's first block (stride 2, projection, 4 groups of 8): conv,
    norm, ReLU; grouped 3x3; SE squeezing to a quarter of the block's
    input width; conv, norm; plus the projected input; ReLU."""
    torch.manual_seed(0)
    backbone = MODELS.build(TINY_REGNETY)
    _randomise_norms(backbone, seed=1)
    block = backbone.layer2[0]
    assert block.conv2.groups == 4 and block.conv2.stride == (2, 2)
    assert block.se.conv1.conv.out_channels == round(0.25 * 16)
    x = torch.randn(2, 16, 8, 8)

    def bn(y, norm):
        scale, shift = (torch.from_numpy(v).float() for v in _bn_affine(norm))
        return y * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)

    with torch.no_grad():
        y = F.relu(bn(F.conv2d(x, block.conv1.weight), block.norm1))
        y = F.relu(
            bn(
                F.conv2d(y, block.conv2.weight, stride=2, padding=1, groups=4),
                block.norm2))
        se1, se2 = block.se.conv1.conv, block.se.conv2.conv
        squeezed = F.relu(y.mean((2, 3)) @ se1.weight[:, :, 0, 0].T + se1.bias)
        gate = torch.sigmoid(squeezed @ se2.weight[:, :, 0, 0].T + se2.bias)
        y = bn(
            F.conv2d(y * gate[:, :, None, None], block.conv3.weight),
            block.norm3)
        short = bn(
            F.conv2d(x, block.downsample[0].weight, stride=2),
            block.downsample[1])
        expected = F.relu(y + short)
        out = block(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
