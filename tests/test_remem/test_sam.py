"""SAMOptimWrapper: the update equals a hand-computed two-pass update,
weights are restored exactly, AMP skips on inf, clipping, layer-decay
construction, and build-time errors."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from mmkd_plugin.engine import AmpSAMOptimWrapper, SAMOptimWrapper

RHO = 0.05

pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _problem(seed=0):
    """A linear model [3 -> 2] and a regression batch of 5."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 3, generator=g))
        model.bias.copy_(torch.randn(2, generator=g))
    x, y = torch.randn(5, 3, generator=g), torch.randn(5, 2, generator=g)
    return model, x, y


def _loss(model, x, y):
    return 0.5 * (model(x) - y).pow(2).sum(1).mean()


def _grads(w, b, x, y):
    """Gradient of 0.5 * mean_n ||x W^T + b - y||^2, by hand."""
    r = x @ w.T + b - y  # [n, 2]
    return r.T @ x / x.shape[0], r.mean(0)


def _sam_grads(w, b, x, y, adaptive=False):
    """The second gradient: at w + rho * g / ||g|| (ASAM: w^2 g/||w g||)."""
    gw, gb = _grads(w, b, x, y)
    tw, tb = (w.abs(), b.abs()) if adaptive else (1.0, 1.0)
    norm = torch.cat([(tw * gw).flatten(), (tb * gb).flatten()]).norm()
    ew, eb = RHO * tw * tw * gw / norm, RHO * tb * tb * gb / norm
    return _grads(w + ew, b + eb, x, y)


def _wrapper(model, optimizer, **kwargs):
    cfg = dict(type='SAMOptimWrapper', rho=RHO, optimizer=optimizer)
    return build_optim_wrapper(model, dict(cfg, **kwargs))


def _step(model, wrapper, x, y):
    wrapper.update_params(
        _loss(model, x, y), closure=lambda: _loss(model, x, y))


@pytest.mark.parametrize('adaptive', [False, True])
def test_sgd_update_equals_hand_computed(adaptive):
    model, x, y = _problem()
    wrapper = _wrapper(
        model, dict(type='SGD', lr=0.1, momentum=0.9), adaptive=adaptive)
    assert isinstance(wrapper, SAMOptimWrapper)
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    buf_w = buf_b = None
    for _ in range(2):  # the second step also checks the momentum state
        gw, gb = _sam_grads(w, b, x, y, adaptive)
        buf_w = gw if buf_w is None else 0.9 * buf_w + gw
        buf_b = gb if buf_b is None else 0.9 * buf_b + gb
        w, b = w - 0.1 * buf_w, b - 0.1 * buf_b
        _step(model, wrapper, x, y)
        torch.testing.assert_close(model.weight, w, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.bias, b, rtol=1e-5, atol=1e-6)
    assert model.weight.grad is None or not model.weight.grad.any()


def test_adamw_update_equals_hand_computed():
    model, x, y = _problem(1)
    lr, wd, eps = 0.01, 0.1, 1e-8
    wrapper = _wrapper(model,
                       dict(type='AdamW', lr=lr, weight_decay=wd, eps=eps))
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    gw, gb = _sam_grads(w, b, x, y)
    # AdamW's first step: decay, then m_hat / (sqrt(v_hat) + eps) = g/|g|
    want_w = w * (1 - lr * wd) - lr * gw / (gw.abs() + eps)
    want_b = b * (1 - lr * wd) - lr * gb / (gb.abs() + eps)
    _step(model, wrapper, x, y)
    torch.testing.assert_close(model.weight, want_w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.bias, want_b, rtol=1e-5, atol=1e-6)


def test_weights_are_restored_exactly():
    """With lr = 0 the step changes nothing: w + e is undone bit for bit,
    and the second gradient is the one at w + e."""
    model, x, y = _problem(2)
    before = copy.deepcopy(model.state_dict())
    wrapper = _wrapper(model, dict(type='SGD', lr=0.0))
    seen = []

    def closure():
        seen.append(model.weight.detach().clone())
        return _loss(model, x, y)

    wrapper.update_params(_loss(model, x, y), closure=closure)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    gw, gb = _grads(before['weight'], before['bias'], x, y)
    norm = torch.cat([gw.flatten(), gb]).norm()
    torch.testing.assert_close(seen[0], before['weight'] + RHO * gw / norm)


def test_clipping_applies_to_the_second_gradient():
    model, x, y = _problem(3)
    wrapper = _wrapper(
        model, dict(type='SGD', lr=0.1), clip_grad=dict(max_norm=0.01))
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    gw, gb = _sam_grads(w, b, x, y)
    scale = 0.01 / (torch.cat([gw.flatten(), gb]).norm() + 1e-6)
    _step(model, wrapper, x, y)
    torch.testing.assert_close(model.weight, w - 0.1 * scale * gw)
    torch.testing.assert_close(model.bias, b - 0.1 * scale * gb)


def _amp(model, **kwargs):
    return build_optim_wrapper(
        model,
        dict(
            type='AmpSAMOptimWrapper',
            rho=RHO,
            dtype='bfloat16',
            optimizer=dict(type='SGD', lr=0.1),
            **kwargs))


