"""KDLoss against an independent float64 computation of Hinton's KD."""
import numpy as np
import pytest
import torch

from mmkd_plugin.losses import KDLoss


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def reference_kd(student, teacher, tau: float) -> float:
    """tau^2 * mean over batch of sum_k p_t (log p_t - log p_s), float64."""
    s = np.asarray(student, dtype=np.float64) / tau  # [B, K]
    t = np.asarray(teacher, dtype=np.float64) / tau  # [B, K]
    log_s, log_t = _log_softmax(s), _log_softmax(t)
    p_t = np.exp(log_t)
    per_sample = (p_t * (log_t - log_s)).sum(axis=-1)  # [B]
    return float(tau**2 * per_sample.mean())


def _logits(seed: int, batch: int = 4, classes: int = 10):
    rng = np.random.RandomState(seed)
    s = (rng.randn(batch, classes) * 3).astype(np.float32)
    t = (rng.randn(batch, classes) * 3).astype(np.float32)
    return torch.from_numpy(s), torch.from_numpy(t)


@pytest.mark.parametrize('tau', [0.5, 1.0, 2.0, 4.0, 10.0])
def test_matches_independent_computation(tau):
    student, teacher = _logits(seed=1, batch=16, classes=7)
    loss = KDLoss(tau=tau)(student, teacher)
    expected = reference_kd(student.numpy(), teacher.numpy(), tau)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_golden_value():
    # Inputs: np.random.RandomState(0), student = 3 * randn(4, 10), then
    # teacher = 3 * randn(4, 10), both cast to float32. The value was
    # computed once with reference_kd(student, teacher, tau=2.0) above
    # (float64 numpy): 4.244097005402594.
    student, teacher = _logits(seed=0)
    loss = KDLoss(tau=2.0)(student, teacher)
    assert loss.item() == pytest.approx(4.244097005402594, rel=1e-6)


@pytest.mark.parametrize('tau', [1.0, 4.0])
def test_zero_when_student_equals_teacher(tau):
    student, _ = _logits(seed=2)
    loss = KDLoss(tau=tau)(student, student.clone())
    assert abs(loss.item()) < 1e-6


def test_positive_when_student_differs():
    student, teacher = _logits(seed=3)
    assert KDLoss(tau=1.0)(student, teacher).item() > 0.1


def test_gradient_reaches_student_only():
    student, teacher = _logits(seed=4)
    student = student.double().requires_grad_(True)
    teacher = teacher.double().requires_grad_(True)
    tau = 3.0
    KDLoss(tau=tau)(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None
    # d/ds [tau^2 / B * sum_b KL(p_t || p_s)] = tau / B * (p_s - p_t);
    # the loss computes in float32, hence the tolerance
    s = student.detach().numpy() / tau
    t = teacher.detach().numpy() / tau
    p_s, p_t = np.exp(_log_softmax(s)), np.exp(_log_softmax(t))
    expected = tau / s.shape[0] * (p_s - p_t)
    np.testing.assert_allclose(
        student.grad.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_loss_weight_scales_linearly():
    student, teacher = _logits(seed=5)
    base = KDLoss(tau=2.0)(student, teacher).item()
    scaled = KDLoss(tau=2.0, loss_weight=0.25)(student, teacher).item()
    assert scaled == pytest.approx(0.25 * base, rel=1e-6)
    expected = 0.25 * reference_kd(student.numpy(), teacher.numpy(), 2.0)
    assert scaled == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('tau', [0.0, -1.0])
def test_non_positive_tau_raises(tau):
    with pytest.raises(ValueError, match='tau'):
        KDLoss(tau=tau)


def test_builds_from_registry():
    from mmpretrain.registry import MODELS
    loss = MODELS.build(dict(type='KDLoss', tau=4.0, loss_weight=2.0))
    student, teacher = _logits(seed=6)
    expected = 2.0 * reference_kd(student.numpy(), teacher.numpy(), 4.0)
    assert loss(student, teacher).item() == pytest.approx(expected, rel=1e-5)
