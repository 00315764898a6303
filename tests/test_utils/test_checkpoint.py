"""Safe loading of MMEngine checkpoints with ``weights_only=True``."""
import contextlib
import copy
import hashlib
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import mmkd_plugin  # noqa: F401  registers the safe globals
from mmkd_plugin.utils import (CheckpointError, load_checkpoint_file,
                               load_weights_strict, mmengine_safe_globals,
                               sha256sum, state_dict_of)


class _ToyModel(BaseModel):
    """y = Wx + b, squared error."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(inputs)  # [B, 1]
        if mode == 'loss':
            return dict(loss=((out - targets)**2).mean())
        return out


class _Points(Dataset):
    """8 seeded points in memory."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(8, 4, generator=g)
        self.y = torch.randn(8, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


class _Payload:
    """Any class outside the allowlist."""

    def __init__(self):
        self.value = 1


@contextlib.contextmanager
def _keep_default_scope():
    """Runners make their scope the current one; give the old one back."""
    saved = copy.copy(DefaultScope._instance_dict)
    try:
        yield
    finally:
        DefaultScope._instance_dict = saved


def _run(work_dir, name, max_iters, **kwargs):
    torch.manual_seed(0)
    with _keep_default_scope():
        runner = Runner(
            model=_ToyModel(),
            work_dir=str(work_dir),
            experiment_name=name,
            train_dataloader=dict(
                dataset=_Points(),
                sampler=dict(type='DefaultSampler', shuffle=False),
                batch_size=2,
                num_workers=0,
                collate_fn=dict(type='default_collate')),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
            train_cfg=dict(by_epoch=False, max_iters=max_iters),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, by_epoch=False),
                logger=dict(type='LoggerHook', interval=1)),
            randomness=dict(seed=0),
            **kwargs)
        runner.train()
    return runner


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('runner')
    runner = _run(work_dir, 'mmkd_ckpt_test', max_iters=2)
    return runner, str(work_dir / 'iter_2.pth')


def _names(objs) -> set:
    return {f'{g.__module__}.{g.__qualname__}' for g in objs}


def test_runner_checkpoint_loads_weights_only(trained):
    runner, path = trained
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 2
    own = runner.model.state_dict()
    assert set(ckpt['state_dict']) == set(own)
    for k, v in own.items():
        assert torch.equal(ckpt['state_dict'][k], v), k
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert len(loss.data[0]) == 2
    live = runner.message_hub.get_scalar('train/loss')
    np.testing.assert_array_equal(loss.data[0], live.data[0])
    # and through the plugin's loader
    assert load_checkpoint_file(path).keys() == ckpt.keys()


def test_unsafe_globals_are_the_allowlist(trained):
    _, path = trained
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        unsafe = set(
            torch.serialization.get_unsafe_globals_in_checkpoint(path))
    finally:
        torch.serialization.add_safe_globals(saved)
    allowed = _names(mmengine_safe_globals())
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    assert unsafe <= allowed, unsafe - allowed
    # and nothing reached through getattr (bound statistics methods)
    assert not any(name.startswith('builtins.') for name in unsafe)


def test_allowlist_has_no_code_paths():
    names = _names(mmengine_safe_globals())
    assert not any(
        n.startswith(('builtins.', 'os.', 'subprocess.')) for n in names)
    for bad in ('ObjectDType', 'StrDType', 'BytesDType', 'VoidDType'):
        assert f'numpy.dtypes.{bad}' not in names


