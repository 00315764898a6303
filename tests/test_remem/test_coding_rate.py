"""Coding rate and its class-conditional version against direct logdet
computations; known cases; the MI loss and the regularised classifier."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.evaluation import class_conditional_coding_rate, coding_rate
from mmkd_plugin.losses import MILoss


def _direct(z: np.ndarray, eps: float) -> float:
    """1/2 logdet(I_d + d / (n eps^2) Z^T Z), float64, d x d."""
    n, d = z.shape
    sign, logdet = np.linalg.slogdet(np.eye(d) + d / (n * eps**2) * z.T @ z)
    assert sign > 0
    return 0.5 * logdet


def _conditional(z: np.ndarray, y: np.ndarray, eps: float) -> float:
    """sum_j n_j / n * 1/2 logdet(I + d / (n_j eps^2) Z_j^T Z_j)."""
    return sum((y == c).sum() / len(y) * _direct(z[y == c], eps)
               for c in np.unique(y))


@pytest.mark.parametrize('n,d', [(40, 8), (6, 10)])  # d x d and n x n paths
@pytest.mark.parametrize('eps', [0.5, 0.1])
def test_coding_rate_equals_direct_logdet(n, d, eps):
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(n + d))
    got = coding_rate(z, eps)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(
        _direct(z.double().numpy(), eps), rel=1e-4)
    want = _direct(F.normalize(z.double(), dim=1).numpy(), eps)
    assert coding_rate(z.double(), eps, normalize=True).item() == \
        pytest.approx(want, rel=1e-10)


def test_rank_one_codes_cheaper_than_isotropic():
    g = torch.Generator().manual_seed(0)
    iso = torch.randn(64, 16, generator=g)
    rank1 = torch.randn(64, 1, generator=g) * torch.randn(1, 16, generator=g)
    r_iso = coding_rate(iso, normalize=True)
    r_one = coding_rate(rank1, normalize=True)
    assert r_one < 0.25 * r_iso
    # a rank-1 Gram has one non-zero eigenvalue: n * d / (n eps^2)
    assert r_one.item() == pytest.approx(0.5 * np.log1p(16 / 0.25), rel=1e-4)
    # identical rows (a collapsed class) code like rank 1
    same = torch.ones(64, 16)
    assert coding_rate(
        same, normalize=True).item() == pytest.approx(
            r_one.item(), rel=1e-4)


def test_class_conditional_equals_direct():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(30, 6, generator=g)
    y = torch.tensor([0] * 12 + [1] * 10 + [2] * 8)
    got = class_conditional_coding_rate(z.double(), y, 0.5)
    assert got.item() == pytest.approx(
        _conditional(z.double().numpy(), y.numpy(), 0.5), rel=1e-10)
    # one class: the overall rate
    assert class_conditional_coding_rate(z, torch.zeros(30), 0.5).item() == \
        pytest.approx(coding_rate(z, 0.5).item(), rel=1e-6)
    # classes collapsed to points: each codes as rank 1, the floor, and
    # within-class variety (dark knowledge) raises R_c
    centres = torch.randn(3, 6, generator=g)[y]
    collapsed = class_conditional_coding_rate(centres, y, normalize=True)
    assert collapsed.item() == pytest.approx(
        0.5 * np.log1p(6 / 0.25), rel=1e-4)
    spread = centres + 0.3 * torch.randn(30, 6, generator=g)
    assert class_conditional_coding_rate(spread, y, normalize=True) > \
        1.1 * collapsed


@pytest.mark.parametrize('call,match', [
    (lambda: coding_rate(torch.ones(3)), r'\[n, d\]'),
    (lambda: coding_rate(torch.ones(3, 2), eps=0), 'eps must be > 0'),
    (lambda: class_conditional_coding_rate(torch.ones(3, 2), torch.ones(2)),
     '2 labels for 3 rows'),
    (lambda: MILoss(loss_weight=-1), 'loss_weight >= 0'),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mi_loss_and_regularised_classifier():
    init_default_scope('mmpretrain')
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(8, 5, generator=g, requires_grad=True)
    y = torch.tensor([0, 1] * 4)
    loss = MILoss(loss_weight=0.1)(feats, y)
    want = -0.1 * _conditional(
        F.normalize(feats.detach().double(), dim=1).numpy(), y.numpy(), 0.5)
    assert loss.item() == pytest.approx(want, rel=1e-5)
    loss.backward()
    assert feats.grad.abs().sum() > 0
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='MIRegularisedClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=16,
                    num_layers=2,
                    num_heads=2,
                    feedforward_channels=32),
                img_size=8,
                patch_size=4,
                in_channels=1),
            head=dict(
                type='VisionTransformerClsHead', num_classes=2,
                in_channels=16),
            mi_loss=dict(type='MILoss', loss_weight=0.1)))
    model.eval()
    x = torch.randn(8, 1, 8, 8, generator=g)
    samples = [DataSample().set_gt_label(int(c)) for c in y]
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss', 'loss_mi'}
    cls = model.backbone(x)[-1]  # [B, D], the feature the head reads
    assert losses['loss_mi'].item() == pytest.approx(
        MILoss(loss_weight=0.1)(cls, y).item(), rel=1e-5)
