"""FrozenTeacher: strict loading, frozen by construction, exact taps."""
import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine import Config
from mmpretrain.registry import MODELS

from mmkd_plugin.teachers import FrozenTeacher, build_teacher
from mmkd_plugin.utils import CheckpointError

CONFIGS = Path(__file__).parents[2] / 'configs'
MODEL_CFG = Config.fromfile(
    str(CONFIGS / '_base_/models/vit_fashion_mnist.py')).vit_teacher.to_dict()
DEPTH = MODEL_CFG['backbone']['arch']['num_layers']  # 6


def _randomised_model(seed: int):
    """The teacher classifier with every weight seeded and non-trivial
    (mmpretrain zero-initialises cls_token, pos_embed and the head)."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(MODEL_CFG))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    model.eval()
    return model


@pytest.fixture(scope='module')
def source():
    return _randomised_model(seed=0)


@pytest.fixture(scope='module')
def ckpts(source, tmp_path_factory):
    root = tmp_path_factory.mktemp('teacher_ckpts')
    bare = root / 'bare.pth'
    torch.save(source.state_dict(), bare)
    mmengine_style = root / 'epoch_3.pth'
    torch.save(
        dict(
            state_dict=source.state_dict(),
            meta=dict(epoch=4, iter=100, seed=0, acc=np.float64(0.875))),
        mmengine_style)
    return dict(bare=str(bare), mmengine=str(mmengine_style))


@pytest.fixture(scope='module')
def teacher(ckpts):
    return FrozenTeacher(copy.deepcopy(MODEL_CFG), ckpts['mmengine'])


def _images(seed: int, batch: int = 3):
    """Raw uint8-valued pixels [B, 1, 28, 28] as float."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 1, 28, 28), generator=g).float()


def _inputs(seed: int, batch: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1, 28, 28, generator=g)


@pytest.mark.parametrize('kind', ['bare', 'mmengine'])
def test_logits_equal_source_model(source, ckpts, kind):
    teacher = FrozenTeacher(copy.deepcopy(MODEL_CFG), ckpts[kind])
    x = _inputs(seed=1)
    with torch.no_grad():
        expected = source(x, mode='tensor')  # [B, 10]
    got = teacher.logits(x)
    assert torch.equal(got, expected)
    # the weights make a difference: a fresh model disagrees
    assert expected.std() > 1e-2


def test_all_parameters_frozen(teacher):
    params = list(teacher.parameters())
    assert len(params) > 0
    assert all(not p.requires_grad for p in params)


def test_train_keeps_eval_mode(teacher, source):
    assert teacher.train() is teacher
    teacher.train(True)
    assert not teacher.training
    assert not any(m.training for m in teacher.modules())
    # the teacher has drop_path_rate=0.1: in train mode its output would be
    # random; it is not, and equals the source model in eval mode
    x = _inputs(seed=2)
    with torch.no_grad():
        expected = source(x, mode='tensor')
    assert torch.equal(teacher.logits(x), expected)
    assert torch.equal(teacher.logits(x), expected)


def test_no_gradient_reaches_teacher(teacher):
    torch.manual_seed(0)
    student = torch.nn.Linear(28 * 28, 10)
    x = _inputs(seed=3).requires_grad_(True)
    target = teacher.logits(x)  # [B, 10]
    feats = teacher.block_outputs(x, [2])[0]  # [B, 17, 128]
    assert not target.requires_grad and not feats.requires_grad
    pred = student(x.flatten(1))
    loss = F.mse_loss(pred, target) + feats.mean() * pred.sum()
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.weight.grad is not None
    assert student.weight.grad.abs().sum() > 0


def _hooked_block_outputs(model, x):
    """Each block's output and the final-norm output, via forward hooks."""
    outs, final = {}, []
    handles = [
        layer.register_forward_hook(
            lambda mod, args, out, i=i: outs.__setitem__(i, out))
        for i, layer in enumerate(model.backbone.layers)
    ]
    handles.append(
        model.backbone.ln1.register_forward_hook(
            lambda mod, args, out: final.append(out)))
    try:
        with torch.no_grad():
            feats = model.backbone(x)
    finally:
        for handle in handles:
            handle.remove()
    return outs, final[0], feats


