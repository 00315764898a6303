"""DMT: fused targets, fusion weights, losses, grid resizing and the frozen
teachers, against independent computations on tiny ViTs."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmkd_plugin  # noqa: F401
from mmkd_plugin.models.vit_taps import embed_tokens
from mmkd_plugin.teachers import teachers_by_name
from mmkd_plugin.teachers.multi import (MultiTeacher, named_teachers,
                                        resize_tokens)

MEAN, STD = [72.94], [90.02]


@pytest.fixture(autouse=True, scope='module')
def scope():
    init_default_scope('mmpretrain')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; the CPU is shared
    yield
    torch.set_num_threads(threads)


def _vit(dims, patch, layers=2, **kwargs):
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=dims,
            num_layers=layers,
            num_heads=2,
            feedforward_channels=2 * dims),
        img_size=28,
        patch_size=patch,
        in_channels=1,
        **kwargs)


def _teacher(dims, patch, path=None, **kwargs):
    return dict(
        type='FrozenTeacher',
        model=_vit(dims, patch, layers=3),
        checkpoint=path,
        **kwargs)


def _dmt(teachers, **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='DMT',
        student=_vit(16, 4),
        teachers=teachers,
        data_preprocessor=dict(mean=MEAN, std=STD, to_rgb=False))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _seeded_teacher_file(tmp_path, dims, patch, seed):
    """A randomly initialised 3-block teacher saved as a checkpoint."""
    torch.manual_seed(seed)
    model = MODELS.build(_vit(dims, patch, layers=3))
    for p in model.parameters():  # away from the constant init
        p.data.add_(0.1 * torch.randn_like(p))
    path = tmp_path / f'teacher{seed}.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path), model


def _layer_norm(x):
    """LayerNorm without affine parameters, from its definition."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def _smooth_l1(a, b, beta=1.0):
    d = (a - b).abs()
    return torch.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta).mean()


# --- losses -----------------------------------------------------------------


def test_smooth_l1_loss_against_its_formula():
    torch.manual_seed(0)
    a, b = torch.randn(2, 5, 8) * 2, torch.randn(2, 5, 8)
    for beta in (1.0, 0.5):
        loss = MODELS.build(
            dict(type='SmoothL1FeatureLoss', beta=beta, loss_weight=2.0))
        assert torch.allclose(loss(a, b), 2 * _smooth_l1(a, b, beta))
    # pinned on seeded inputs
    assert MODELS.build(dict(type='SmoothL1FeatureLoss'))(a, b).item() == \
        pytest.approx(_smooth_l1(a, b).item())
    with pytest.raises(ValueError, match='differ in shape'):
        loss(a, b[:, :4])
    with pytest.raises(ValueError, match='beta'):
        MODELS.build(dict(type='SmoothL1FeatureLoss', beta=0))


def test_negative_cosine_loss_against_its_formula():
    torch.manual_seed(0)
    a, b = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    loss = MODELS.build(dict(type='CosineSimilarityLoss'))
    assert torch.allclose(loss(a, b), -cos.mean(), atol=1e-6)
    assert torch.allclose(loss(a, 3 * a), torch.tensor(-1.), atol=1e-6)


# --- heads ------------------------------------------------------------------


