"""DMAE: same mask for teacher and student, exact targets, MMPretrain's
MAE reconstruction, truncated teacher, build-time errors, a real run."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmkd_plugin.algorithms.dmae as dmae_module
from mmkd_plugin.algorithms import DMAE
from mmkd_plugin.models.vit_taps import embed_tokens

CONFIGS = Path(__file__).parents[2] / 'configs'
_MAES = Config.fromfile(
    str(CONFIGS / '_base_/models/mae_vit_fashion_mnist.py'))
STUDENT = _MAES.mae_vit_student.to_dict()  # MAE, 96 dims, 4 blocks, p4
TEACHER_MAE = _MAES.mae_vit_teacher.to_dict()  # MAE, 128 dims, 6 blocks
TEACHER = _MAES.mae_vit_teacher_backbone.to_dict()  # its MAEViT
PREPROCESSOR = dict(
    type='mmpretrain.ClsDataPreprocessor',
    mean=[72.94],
    std=[90.02],
    to_rgb=False)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; the CPU is shared
    yield
    torch.set_num_threads(threads)


def _randomise(model, seed: int):
    """MAE's init, then seeded noise on every weight, so that cls_token,
    biases and norms are non-trivial."""
    torch.manual_seed(seed)
    model.init_weights()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model


def _teacher_mae(seed: int = 100):
    """A whole MMPretrain MAE (encoder + decoder), as a checkpoint holds;
    the same weights for the same seed."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(TEACHER_MAE))
    return _randomise(model, seed).eval()


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('dmae') / 'mae_teacher.pth'
    torch.save(dict(state_dict=_teacher_mae().state_dict()), path)
    return str(path)


def _teacher_cfg(ckpt, model=TEACHER):
    return dict(
        type='FrozenTeacher',
        model=copy.deepcopy(model),
        checkpoint=ckpt,
        prefix='backbone.')