def test_block_outputs_equal_source_blocks(teacher, source):
    x = _inputs(seed=4)
    outs, final_norm, feats = _hooked_block_outputs(source, x)
    got = teacher.block_outputs(x, [1, 3])
    assert len(got) == 2
    assert torch.equal(got[0], outs[1])
    assert torch.equal(got[1], outs[3])
    assert not torch.allclose(got[0], got[1])


def test_last_block_is_pre_final_norm_stream(teacher, source):
    x = _inputs(seed=5)
    outs, final_norm, feats = _hooked_block_outputs(source, x)
    last = teacher.block_outputs(x, [DEPTH - 1])[0]  # [B, 17, 128]
    assert torch.equal(last, outs[DEPTH - 1])
    with torch.no_grad():
        normed = source.backbone.ln1(last)
    assert torch.equal(normed, final_norm)
    # out_type='cls_token': the backbone output is the normed CLS token
    assert torch.equal(normed[:, 0], feats[-1])
    assert not torch.allclose(last, normed)


def test_block_outputs_order_follows_request(teacher):
    x = _inputs(seed=6)
    a, b = teacher.block_outputs(x, [3, 1])
    c, d = teacher.block_outputs(x, [1, 3])
    assert torch.equal(a, d) and torch.equal(b, c)


@pytest.mark.parametrize('variant', [
    dict(pre_norm=True),
    dict(with_cls_token=False, out_type='avg_featmap'),
])
def test_block_outputs_other_vit_layouts(tmp_path, variant):
    """CLIP-style pre-norm and CLS-free ViTs: the taps still equal the
    source model's blocks."""
    backbone = dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64),
        img_size=28,
        patch_size=7,
        in_channels=1,
        out_type='cls_token')
    backbone.update(variant)
    cfg = dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=None,
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    torch.manual_seed(1)
    source = MODELS.build(copy.deepcopy(cfg))
    with torch.no_grad():
        for param in source.parameters():
            param.add_(0.05 * torch.randn_like(param))
    source.eval()
    path = tmp_path / 'variant.pth'
    torch.save(source.state_dict(), path)
    teacher = FrozenTeacher(copy.deepcopy(cfg), str(path))
    x = _inputs(seed=13)
    outs, _, _ = _hooked_block_outputs(source, x)
    got = teacher.block_outputs(x, [0, 2])
    assert torch.equal(got[0], outs[0])
    assert torch.equal(got[1], outs[2])
    with torch.no_grad():
        assert torch.equal(teacher.logits(x), source(x, mode='tensor'))


def test_blocks_after_the_deepest_are_not_run(teacher):
    calls = []
    modules = list(teacher.model.backbone.layers) + [
        teacher.model.backbone.ln1, teacher.model.head
    ]
    handles = [
        m.register_forward_hook(lambda mod, args, out, i=i: calls.append(i))
        for i, m in enumerate(modules)
    ]
    try:
        teacher.block_outputs(_inputs(seed=12), [0, 2])
    finally:
        for handle in handles:
            handle.remove()
    assert calls == [0, 1, 2]


@pytest.mark.parametrize('bad', [[DEPTH], [0, DEPTH + 3], [-1]])
def test_block_index_out_of_range(teacher, bad):
    with pytest.raises(IndexError, match=f'0..{DEPTH - 1}'):
        teacher.block_outputs(_inputs(seed=7), bad)
    with pytest.raises(IndexError, match=f'0..{DEPTH - 1}'):
        teacher.check_blocks(bad)


def test_missing_checkpoint_names_path(tmp_path):
    path = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(CheckpointError, match='no_such_teacher.pth'):
        FrozenTeacher(copy.deepcopy(MODEL_CFG), path)


def _broken(source, tmp_path, how: str) -> str:
    state = dict(source.state_dict())
    if how == 'missing':
        del state['backbone.layers.2.attn.qkv.weight']
    elif how == 'extra':
        state['backbone.layers.9.attn.qkv.weight'] = torch.zeros(3)
    else:
        state['head.layers.head.weight'] = torch.zeros(10, 64)
    path = tmp_path / f'{how}.pth'
    torch.save(dict(state_dict=state), path)
    return str(path)


