"""NormalizedFeatureLoss against an independent float64 computation."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from mmkd_plugin.losses import NormalizedFeatureLoss


def reference(student, teacher, kind: str) -> float:
    """L2-normalise each token (last axis), then mean |s - t| ('l1') or
    mean (s - t)^2 ('l2') over every element, float64 numpy."""
    s = np.asarray(student, dtype=np.float64)  # [B, N, C]
    t = np.asarray(teacher, dtype=np.float64)  # [B, N, C]
    s = s / np.sqrt((s**2).sum(axis=-1, keepdims=True))
    t = t / np.sqrt((t**2).sum(axis=-1, keepdims=True))
    diff = s - t
    return float(np.abs(diff).mean() if kind == 'l1' else (diff**2).mean())


def _features(seed: int, shape=(2, 5, 8)):
    rng = np.random.RandomState(seed)
    s = rng.randn(*shape).astype(np.float32)
    t = (rng.randn(*shape) * 3).astype(np.float32)
    return torch.from_numpy(s), torch.from_numpy(t)


@pytest.mark.parametrize('kind', ['l1', 'l2'])
@pytest.mark.parametrize('shape', [(2, 5, 8), (3, 50, 16), (4, 7)])
def test_matches_independent_computation(kind, shape):
    student, teacher = _features(seed=1, shape=shape)
    loss = NormalizedFeatureLoss(kind=kind)(student, teacher)
    assert loss.dim() == 0
    expected = reference(student.numpy(), teacher.numpy(), kind)
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize('kind,golden', [('l1', 0.36822264140494243),
                                         ('l2', 0.2332864290593979)])
def test_golden_value(kind, golden):
    # Inputs: np.random.RandomState(0), student = randn(2, 5, 8), then
    # teacher = 3 * randn(2, 5, 8), both cast to float32. The values were
    # computed once with reference() above (float64 numpy).
    student, teacher = _features(seed=0)
    loss = NormalizedFeatureLoss(kind=kind)(student, teacher)
    assert loss.item() == pytest.approx(golden, rel=1e-6)


def test_loss_weight_scales():
    student, teacher = _features(seed=2)
    base = NormalizedFeatureLoss()(student, teacher)
    assert NormalizedFeatureLoss(loss_weight=2.5)(
        student, teacher).item() == pytest.approx(2.5 * base.item())


@pytest.mark.parametrize('kind', ['l1', 'l2'])
def test_zero_for_identical_and_for_scaled_inputs(kind):
    student, _ = _features(seed=3)
    loss = NormalizedFeatureLoss(kind=kind)
    assert loss(student, student.clone()).item() == 0.0
    # per-token normalisation: a positive scale per token changes nothing
    scale = torch.rand(*student.shape[:-1], 1) * 10 + 0.1
    assert loss(student * scale, student).item() < 1e-6


def test_teacher_gets_no_gradient():
    student, teacher = _features(seed=4)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    NormalizedFeatureLoss()(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_half_precision_inputs_computed_in_fp32():
    student, teacher = _features(seed=5)
    loss = NormalizedFeatureLoss()(student.half(), teacher)
    assert loss.dtype == torch.float32
    expected = reference(student.half().float().numpy(), teacher.numpy(), 'l1')
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="'l1', 'l2'"):
        NormalizedFeatureLoss(kind='cosine')
    student, teacher = _features(seed=6)
    with pytest.raises(ValueError, match='differ in shape'):
        NormalizedFeatureLoss()(student, teacher[:, :4])


def test_registered():
    loss = MODELS.build(dict(type='NormalizedFeatureLoss', kind='l2'))
    assert isinstance(loss, NormalizedFeatureLoss) and loss.kind == 'l2'