def test_amp_step_close_to_fp32_hand_computed():
    model, x, y = _problem(4)
    wrapper = _amp(model)
    assert isinstance(wrapper, AmpSAMOptimWrapper)
    w = model.weight.detach().clone()
    gw, _ = _sam_grads(w, model.bias.detach(), x, y)

    def closure():
        with wrapper.optim_context(model):  # bf16 autocast
            return _loss(model, x, y)

    wrapper.update_params(closure(), closure=closure)
    wrapper._recorded = None
    torch.testing.assert_close(model.weight, w - 0.1 * gw, rtol=0, atol=0.02)
    assert wrapper.loss_scaler.get_scale() == 65536.0


@pytest.mark.parametrize('where', ['first', 'second'])
def test_amp_skips_the_step_on_inf(where):
    model, x, y = _problem(5)
    wrapper = _amp(model)
    before = copy.deepcopy(model.state_dict())
    calls = []

    def closure():
        calls.append(1)
        loss = _loss(model, x, y)
        # an inf gradient in the chosen pass
        bad = (where == 'first') == (len(calls) == 1)
        return loss * float('inf') if bad else loss

    wrapper.update_params(closure(), closure=closure)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # no step, restored
    assert len(calls) == (1 if where == 'first' else 2)
    assert wrapper.loss_scaler.get_scale() == 32768.0  # backed off
    # and the next, finite step goes through at the lower scale
    wrapper.update_params(
        _loss(model, x, y), closure=lambda: _loss(model, x, y))
    assert not torch.equal(model.weight, before['weight'])


def _vit(seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=16,
                    num_layers=3,
                    num_heads=2,
                    feedforward_channels=32),
                img_size=8,
                patch_size=4,
                in_channels=1),
            head=dict(
                type='VisionTransformerClsHead', num_classes=3,
                in_channels=16),
            data_preprocessor=dict(
                type='ClsDataPreprocessor', mean=[128.], std=[64.])))
    model.init_weights()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _data():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 1, 8, 8), generator=g).to(torch.uint8)
    return dict(
        inputs=list(images),
        data_samples=[DataSample().set_gt_label(i % 3) for i in range(4)])


def test_train_step_replays_the_loss_forward():
    """``model.train_step`` (nothing but config) equals an explicit
    closure, and layer-wise lr decay builds the wrapper by type."""
    optim = dict(
        type='SAMOptimWrapper',
        rho=RHO,
        optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05),
        constructor='LearningRateDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.5),
        clip_grad=dict(max_norm=1.0))
    auto, manual = _vit(), _vit()
    auto_w = build_optim_wrapper(auto, copy.deepcopy(optim))
    manual_w = build_optim_wrapper(manual, copy.deepcopy(optim))
    assert isinstance(auto_w, SAMOptimWrapper)
    scales = {g['lr'] for g in auto_w.optimizer.param_groups}
    assert len(scales) > 2  # per-layer learning rates
    losses = auto.train_step(_data(), auto_w)
    data = manual.data_preprocessor(_data(), True)

    def closure():
        return manual.parse_losses(manual(**data, mode='loss'))[0]

    manual_w.update_params(closure(), closure=closure)
    assert losses['loss'].item() > 0
    for (name, a), b in zip(auto.named_parameters(), manual.parameters()):
        assert torch.equal(a, b), name


def test_forward_must_run_once_in_the_context():
    model = _vit()
    wrapper = build_optim_wrapper(
        model,
        dict(type='SAMOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    data = model.data_preprocessor(_data(), True)
    loss = model.parse_losses(model(**data, mode='loss'))[0]
    with pytest.raises(RuntimeError, match='exactly once'):
        wrapper.update_params(loss)
    with wrapper.optim_context(model):
        model(**data, mode='loss')
        losses = model(**data, mode='loss')
    with pytest.raises(RuntimeError, match='got 2 calls'):
        wrapper.update_params(model.parse_losses(losses)[0])


@pytest.mark.parametrize(
    'kwargs,match',
    [(dict(rho=0.0), 'rho must be > 0'), (dict(rho=-1), 'rho must be > 0'),
     (dict(accumulative_counts=2), 'cannot drive gradient accumulation'),
     (dict(loss_scale='dynamic'), 'AmpSAMOptimWrapper'),
     (dict(type='AmpSAMOptimWrapper', loss_scale='big'), 'loss_scale'),
     (dict(type='AmpSAMOptimWrapper', dtype='int8'), 'dtype')])
def test_bad_input_is_refused_at_build(kwargs, match):
    cfg = dict(type='SAMOptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    with pytest.raises(ValueError, match=match):
        build_optim_wrapper(nn.Linear(2, 2), dict(cfg, **kwargs))


@pytest.mark.parametrize('config, wrapper', [
    ('remem/ft-sam_vit-128d6l-p7_1xb256-adamw-2e_fashion-mnist-lt100.py',
     'AmpSAMOptimWrapper'),
    ('remem/ft_vit-128d6l-p7_1xb256-adamw-2e_fashion-mnist-lt100.py',
     'AmpOptimWrapper'),
])
def test_amp_flag_keeps_sam(config, wrapper):
    """``tools/train.py --amp`` turns SAM into its AMP variant, not into
    MMEngine's one-pass AmpOptimWrapper."""
    import argparse
    import os.path as osp

    from conftest import ROOT

    from mmkd_plugin.utils.cli import add_common_args, load_cfg
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    args = parser.parse_args([osp.join(ROOT, 'configs', config), '--amp'])
    cfg = load_cfg(args)
    assert cfg.optim_wrapper.type == wrapper
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