@pytest.mark.parametrize('how,key', [
    ('missing', 'backbone.layers.2.attn.qkv.weight'),
    ('extra', 'backbone.layers.9.attn.qkv.weight'),
    ('shape', 'head.layers.head.weight'),
])
def test_bad_checkpoint_names_key(source, tmp_path, how, key):
    path = _broken(source, tmp_path, how)
    with pytest.raises(CheckpointError) as err:
        FrozenTeacher(copy.deepcopy(MODEL_CFG), path)
    message = str(err.value)
    assert key in message
    assert path in message
    if how == 'shape':
        assert '(10, 64) vs (10, 128)' in message


def test_record_path_and_sha256(teacher, ckpts):
    path = ckpts['mmengine']
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert teacher.record == dict(source=path, sha256=digest)


def test_no_checkpoint_no_record():
    teacher = FrozenTeacher(copy.deepcopy(MODEL_CFG), None)
    assert teacher.record == dict(source=None, sha256=None)
    assert all(not p.requires_grad for p in teacher.parameters())


def test_prefix_loads_a_distilled_student(source, tmp_path):
    # a distillation checkpoint: the weights live under 'student.'
    state = {f'student.{k}': v for k, v in source.state_dict().items()}
    state['other.weight'] = torch.zeros(2)
    path = tmp_path / 'kd.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    teacher = FrozenTeacher(
        copy.deepcopy(MODEL_CFG), str(path), prefix='student.')
    x = _inputs(seed=8)
    with torch.no_grad():
        expected = source(x, mode='tensor')
    assert torch.equal(teacher.logits(x), expected)


def test_build_teacher_from_config(ckpts, source):
    teacher = build_teacher(
        dict(
            type='FrozenTeacher',
            model=copy.deepcopy(MODEL_CFG),
            checkpoint=ckpts['bare']))
    assert isinstance(teacher, FrozenTeacher)
    x = _inputs(seed=9)
    with torch.no_grad():
        expected = source(x, mode='tensor')
    assert torch.equal(teacher.logits(x), expected)


STUDENT_MEAN, STUDENT_STD = 72.94, 90.02
TEACHER_MEAN, TEACHER_STD = 127.5, 63.75


def test_own_normalisation(ckpts, source):
    teacher = FrozenTeacher(
        copy.deepcopy(MODEL_CFG),
        ckpts['bare'],
        mean=[TEACHER_MEAN],
        std=[TEACHER_STD])
    teacher.set_input_space(
        torch.tensor([STUDENT_MEAN]).view(-1, 1, 1),
        torch.tensor([STUDENT_STD]).view(-1, 1, 1))
    pixels = _images(seed=10)
    x_student = (pixels - STUDENT_MEAN) / STUDENT_STD
    expected = (pixels.double() - TEACHER_MEAN) / TEACHER_STD
    got = teacher.normalise(x_student)
    np.testing.assert_allclose(
        got.double().numpy(), expected.numpy(), rtol=0, atol=1e-5)
    # the teacher's logits are the source model's on its own normalisation
    with torch.no_grad():
        want = source(expected.float(), mode='tensor')
    torch.testing.assert_close(
        teacher.logits(x_student), want, rtol=1e-4, atol=1e-4)


def test_no_own_normalisation_is_identity():
    teacher = FrozenTeacher(copy.deepcopy(MODEL_CFG), None)
    x = _inputs(seed=11)
    assert torch.equal(teacher.normalise(x), x)
    teacher.set_input_space(
        torch.tensor([STUDENT_MEAN]).view(-1, 1, 1),
        torch.tensor([STUDENT_STD]).view(-1, 1, 1))
    assert torch.equal(teacher.normalise(x), x)


def test_mean_without_std_raises():
    with pytest.raises(ValueError, match='mean and std'):
        FrozenTeacher(copy.deepcopy(MODEL_CFG), None, mean=[127.5])
