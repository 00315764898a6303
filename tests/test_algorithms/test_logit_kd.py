"""LogitKD: losses equal an independent computation, teacher stays out."""
import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine import Config
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.algorithms import LogitKD

CONFIGS = Path(__file__).parents[2] / 'configs'
_VITS = Config.fromfile(str(CONFIGS / '_base_/models/vit_fashion_mnist.py'))
STUDENT = _VITS.vit_student.to_dict()  # 96 dims, 4 blocks
TEACHER = _VITS.vit_teacher.to_dict()  # 128 dims, 6 blocks
MEAN, STD = 72.94, 90.02
PREPROCESSOR = dict(
    type='mmpretrain.ClsDataPreprocessor',
    num_classes=10,
    mean=[MEAN],
    std=[STD],
    to_rgb=False)


def _randomise(model, seed: int):
    """Seeded non-trivial weights (mmpretrain zero-initialises cls_token,
    pos_embed and the ViT head)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model


@pytest.fixture(scope='module')
def source_teacher():
    torch.manual_seed(100)
    model = _randomise(MODELS.build(copy.deepcopy(TEACHER)), seed=101)
    model.eval()
    return model


@pytest.fixture(scope='module')
def teacher_ckpt(source_teacher, tmp_path_factory):
    path = tmp_path_factory.mktemp('logit_kd') / 'teacher.pth'
    torch.save(dict(state_dict=source_teacher.state_dict()), path)
    return str(path)


def _build(teacher_ckpt, seed=0, teacher_extra=None, **kwargs):
    torch.manual_seed(seed)
    teacher = dict(
        type='FrozenTeacher',
        model=copy.deepcopy(TEACHER),
        checkpoint=teacher_ckpt,
        **(teacher_extra or {}))
    kwargs.setdefault('data_preprocessor', PREPROCESSOR)
    model = LogitKD(student=copy.deepcopy(STUDENT), teacher=teacher, **kwargs)
    _randomise(model.student, seed + 1)
    return model


def _batch(seed: int, batch: int = 8):
    """Raw uint8 images [B, 1, 28, 28] and their DataSamples."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch, 1, 28, 28), generator=g)
    labels = torch.randint(0, 10, (batch, ), generator=g)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return dict(inputs=pixels.to(torch.uint8), data_samples=samples), labels


def _reference_kd(student, teacher, tau):
    """tau^2 * mean over batch of sum_k p_t (log p_t - log p_s)."""
    s = student.detach().double() / tau
    t = teacher.detach().double() / tau
    log_s = s - torch.logsumexp(s, dim=1, keepdim=True)
    log_t = t - torch.logsumexp(t, dim=1, keepdim=True)
    return tau**2 * (log_t.exp() * (log_t - log_s)).sum(1).mean()


@pytest.fixture(scope='module')
def kd(teacher_ckpt):
    return _build(teacher_ckpt)


def test_state_dict_has_only_student(kd, teacher_ckpt):
    state = kd.state_dict()
    assert len(state) > 0
    assert all(k.startswith('student.') for k in state), [
        k for k in state if not k.startswith('student.')
    ]
    assert len(state) == len(kd.student.state_dict())
    # a fresh distiller (other seed) takes it back, strictly
    fresh = _build(teacher_ckpt, seed=7)
    key = 'student.head.layers.head.weight'
    assert not torch.equal(fresh.state_dict()[key], state[key])
    fresh.load_state_dict(state, strict=True)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k]), k
    x = torch.randn(2, 1, 28, 28)
    kd.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), kd(x))