def test_disallowed_global_still_refused(tmp_path):
    path = tmp_path / 'payload.pth'
    torch.save(dict(x=_Payload()), path)
    with pytest.raises(CheckpointError, match='weights_only') as err:
        load_checkpoint_file(str(path))
    assert '_Payload' in str(err.value)
    assert str(path) in str(err.value)
    # torch's own default is still weights_only=True
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_object_arrays_refused(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save(dict(x=np.array([1, 'a'], dtype=object)), path)
    with pytest.raises(CheckpointError, match='weights_only'):
        load_checkpoint_file(str(path))


def test_numeric_numpy_values_load(tmp_path):
    path = tmp_path / 'meta.pth'
    meta = dict(
        seed=np.int64(3),
        acc=np.float64(0.875),
        hist=np.arange(6, dtype=np.float32).reshape(2, 3))
    torch.save(dict(meta=meta), path)
    got = load_checkpoint_file(str(path))['meta']
    assert got['seed'] == 3 and got['seed'].dtype == np.int64
    assert got['acc'] == 0.875
    np.testing.assert_array_equal(got['hist'], meta['hist'])
    assert got['hist'].dtype == np.float32


def test_missing_unreadable_and_non_dict(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(CheckpointError, match='nope.pth'):
        load_checkpoint_file(missing)
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all')
    with pytest.raises(CheckpointError, match='cannot read checkpoint'):
        load_checkpoint_file(str(garbage))
    tensor = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(CheckpointError, match='holds a Tensor'):
        load_checkpoint_file(str(tensor))


def _round_trip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _buffer():
    hist = HistoryBuffer()
    for value, count in [(1.0, 1), (3.0, 1), (8.0, 2), (2.0, 1)]:
        hist.update(value, count)
    return hist


def test_history_buffer_round_trip():
    hist = _buffer()
    loaded = _round_trip(hist)
    np.testing.assert_array_equal(loaded.data[0], hist.data[0])
    np.testing.assert_array_equal(loaded.data[1], hist.data[1])
    # sum(log) / sum(count) = 14 / 5 over all, (8 + 2) / (2 + 1) last two
    for buffer in (hist, loaded):
        assert buffer.mean() == pytest.approx(14 / 5)
        assert buffer.mean(2) == pytest.approx(10 / 3)
        assert buffer.min() == 1.0 and buffer.max() == 8.0
        assert buffer.max(2) == 8.0 and buffer.min(3) == 2.0
        assert buffer.current() == 2.0
    # saving does not change the live buffer
    assert 'statistics_methods' not in hist.__dict__


def test_history_buffer_statistics_after_round_trip():
    """``statistics(name, ...)`` is how LogProcessor's ``custom_cfg`` reads
    buffers; it must work on a loaded buffer exactly as on a live one."""
    hist = _buffer()
    loaded = _round_trip(hist)
    # MessageHub.load_state_dict(message_hub) deep-copies its buffers
    copied = copy.deepcopy(hist)
    for buffer in (hist, loaded, copied):
        assert buffer.statistics('mean') == pytest.approx(14 / 5)
        assert buffer.statistics('mean', 2) == pytest.approx(10 / 3)
        assert buffer.statistics('max') == 8.0
        assert buffer.statistics('min', window_size=3) == 2.0
        assert buffer.statistics('current') == 2.0
    twice = _round_trip(loaded)
    assert twice.statistics('mean') == pytest.approx(14 / 5)


def test_resume_with_custom_statistics_logging(trained, tmp_path):
    """Resume the 2-iteration run to 4 iterations while the log processor
    reads a global mean through ``HistoryBuffer.statistics``."""
    runner, path = trained
    resumed = _run(
        tmp_path,
        'mmkd_resume_test',
        max_iters=4,
        load_from=path,
        resume=True,
        log_processor=dict(custom_cfg=[
            dict(
                data_src='loss',
                log_name='loss_global',
                method_name='mean',
                window_size='global')
        ]))
    assert resumed.iter == 4
    old = runner.message_hub.get_scalar('train/loss').data[0]
    new = resumed.message_hub.get_scalar('train/loss').data[0]
    assert len(new) == 4
    np.testing.assert_array_equal(new[:2], old)


def test_sha256sum_matches_hashlib(tmp_path):
    path = tmp_path / 'blob.bin'
    data = np.random.RandomState(0).bytes(10_000)
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256sum(str(path)) == expected
    assert sha256sum(str(path), chunk=7) == expected


def test_state_dict_of():
    weights = {'w': torch.ones(1)}
    assert state_dict_of(dict(state_dict=weights, meta={})) is weights
    assert state_dict_of(dict(model=weights)) is weights
    assert state_dict_of(dict(module=weights)) is weights
    assert state_dict_of(weights) is weights


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_load_weights_strict_loads_values():
    net = _net()
    source = {k: torch.randn_like(v) for k, v in net.state_dict().items()}
    load_weights_strict(net, source, 'test weights')
    for k, v in net.state_dict().items():
        assert torch.equal(v, source[k])


def test_load_weights_strict_prefix():
    net = _net()
    source = {
        f'student.{k}': torch.randn_like(v)
        for k, v in net.state_dict().items()
    }
    source['teacher.0.weight'] = torch.zeros(9)
    load_weights_strict(net, source, 'kd checkpoint', prefix='student.')
    for k, v in net.state_dict().items():
        assert torch.equal(v, source[f'student.{k}'])


def test_load_weights_strict_messages():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bad = dict(net.state_dict())
    del bad['2.bias']
    bad['3.weight'] = torch.zeros(1)
    bad['0.weight'] = torch.zeros(4, 5)
    with pytest.raises(CheckpointError) as err:
        load_weights_strict(net, bad, 'ckpt.pth')
    message = str(err.value)
    assert message.startswith('ckpt.pth does not fit Sequential')
    assert 'missing keys [2.bias]' in message
    assert 'unexpected keys [3.weight]' in message
    assert 'shape mismatch [0.weight: (4, 5) vs (4, 3)]' in message
    # nothing was loaded
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])


def test_load_weights_strict_shortens_long_lists():
    net = nn.Sequential(*[nn.Linear(2, 2) for _ in range(5)])  # 10 keys
    with pytest.raises(CheckpointError, match=r'\(\+4 more\)'):
        load_weights_strict(net, {}, 'empty')
