"""RelationKDLoss against an independent float64 computation of TinyMIM's
q-k / v-v relation KL."""
import numpy as np
import pytest
import torch

from mmkd_plugin.losses import RelationKDLoss


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _relation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """softmax(a b^T / sqrt(d)) over keys, float64, [B, H, N, N]."""
    d = a.shape[-1]
    return _softmax(np.einsum('bhid,bhjd->bhij', a, b) / np.sqrt(d))


def _kl(p_t: np.ndarray, p_s: np.ndarray) -> float:
    """sum over keys of p_t log(p_t / p_s), mean over B x H x queries."""
    return float((p_t * (np.log(p_t) - np.log(p_s))).sum(-1).mean())


def reference(student, teacher, qk_weight=1.0, vv_weight=1.0) -> float:
    sq, sk, sv = (np.asarray(t, dtype=np.float64) for t in student)
    tq, tk, tv = (np.asarray(t, dtype=np.float64) for t in teacher)
    qk = _kl(_relation(tq, tk), _relation(sq, sk))
    vv = _kl(_relation(tv, tv), _relation(sv, sv))
    return qk_weight * qk + vv_weight * vv


def _qkv(seed, shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return tuple(scale * torch.randn(shape, generator=g) for _ in range(3))


@pytest.mark.parametrize('weights', [(1.0, 1.0), (1.0, 0.0), (0.3, 2.0)])
def test_matches_independent_computation(weights):
    # different head dims per side: the student 24, the teacher 32
    student = _qkv(0, (2, 4, 9, 24), scale=2.0)
    teacher = _qkv(1, (2, 4, 9, 32), scale=2.0)
    loss = RelationKDLoss(*weights)(student, teacher)
    expected = reference([t.numpy() for t in student],
                         [t.numpy() for t in teacher], *weights)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_golden_value():
    # Inputs: torch.Generator().manual_seed(7) then (8), three
    # torch.randn((2, 3, 5, 8)) each (q, k, v), times 3, float32; the value
    # was computed once with reference() above (float64 numpy).
    student = _qkv(7, (2, 3, 5, 8), scale=3.0)
    teacher = _qkv(8, (2, 3, 5, 8), scale=3.0)
    loss = RelationKDLoss()(student, teacher)
    assert loss.item() == pytest.approx(9.860098017109454, rel=1e-5)


def test_zero_when_student_equals_teacher():
    qkv = _qkv(3, (2, 4, 17, 16), scale=3.0)
    loss = RelationKDLoss()(qkv, tuple(t.clone() for t in qkv))
    assert abs(loss.item()) < 1e-6


def test_stable_with_large_logits():
    # log_softmax, not log(softmax): saturated rows stay finite
    student = _qkv(4, (1, 2, 6, 8), scale=200.0)
    teacher = _qkv(5, (1, 2, 6, 8), scale=200.0)
    loss = RelationKDLoss()(student, teacher)
    assert torch.isfinite(loss) and loss.item() > 0


def test_teacher_gets_no_gradient():
    student = tuple(t.requires_grad_() for t in _qkv(0, (2, 2, 5, 8)))
    teacher = tuple(t.requires_grad_() for t in _qkv(1, (2, 2, 5, 8)))
    RelationKDLoss()(student, teacher).backward()
    assert all(t.grad is None for t in teacher)
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)


def test_fp16_student_computed_in_fp32():
    student = _qkv(0, (2, 2, 5, 8))
    teacher = _qkv(1, (2, 2, 5, 8))
    half = RelationKDLoss()(tuple(t.half() for t in student), teacher)
    assert half.dtype == torch.float32
    full = RelationKDLoss()(tuple(t.half().float() for t in student), teacher)
    assert half.item() == pytest.approx(full.item(), rel=1e-6)


@pytest.mark.parametrize('student_shape,teacher_shape',
                         [((2, 3, 5, 8), (2, 4, 5, 8)),
                          ((2, 4, 5, 8), (2, 4, 6, 8)),
                          ((1, 4, 5, 8), (2, 4, 5, 8))])
def test_mismatched_relations_are_an_error(student_shape, teacher_shape):
    with pytest.raises(ValueError, match='last_heads'):
        RelationKDLoss()(_qkv(0, student_shape), _qkv(1, teacher_shape))


def test_bad_weights_are_an_error():
    with pytest.raises(ValueError, match='not both 0'):
        RelationKDLoss(0.0, 0.0)
    with pytest.raises(ValueError):
        RelationKDLoss(-1.0, 1.0)