def _head(kind='TokenFusionHead', **kwargs):
    cfg = dict(
        type=kind, in_dims=12, teacher_dims=dict(a=8, b=16, c=16), **kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_fused_target_against_an_independent_computation():
    head = _head(weights=[1., 2., 1.], embed_dims=16)
    torch.manual_seed(1)
    s = torch.randn(3, 12)
    ts = [torch.randn(3, 8), torch.randn(3, 16), torch.randn(3, 16)]
    # the adapters: an isometry for the narrow teacher, identities else
    A = head.adapter0
    assert A.shape == (16, 8)
    assert torch.allclose(A.T @ A, torch.eye(8), atol=1e-5)
    assert torch.equal(head.adapter1, torch.eye(16))
    fused = (0.25 * _layer_norm(ts[0] @ A.T) + 0.5 * _layer_norm(ts[1]) +
             0.25 * _layer_norm(ts[2]))
    proj = head.projectors[0]
    pred = s @ proj.weight.T + proj.bias
    out = head(s, ts)
    assert set(out) == {'loss_tfd'}  # fixed weights: nothing to log
    assert torch.allclose(out['loss_tfd'], _smooth_l1(pred, fused))
    # the spatial head does the same per token
    sfd = _head('SpatialFusionHead', weights=[1., 2., 1.], embed_dims=16)
    sfd.load_state_dict(head.state_dict())
    s3 = s[:, None].expand(-1, 4, -1)  # [B, 4 tokens, D_s]
    out = sfd(s3, [t[:, None].expand(-1, 4, -1) for t in ts])
    assert torch.allclose(out['loss_sfd'], _smooth_l1(pred, fused))


def test_one_teacher_fusion_equals_single_teacher_distillation():
    torch.manual_seed(0)
    s, t = torch.randn(4, 12), torch.randn(4, 16)
    losses = []
    for fusion in ('mean', 'learned', 'none'):
        torch.manual_seed(0)
        head = MODELS.build(
            dict(
                type='TokenFusionHead',
                in_dims=12,
                teacher_dims=dict(only=16),
                fusion=fusion,
                loss=dict(type='CosineSimilarityLoss')))
        losses.append(head(s, [t])['loss_tfd'])
    proj = head.projectors[0]
    single = -F.cosine_similarity(proj(s), _layer_norm(t), dim=-1).mean()
    for loss in losses:
        assert torch.allclose(loss, single, atol=1e-6)


def test_learned_weights_get_gradients_and_sum_to_one():
    head = _head('SpatialFusionHead', fusion='learned')
    torch.manual_seed(1)
    s = torch.randn(2, 5, 12)
    ts = [torch.randn(2, 5, d) for d in (8, 16, 16)]
    out = head(s, ts)
    logged = [out[f'sfd_weight_{n}'] for n in 'abc']
    assert sum(logged).item() == pytest.approx(1.0)
    assert all(not w.requires_grad for w in logged)  # logged, not trained
    out['loss_sfd'].backward()
    assert head.logits.grad is not None and head.logits.grad.abs().sum() > 0
    opt = torch.optim.SGD(head.parameters(), lr=10.0)
    opt.step()
    weights = head.weights()
    assert weights.sum().item() == pytest.approx(1.0)
    assert not torch.allclose(weights, torch.full((3, ), 1 / 3))


def test_per_teacher_baseline_is_the_weighted_sum_of_single_losses():
    head = _head(fusion='none', weights=[2., 1., 1.])
    assert len(head.projectors) == 3
    torch.manual_seed(1)
    s = torch.randn(3, 12)
    ts = [torch.randn(3, d) for d in (8, 16, 16)]
    targets = [_layer_norm(ts[0] @ head.adapter0.T)] + \
        [_layer_norm(t) for t in ts[1:]]
    expected = sum(
        w * _smooth_l1(p(s), t)
        for w, p, t in zip((0.5, 0.25, 0.25), head.projectors, targets))
    assert torch.allclose(head(s, ts)['loss_tfd'], expected)


def test_head_bad_inputs():
    with pytest.raises(ValueError, match=r"one per teacher \['a', 'b', 'c'\]"):
        _head(weights=[1., 1.])
    with pytest.raises(ValueError, match='positive'):
        _head(weights=[1., 0., 1.])
    with pytest.raises(ValueError, match='fusion must be one of'):
        _head(fusion='max')
    head = _head()
    with pytest.raises(ValueError, match='2 teacher features'):
        head(torch.randn(2, 12), [torch.randn(2, 8), torch.randn(2, 16)])
    with pytest.raises(ValueError, match='teacher b features'):
        head(
            torch.randn(2, 12),
            [torch.randn(2, 8),
             torch.randn(3, 16),
             torch.randn(2, 16)])


# --- grids ------------------------------------------------------------------


def test_resize_tokens_against_interpolate():
    torch.manual_seed(0)
    maps = torch.randn(2, 6, 4, 4)  # [B, D, h, w]
    tokens = maps.permute(0, 2, 3, 1).reshape(2, 16, 6)  # row-major
    expected = F.interpolate(
        maps, size=(7, 7), mode='bilinear', align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(2, 49, 6)
    assert torch.allclose(resize_tokens(tokens, (4, 4), (7, 7)), expected)
    assert resize_tokens(tokens, (4, 4), (4, 4)) is tokens


def test_teachers_on_the_student_grid(tmp_path):
    """A 7x7-patch teacher's 4x4 map is resized to the student's 7x7 grid;
    the truncated teachers give the full models' block outputs."""
    path4, full4 = _seeded_teacher_file(tmp_path, 24, 4, seed=1)
    path7, full7 = _seeded_teacher_file(tmp_path, 32, 7, seed=2)
    model = _dmt(
        dict(p4=_teacher(24, 4, path4), p7=_teacher(32, 7, path7)),
        blocks=dict(p7=1))
    assert model.multi.grids == dict(p4=(7, 7), p7=(4, 4))
    assert model.multi.blocks == dict(p4=2, p7=1)
    assert [len(t.vit.layers) for t in model.teachers.values()] == [3, 2]
    torch.manual_seed(3)
    x = torch.randn(2, 1, 28, 28)
    feats = model.multi(x)
    full7.eval()
    full4.eval()
    # the untruncated models' block outputs, layer by layer
    with torch.no_grad():
        t7 = embed_tokens(full7, x)
        for layer in full7.layers[:2]:
            t7 = layer(t7)
        t4 = embed_tokens(full4, x)
        for layer in full4.layers:
            t4 = layer(t4)
    cls7, patches7 = feats['p7']
    assert torch.allclose(cls7, t7[:, 0], atol=1e-6)
    maps = t7[:, 1:].transpose(1, 2).reshape(2, 32, 4, 4)
    expected = F.interpolate(maps, size=(7, 7), mode='bilinear')
    assert torch.allclose(
        patches7, expected.flatten(2).transpose(1, 2), atol=1e-6)
    assert torch.allclose(feats['p4'][1], t4[:, 1:], atol=1e-6)
    losses = model.loss(x)
    assert set(losses) == {'loss_tfd', 'loss_sfd'}


# --- the algorithm ----------------------------------------------------------


def test_one_teacher_dmt_is_single_teacher_distillation(tmp_path):
    path, full = _seeded_teacher_file(tmp_path, 24, 4, seed=1)
    model = _dmt(
        dict(t=_teacher(24, 4, path)),
        sfd=dict(
            type='SpatialFusionHead', loss=dict(type='CosineSimilarityLoss')))
    model.eval()  # no drop path anywhere
    torch.manual_seed(3)
    x = torch.randn(2, 1, 28, 28)
    losses = model.loss(x)
    with torch.no_grad():
        t = embed_tokens(full, x)
        for layer in full.layers:
            t = layer(t)
    vit = model.student
    with torch.no_grad():
        s = embed_tokens(vit, x)
        for layer in vit.layers:
            s = layer(s)
        s = vit.ln1(s)  # the student's tokens: after its final norm
    tfd = _smooth_l1(model.tfd.projectors[0](s[:, 0]), _layer_norm(t[:, 0]))
    sfd = -F.cosine_similarity(
        model.sfd.projectors[0](s[:, 1:]), _layer_norm(t[:, 1:]),
        dim=-1).mean()
    assert torch.allclose(losses['loss_tfd'], tfd, atol=1e-6)
    assert torch.allclose(losses['loss_sfd'], sfd, atol=1e-6)


def test_masked_student_regresses_the_visible_tokens():
    model = _dmt(dict(t=_teacher(24, 4)), tfd=None, mask_ratio=0.75)
    model.eval()
    torch.manual_seed(3)
    x = torch.randn(2, 1, 28, 28)
    torch.manual_seed(5)
    loss = model.loss(x)['loss_sfd']
    torch.manual_seed(5)  # the same draw: 49 * 0.25 -> 12 visible patches
    keep = torch.rand(2, 49).argsort(dim=1)[:, :12]
    s = model.student_tokens(x, keep)  # [B, 1 + 12, D]
    assert s.shape[1] == 13
    patches = model.multi(x)['t'][1]
    target = torch.stack([p[k] for p, k in zip(patches, keep)])
    expected = _smooth_l1(model.sfd.projectors[0](s[:, 1:]),
                          _layer_norm(target))
    assert torch.allclose(loss, expected, atol=1e-6)


def test_teachers_are_frozen_and_outside_the_model(tmp_path):
    path, _ = _seeded_teacher_file(tmp_path, 24, 4, seed=1)
    model = _dmt(
        dict(a=_teacher(24, 4, path), b=_teacher(32, 7)),
        tfd=dict(type='TokenFusionHead', fusion='learned'))
    model.train()
    teachers = list(model.teachers.values())
    before = [copy.deepcopy(t.state_dict()) for t in teachers]
    names = [n for n, _ in model.named_parameters()]
    assert not any('teacher' in n for n in names)
    assert not any('teacher' in k for k in model.state_dict())
    optim = build_optim_wrapper(model,
                                dict(optimizer=dict(type='AdamW', lr=1e-2)))
    data = dict(
        inputs=[torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)] * 2)
    log = model.train_step(data, optim)
    assert {'loss', 'loss_tfd', 'loss_sfd', 'tfd_weight_a',
            'tfd_weight_b'} <= set(log)
    for teacher, state in zip(teachers, before):
        assert not teacher.training
        assert all(not m.training for m in teacher.modules())
        for name, p in teacher.named_parameters():
            assert not p.requires_grad and p.grad is None, name
        for key, value in teacher.state_dict().items():
            assert torch.equal(value, state[key]), key
    # the fusion weights were trained (the wrapper zeroes grads after)
    assert not torch.allclose(model.tfd.weights(), torch.full((2, ), 0.5))
    assert set(model.teacher_records()) == {'a', 'b'}
    assert model.teacher_records()['a']['source'] == path


def test_teachers_keep_their_own_normalisation(tmp_path):
    path, full = _seeded_teacher_file(tmp_path, 24, 4, seed=1)
    model = _dmt(
        dict(t=_teacher(24, 4, path, mean=[100.], std=[50.])), sfd=None)
    pixels = torch.rand(2, 1, 28, 28) * 255
    x = (pixels - MEAN[0]) / STD[0]  # what the data preprocessor gives
    with torch.no_grad():
        t = embed_tokens(full, (pixels - 100.) / 50.)
        for layer in full.layers:
            t = layer(t)
    assert torch.allclose(model.multi(x)['t'][0], t[:, 0], atol=1e-5)


def test_build_time_errors():
    with pytest.raises(ValueError, match='cannot be aligned'):
        _dmt(dict(a=_teacher(24, 4), b=_teacher(24, 8)))  # 28 % 8 != 0
    with pytest.raises(ValueError, match="duplicate teacher name 'a'"):
        _dmt([
            dict(name='a', **_teacher(24, 4)),
            dict(name='a', **_teacher(24, 7))
        ])
    with pytest.raises(ValueError, match='identifiers'):
        _dmt([dict(name='a b', **_teacher(24, 4))])
    with pytest.raises(ValueError, match='3 positive numbers'):
        _dmt(
            dict(a=_teacher(24, 4), b=_teacher(24, 7), c=_teacher(16, 4)),
            sfd=dict(type='SpatialFusionHead', weights=[1., 1.]))
    with pytest.raises(ValueError, match=r"unknown teachers \['x'\]"):
        _dmt(dict(a=_teacher(24, 4)), blocks=dict(x=1))
    with pytest.raises(IndexError, match='blocks 0..2'):
        _dmt(dict(a=_teacher(24, 4)), blocks=dict(a=3))
    no_cls = dict(
        _teacher(24, 4),
        model=_vit(24, 4, with_cls_token=False, out_type='featmap'))
    with pytest.raises(ValueError, match='teacher a has no CLS token'):
        _dmt(dict(a=no_cls))
    _dmt(dict(a=no_cls), tfd=None)  # spatial fusion needs no CLS
    with pytest.raises(ValueError, match='tfd, sfd or both'):
        _dmt(dict(a=_teacher(24, 4)), tfd=None, sfd=None)
    with pytest.raises(ValueError, match='mask_ratio'):
        _dmt(dict(a=_teacher(24, 4)), mask_ratio=1.0)
    # list form, no duplicates: the names and order are kept
    model = _dmt(
        [dict(name='b', **_teacher(24, 4)),
         dict(name='a', **_teacher(24, 7))],
        tfd=None)
    assert list(model.teachers) == ['b', 'a']
    assert isinstance(model.multi, MultiTeacher)


# --- teacher order ----------------------------------------------------------


def test_dict_teachers_by_name_lists_as_written():
    written = dict(z=dict(k=1), a=dict(k=2))
    assert list(teachers_by_name(written)) == ['a', 'z']
    assert list(named_teachers(written)) == ['a', 'z']
    listed = [dict(name='z', k=1), dict(name='a', k=2)]
    assert list(named_teachers(listed)) == ['z', 'a']  # as written
    assert named_teachers(listed) == written


@pytest.mark.parametrize('form', ['dict', 'list'])
def test_teacher_order_survives_a_config_dump(tmp_path, form):
    """The copy of a config a run writes (``Config.dump`` sorts dict keys,
    keeps lists) builds the same DMT: the same teacher order, each adapter,
    projector and weight with the same teacher, the same loss."""
    # name -> (width, patch, seed, weight), written out of name order
    spec = dict(z=(24, 4, 1, 1.), a=(32, 7, 2, 2.), m=(16, 4, 3, 5.))
    teachers = {
        name:
        _teacher(dims, patch,
                 _seeded_teacher_file(tmp_path, dims, patch, seed)[0])
        for name, (dims, patch, seed, _) in spec.items()
    }
    order = ['a', 'm', 'z']  # by name
    if form == 'list':
        teachers = [dict(name=n, **t) for n, t in teachers.items()]
        order = list(spec)  # as written
    weights = [spec[n][3] for n in order]  # positional: the teachers' order
    cfg = Config(
        dict(
            model=dict(
                type='DMT',
                student=_vit(16, 4),
                teachers=teachers,
                tfd=dict(
                    type='TokenFusionHead', fusion='none', weights=weights),
                sfd=dict(
                    type='SpatialFusionHead',
                    fusion='learned',
                    weights=weights),
                data_preprocessor=dict(mean=MEAN, std=STD, to_rgb=False))))
    cfg.dump(str(tmp_path / 'dumped.py'))
    dumped = Config.fromfile(str(tmp_path / 'dumped.py'))
    assert (list(dumped.model.teachers) == ['a', 'm', 'z']) == \
        (form == 'dict')  # the dump sorted the dict, kept the list
    torch.manual_seed(3)
    x = torch.randn(2, 1, 28, 28)
    models, losses = [], []
    for c in (cfg, dumped):
        torch.manual_seed(0)
        models.append(MODELS.build(c.model).eval())
        losses.append(models[-1].loss(x))
    for model in models:
        assert list(model.teachers) == list(model.multi.dims) == order
        for head in (model.tfd, model.sfd):
            assert head.names == order
            by_name = dict(zip(head.names, head.weights().tolist()))
            assert by_name == pytest.approx({
                n: w / 8
                for n, (*_, w) in spec.items()
            })
            widths = [
                getattr(head, f'adapter{k}').shape[1]
                for k in range(len(order))
            ]
            assert widths == [spec[n][0] for n in order]
        for name, teacher in model.teachers.items():  # its own checkpoint
            assert teacher.vit.embed_dims == spec[name][0]
    first, again = (m.state_dict() for m in models)
    assert list(first) == list(again)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert set(losses[0]) == {
        'loss_tfd', 'loss_sfd', *(f'sfd_weight_{n}' for n in order)
    }
    for key, value in losses[0].items():
        assert torch.equal(value, losses[1][key]), key