def _build(teacher_ckpt, student=STUDENT, teacher=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('align', [(2, 4)])
    kwargs.setdefault('data_preprocessor', PREPROCESSOR)
    model = DMAE(
        student=copy.deepcopy(student),
        teacher=teacher or _teacher_cfg(teacher_ckpt),
        **kwargs)
    _randomise(model.student, seed + 1)
    return model


def _inputs(seed: int, batch: int = 3):
    """Normalised images [B, 1, 28, 28], as the preprocessor gives."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1, 28, 28, generator=g)


def _visible(vit, x, ids_keep):
    """MAE's token construction, written out: patches + positions, gather
    the visible ones, prepend CLS + its position. [B, 1 + K, D]"""
    patches = vit.patch_embed(x)[0] + vit.pos_embed[:, 1:]  # [B, L, D]
    index = ids_keep[..., None].expand(-1, -1, patches.shape[-1])
    visible = torch.gather(patches, 1, index)  # [B, K, D]
    cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
    return torch.cat([cls, visible], dim=1)


class Recorder:
    """Wraps a callable and keeps the arguments of every call."""

    def __init__(self, fn):
        self.fn, self.calls, self.results = fn, [], []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        self.results.append(self.fn(*args, **kwargs))
        return self.results[-1]


def _run_recorded(model, x, monkeypatch, seed=7):
    """One ``loss`` call; returns the losses and what each part was given."""
    rec = dict(
        mask=Recorder(model.random_mask),
        embed=Recorder(embed_tokens),
        teacher=Recorder(model.teacher.block_outputs),
        head=Recorder(model.student.head.loss),
        distill=Recorder(model.distill_loss.forward))
    monkeypatch.setattr(model, 'random_mask', rec['mask'])
    monkeypatch.setattr(dmae_module, 'embed_tokens', rec['embed'])
    monkeypatch.setattr(model.teacher, 'block_outputs', rec['teacher'])
    monkeypatch.setattr(model.student.head, 'loss', rec['head'])
    monkeypatch.setattr(model.distill_loss, 'forward', rec['distill'])
    torch.manual_seed(seed)
    losses = model.loss(x, [DataSample() for _ in x])
    return losses, rec


def test_embed_tokens_equals_maevit(teacher_ckpt):
    vit = _teacher_mae().backbone  # MAEViT, eval mode
    x = _inputs(seed=1)
    torch.manual_seed(3)
    latent, mask, ids_restore = vit(x)  # MAEViT's own masked forward
    ids_keep = torch.argsort(ids_restore, dim=1)[:, :int(49 * 0.25)]
    tokens = embed_tokens(vit, x, ids_keep)  # [B, 1 + K, D]
    assert torch.equal(tokens, _visible(vit, x, ids_keep))
    for layer in vit.layers:
        tokens = layer(tokens)
    assert torch.equal(vit.ln1(tokens), latent)
    assert torch.equal(
        mask.gather(1, ids_keep), torch.zeros_like(ids_keep, dtype=float))


def test_random_mask_is_maes(teacher_ckpt):
    model = _build(teacher_ckpt)
    torch.manual_seed(5)
    ids_keep, mask, ids_restore = model.random_mask(4, torch.device('cpu'))
    torch.manual_seed(5)
    _, mae_mask, mae_restore = model.student.backbone.random_masking(
        torch.zeros(4, 49, 8), 0.75)
    assert torch.equal(mask, mae_mask)
    assert torch.equal(ids_restore, mae_restore)
    assert ids_keep.shape == (4, 12)
    assert torch.equal(mask.sum(1), torch.full((4, ), 37.))
    assert torch.equal(mask.gather(1, ids_keep), torch.zeros(4, 12))


def test_teacher_and_student_see_the_same_patches(teacher_ckpt, monkeypatch):
    model = _build(teacher_ckpt)
    x = _inputs(seed=2)
    _, rec = _run_recorded(model, x, monkeypatch)
    assert len(rec['mask'].calls) == 1  # one mask per step
    ids_keep, mask, ids_restore = rec['mask'].results[0]
    (_, _, student_keep), _ = rec['embed'].calls[0]
    (_, teacher_blocks), teacher_kw = rec['teacher'].calls[0]
    assert teacher_blocks == [4]
    assert torch.equal(student_keep, ids_keep)
    assert torch.equal(teacher_kw['keep'], ids_keep)
    # the reconstruction scores exactly the other patches
    (_, _, head_mask), _ = rec['head'].calls[0]
    assert torch.equal(head_mask, mask)
    assert torch.equal(
        mask.gather(1, ids_keep), torch.zeros(3, 12, dtype=mask.dtype))
    assert mask.sum().item() == 3 * (49 - 12)


def test_teacher_targets_on_visible_tokens(teacher_ckpt, monkeypatch):
    model = _build(teacher_ckpt, align=[(1, 2), (3, 4)])
    x = _inputs(seed=3)
    _, rec = _run_recorded(model, x, monkeypatch, seed=11)
    keep = rec['embed'].calls[0][0][2]  # [B, K]
    targets = [args[1] for args, _ in rec['distill'].calls]
    assert [t.shape for t in targets] == [(3, 13, 128)] * 2
    assert all(t.dtype == torch.float32 for t in targets)
    full = _teacher_mae().backbone  # untruncated, same weights
    # 1. by hand: visible tokens through the blocks
    with torch.no_grad():
        tokens, outs = _visible(full, x, keep), []
        for layer in full.layers:
            tokens = layer(tokens)
            outs.append(tokens)
    assert torch.equal(targets[0], outs[2])
    assert torch.equal(targets[1], outs[4])
    # 2. MAEViT's own masked forward on the same mask, forward hooks
    hooked = {}
    for i in (2, 4):
        full.layers[i].register_forward_hook(
            lambda m, a, out, i=i: hooked.__setitem__(i, out))
    torch.manual_seed(11)  # the same noise draws the same mask
    with torch.no_grad():
        full(x)
    assert torch.equal(targets[0], hooked[2])
    assert torch.equal(targets[1], hooked[4])


def test_truncated_teacher(teacher_ckpt):
    model = _build(teacher_ckpt, align=[(1, 2), (3, 1)])
    vit = model.teacher.vit
    assert len(vit.layers) == 3  # blocks 3..5 are gone
    assert model.teacher.truncated and not vit.final_norm
    # teacher outside optimiser, checkpoint and autograd
    own = {id(p) for p in model.parameters()}
    assert not any(id(p) in own for p in model.teacher.parameters())
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert len(model.projs) == 2
    assert model.projs[0].weight.shape == (128, 96)


def test_reconstruction_equals_mae_loss(teacher_ckpt):
    model = _build(teacher_ckpt)
    mae = MODELS.build(copy.deepcopy(STUDENT))
    mae.load_state_dict(model.student.state_dict())
    x = _inputs(seed=4, batch=4)
    torch.manual_seed(21)
    ours = model.loss(x, [])['loss_rec']
    torch.manual_seed(21)
    theirs = mae.loss(x, [])['loss']
    assert torch.equal(ours, theirs)
    assert ours.item() > 0.1


@pytest.mark.parametrize('norm_pix', [False, True])
def test_norm_pix_is_the_heads(teacher_ckpt, norm_pix):
    student = copy.deepcopy(STUDENT)
    student['head']['norm_pix'] = norm_pix
    model = _build(teacher_ckpt, student=student)
    assert model.student.head.norm_pix is norm_pix


def test_identical_student_distills_zero(teacher_ckpt):
    """Student = teacher (same arch, same weights), blocks i <-> i and an
    identity projection: the distillation term is exactly zero."""
    student = copy.deepcopy(TEACHER_MAE)
    align = [(0, 0), (2, 2), (5, 5)]
    model = _build(teacher_ckpt, student=student, align=align)
    model.student.load_state_dict(_teacher_mae().state_dict())
    with torch.no_grad():
        for proj in model.projs:
            proj.weight.copy_(torch.eye(128))
            proj.bias.zero_()
    x = _inputs(seed=5)
    torch.manual_seed(0)
    losses = model.loss(x, [])
    assert losses['loss_distill'].item() == 0.0
    assert losses['loss_rec'].item() > 0
    # a perturbed projection is not zero
    with torch.no_grad():
        model.projs[1].weight.add_(0.1 * torch.randn(128, 128))
    assert model.loss(x, [])['loss_distill'].item() > 1e-3


def test_mask_ratio_and_weight(teacher_ckpt, monkeypatch):
    model = _build(teacher_ckpt, mask_ratio=0.95, distill_weight=0.5)
    assert model.mask_ratio == 0.95
    x = _inputs(seed=6)
    losses, rec = _run_recorded(model, x, monkeypatch)
    assert rec['embed'].calls[0][0][2].shape == (3, 2)  # int(49 * 0.05)
    distill = rec['distill'].calls[0]
    raw = rec['distill'].fn(*distill[0])
    assert losses['loss_distill'].item() == pytest.approx(0.5 * raw.item())
    # default: the student backbone's ratio
    assert _build(teacher_ckpt).mask_ratio == 0.75


def test_tensor_mode_is_unmasked_student(teacher_ckpt):
    model = _build(teacher_ckpt)
    x = _inputs(seed=7)
    feats = model(x, mode='tensor')
    expected = model.student.backbone(x, mask=None)
    assert feats[0].shape == (3, 50, 96)
    assert torch.equal(feats[0], expected[0])


def test_bad_blocks_name_the_valid_range(teacher_ckpt):
    with pytest.raises(IndexError, match=r'student.*blocks 0\.\.3'):
        _build(teacher_ckpt, align=[(4, 4)])
    with pytest.raises(IndexError, match=r'teacher.*blocks 0\.\.5'):
        _build(teacher_ckpt, align=[(2, 6)])
    with pytest.raises(ValueError, match='align'):
        _build(teacher_ckpt, align=[])
    with pytest.raises(ValueError, match='no visible patch'):
        _build(teacher_ckpt, mask_ratio=0.99)


def test_patch_mismatch_raises(tmp_path):
    # same grid (4x4), other patch size: 28 / 7 vs 16 / 4
    teacher = copy.deepcopy(TEACHER)
    teacher.update(patch_size=7)
    with pytest.raises(ValueError, match=r'patch size \(4, 4\).*\(7, 7\)'):
        _build(None, teacher=_teacher_cfg(None, teacher))
    # same patch size, other grid: 8x8 vs 7x7
    teacher = copy.deepcopy(TEACHER)
    teacher.update(img_size=32)
    with pytest.raises(ValueError, match=r'patch grid \(7, 7\).*\(8, 8\)'):
        _build(None, teacher=_teacher_cfg(None, teacher))


def test_short_training_on_digits_lowers_the_loss():
    """40 AdamW steps on sklearn digits (8x8, 2x2 patches -> 16 tokens),
    tiny student and seeded teacher: the total loss goes down."""
    from sklearn.datasets import load_digits

    def tiny(dims, layers):
        arch = dict(
            embed_dims=dims,
            num_layers=layers,
            num_heads=2,
            feedforward_channels=dims * 2)
        return dict(
            type='MAEViT',
            arch=arch,
            img_size=8,
            patch_size=2,
            patch_cfg=dict(in_channels=1),
            mask_ratio=0.5)

    student = copy.deepcopy(STUDENT)
    student['backbone'] = tiny(32, 2)
    student['neck'].update(
        num_patches=16,
        patch_size=2,
        embed_dim=32,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=2)
    student['head'].update(patch_size=2)
    torch.manual_seed(0)
    teacher = _teacher_cfg(None, tiny(48, 3))
    model = DMAE(
        student,
        teacher,
        align=[(1, 2)],
        data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor', mean=[8.], std=[6.]))
    model.init_weights()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    digits = load_digits()
    images = torch.from_numpy(digits.images[:, None]).float()  # [N, 1, 8, 8]
    totals, distills = [], []
    for step in range(40):
        batch = images[(step * 64) % 1792:][:64]
        data = dict(inputs=list(batch), data_samples=[DataSample()] * 64)
        losses = model.train_step(data, optim)
        totals.append(losses['loss'].item())
        distills.append(losses['loss_distill'].item())
    first, last = sum(totals[:5]) / 5, sum(totals[-5:]) / 5
    assert last < 0.7 * first, totals
    assert sum(distills[-5:]) < 0.9 * sum(distills[:5]), distills


def test_runs_under_autocast(teacher_ckpt, monkeypatch):
    """As under AmpOptimWrapper (bf16 autocast: CPU has no fp16 AMP): the
    teacher's targets stay fp32 and the losses are finite."""
    model = _build(teacher_ckpt)
    x = _inputs(seed=8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses, rec = _run_recorded(model, x, monkeypatch)
    (tap, target), _ = rec['distill'].calls[0]
    assert tap.dtype == torch.bfloat16 and target.dtype == torch.float32
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_distill'].dtype == torch.float32