def test_teacher_records(kd, teacher_ckpt):
    with open(teacher_ckpt, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert kd.teacher_records() == dict(
        teacher=dict(source=teacher_ckpt, sha256=digest))


def test_parameters_exclude_teacher(kd):
    own = {id(p) for p in kd.parameters()}
    teacher = [p for p in kd.teacher.parameters()]
    assert len(teacher) > 0
    assert not own & {id(p) for p in teacher}
    assert own == {id(p) for p in kd.student.parameters()}
    assert all(
        name.startswith('student.') for name, _ in kd.named_parameters())
    assert not any(m is kd.teacher for m in kd.modules())


def test_preprocessor_normalises_with_mean_std(kd):
    data, _ = _batch(seed=1)
    out = kd.data_preprocessor(copy.deepcopy(data), True)
    expected = (data['inputs'].double() - MEAN) / STD
    np.testing.assert_allclose(
        out['inputs'].double().numpy(), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize('alpha,tau', [(0.3, 2.0), (0.9, 4.0)])
def test_losses_equal_independent_computation(teacher_ckpt, source_teacher,
                                              alpha, tau):
    model = _build(
        teacher_ckpt, alpha=alpha, kd_loss=dict(type='KDLoss', tau=tau))
    model.train()
    data, labels = _batch(seed=2)
    data = model.data_preprocessor(data, True)
    x = data['inputs']  # [B, 1, 28, 28], normalised
    losses = model(x, data['data_samples'], mode='loss')
    assert set(losses) == {'loss_ce', 'loss_kd'}
    with torch.no_grad():
        student_logits = model.student(x, mode='tensor')  # [B, 10]
        teacher_logits = source_teacher(x, mode='tensor')  # [B, 10]
    ce = F.cross_entropy(student_logits.double(), labels)
    kd_term = _reference_kd(student_logits, teacher_logits, tau)
    assert losses['loss_ce'].item() == pytest.approx(
        (1 - alpha) * ce.item(), rel=1e-5)
    assert losses['loss_kd'].item() == pytest.approx(
        alpha * kd_term.item(), rel=1e-4)
    assert kd_term.item() > 1e-3  # the student is not the teacher


def test_teacher_with_own_normalisation(teacher_ckpt, source_teacher):
    t_mean, t_std = 127.5, 63.75
    model = _build(
        teacher_ckpt, teacher_extra=dict(mean=[t_mean], std=[t_std]))
    data, _ = _batch(seed=3)
    pixels = data['inputs'].double()
    x = model.data_preprocessor(data, True)['inputs']
    with torch.no_grad():
        expected = source_teacher(
            ((pixels - t_mean) / t_std).float(), mode='tensor')
    torch.testing.assert_close(
        model.teacher.logits(x), expected, rtol=1e-4, atol=1e-4)


def test_teacher_stays_eval_after_train(kd):
    kd.train()
    assert kd.training and kd.student.training
    assert not kd.teacher.training
    assert not any(m.training for m in kd.teacher.modules())


def test_train_step_leaves_teacher_untouched(teacher_ckpt):
    model = _build(teacher_ckpt, seed=3)
    teacher_before = {
        k: v.clone()
        for k, v in model.teacher.state_dict().items()
    }
    student_before = {
        k: v.clone()
        for k, v in model.student.state_dict().items()
    }
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    model.train()
    data, _ = _batch(seed=4)
    losses = model.train_step(data, optim)
    assert torch.isfinite(losses['loss'])
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    assert all(p.grad is None for p in model.teacher.parameters())
    changed = [
        k for k, v in model.student.state_dict().items()
        if not torch.equal(v, student_before[k])
    ]
    assert len(changed) > 0.9 * len(student_before)


def test_dtype_conversion_reaches_teacher(teacher_ckpt):
    model = _build(teacher_ckpt, seed=5)
    data, _ = _batch(seed=5, batch=4)
    model.eval()
    x = model.data_preprocessor(copy.deepcopy(data), False)['inputs']
    with torch.no_grad():
        before = model.teacher.logits(x)
    model.to(torch.float64)
    assert next(model.student.parameters()).dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in model.teacher.parameters())
    with torch.no_grad():
        after = model.teacher.logits(x.double())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    model.float()
    assert all(p.dtype == torch.float32 for p in model.teacher.parameters())


@pytest.mark.parametrize('alpha', [-0.1, 1.5])
def test_alpha_out_of_range(teacher_ckpt, alpha):
    with pytest.raises(ValueError, match='alpha'):
        _build(teacher_ckpt, alpha=alpha)


def test_predict_is_the_students(kd):
    kd.eval()
    data, _ = _batch(seed=6, batch=4)
    data = kd.data_preprocessor(data, False)
    x, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        preds = kd(x, copy.deepcopy(samples), mode='predict')
        ref = kd.student.predict(x, copy.deepcopy(samples))
        logits = kd.student(x, mode='tensor')
        teacher_logits = kd.teacher.logits(x)
    assert len(preds) == len(ref) == 4
    for got, want, row in zip(preds, ref, logits.softmax(1)):
        assert torch.equal(got.pred_score, want.pred_score)
        torch.testing.assert_close(got.pred_score, row)
    assert not torch.allclose(
        torch.stack([p.pred_score for p in preds]), teacher_logits.softmax(1))
    with torch.no_grad():
        assert torch.equal(kd(x, mode='tensor'), logits)


def _digit_vit(embed_dims: int, num_layers: int, num_heads: int) -> dict:
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=embed_dims,
                num_layers=num_layers,
                num_heads=num_heads,
                feedforward_channels=2 * embed_dims),
            img_size=8,
            patch_size=2,
            in_channels=1,
            out_type='cls_token'),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=10,
            in_channels=embed_dims,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def test_digits_training_reduces_loss(tmp_path):
    """30 AdamW steps of LogitKD on sklearn's 8x8 digits, with a teacher
    trained here for 60 steps."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    pixels = torch.from_numpy(np.round(digits.images * 255 / 16))
    pixels = pixels.to(torch.uint8)[:, None]  # [1797, 1, 8, 8]
    labels = torch.from_numpy(digits.target)
    mean = float(pixels[:1500].float().mean())
    std = float(pixels[:1500].float().std())
    pre = dict(PREPROCESSOR, mean=[mean], std=[std])
    g = torch.Generator().manual_seed(0)

    def batch(n=64):
        idx = torch.randint(0, 1500, (n, ), generator=g)
        samples = [DataSample().set_gt_label(int(y)) for y in labels[idx]]
        return dict(inputs=pixels[idx], data_samples=samples)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    try:
        torch.manual_seed(0)
        teacher = MODELS.build(
            dict(_digit_vit(32, 2, 2), data_preprocessor=pre))
        optim = OptimWrapper(torch.optim.AdamW(teacher.parameters(), 3e-3))
        teacher.train()
        for _ in range(60):
            teacher.train_step(batch(), optim)
        path = tmp_path / 'digits_teacher.pth'
        torch.save(teacher.state_dict(), path)

        torch.manual_seed(1)
        model = LogitKD(
            student=_digit_vit(24, 2, 2),
            teacher=dict(
                type='FrozenTeacher',
                model=_digit_vit(32, 2, 2),
                checkpoint=str(path)),
            alpha=0.5,
            kd_loss=dict(type='KDLoss', tau=2.0),
            data_preprocessor=pre)
        optim = OptimWrapper(torch.optim.AdamW(model.parameters(), 3e-3))
        model.train()
        totals = []
        for _ in range(30):
            losses = model.train_step(batch(), optim)
            totals.append(losses['loss'].item())
    finally:
        torch.set_num_threads(threads)
    first, last = np.mean(totals[:5]), np.mean(totals[-5:])
    # measured: about 0.86 * first
    assert last < 0.92 * first, totals
