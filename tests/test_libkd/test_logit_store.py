"""The logit store's format: records read back as written, and every kind
of mismatch or damage is refused with an error that says what."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmkd_plugin.datasets import (LogitStore, LogitStoreError, StoreWriter,
                                  record_dtype)

SPEC = dict(
    dataset=dict(length=11, sha256='ab' * 32),
    teachers=[
        dict(name='conv', sha256='01' * 32),
        dict(name='inv', sha256='02' * 32)
    ],
    num_classes=10,
    num_views=3,
    topk=4,
    seed=0,
    crop=dict(scale=[28, 28], flip_prob=0.5))


def _records(writer, shard, rng):
    first, stop = writer.shard_range(shard)
    rec = np.zeros(stop - first, writer.dtype)
    rec['index'] = np.arange(first, stop)
    rec['boxes'] = rng.rand(*rec['boxes'].shape)
    rec['flips'] = rng.rand(*rec['flips'].shape) < 0.5
    rec['labels'] = rng.randint(0, 10, rec['labels'].shape)
    rec['probs'] = rng.rand(*rec['probs'].shape)
    return rec


def _write(root, spec=SPEC, finalise=True):
    writer = StoreWriter(str(root), spec, shard_size=4)
    writer.open()
    rng = np.random.RandomState(0)
    written = np.concatenate(
        [_records(writer, s, rng) for s in range(writer.layout['num_shards'])])
    for s in range(writer.layout['num_shards']):
        writer.write_shard(s, written[s * 4:(s + 1) * 4])
    if finalise:
        writer.finalise()
    return written


def test_records_read_back_as_written(tmp_path):
    written = _write(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [
        'index.json', 'shard-00000.json', 'shard-00000.npy',
        'shard-00001.json', 'shard-00001.npy', 'shard-00002.json',
        'shard-00002.npy'
    ]
    store = LogitStore(str(tmp_path), SPEC)
    for i in range(11):
        assert store.record(i).tobytes() == written[i].tobytes()
    assert store.record(10)['labels'].dtype == np.int16
    assert store.record(10)['probs'].dtype == np.float16
    with pytest.raises(IndexError):
        store.record(11)
    index = json.load(open(tmp_path / 'index.json'))
    assert index['complete'] and [s['records']
                                  for s in index['shards']] == [4, 4, 3]


def test_record_layout_is_fixed_size():
    dtype = record_dtype(500, 2, 5, 1000)
    # 8 + 500*4*4 + 500 + 2 * (2*500*5 + 2*500*5) bytes: the ImageNet
    # anchor (500 views, top-5) is ~10 kB per image and teacher
    assert dtype.itemsize == 8 + 8000 + 500 + 2 * 10000
    assert record_dtype(1, 1, 1, 40000)['labels'].base == np.int32


@pytest.mark.parametrize(
    'change,field',
    [(dict(num_views=4), 'num_views: store 3, expected 4'),
     (dict(dataset=dict(length=12, sha256='ab' * 32)), 'dataset.length'),
     (dict(teachers=[
         dict(name='conv', sha256='ff' * 32),
         dict(name='inv', sha256='02' * 32)
     ]), 'teachers.0.sha256'),
     (dict(crop=dict(scale=[32, 32], flip_prob=0.5)), 'crop.scale')])
def test_mismatched_spec_is_refused(tmp_path, change, field):
    _write(tmp_path)
    with pytest.raises(LogitStoreError, match='does not match') as err:
        LogitStore(str(tmp_path), dict(SPEC, **change))
    assert field in str(err.value)


def test_incomplete_store_is_refused(tmp_path):
    _write(tmp_path, finalise=False)
    with pytest.raises(LogitStoreError, match='incomplete'):
        LogitStore(str(tmp_path), SPEC)


def test_truncated_shard_is_refused(tmp_path):
    _write(tmp_path)
    path = tmp_path / 'shard-00001.npy'
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    for verify in ('size', 'sha256'):
        with pytest.raises(LogitStoreError, match='truncated'):
            LogitStore(str(tmp_path), SPEC, verify=verify)


def test_corrupt_shard_is_refused(tmp_path):
    _write(tmp_path)
    path = tmp_path / 'shard-00002.npy'
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # a flipped byte: same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(LogitStoreError, match='sha256'):
        LogitStore(str(tmp_path), SPEC)
    LogitStore(str(tmp_path), SPEC, verify='size')  # size alone cannot tell
    os.remove(path)
    with pytest.raises(LogitStoreError, match='missing'):
        LogitStore(str(tmp_path), SPEC, verify='size')


def test_writer_refuses_other_spec_and_cleans_debris(tmp_path):
    _write(tmp_path, finalise=False)
    with pytest.raises(LogitStoreError, match='topk'):
        StoreWriter(str(tmp_path), dict(SPEC, topk=5), 4).open()
    with pytest.raises(LogitStoreError, match='shard_size'):
        StoreWriter(str(tmp_path), SPEC, 5).open()
    debris = tmp_path / '.shard-00001.npy.abc.tmp'
    debris.write_bytes(b'half a shard')
    writer = StoreWriter(str(tmp_path), SPEC, 4)
    writer.open()
    assert not debris.exists()
    assert all(writer.finished(s) for s in range(3))
    # a shard whose file no longer matches its sidecar is not finished
    with open(tmp_path / 'shard-00001.npy', 'ab') as f:
        f.write(b'\0')
    assert not writer.finished(1)
    os.remove(tmp_path / 'shard-00002.json')
    assert not writer.finished(2)
    with pytest.raises(LogitStoreError, match='shard 1 is not finished'):
        writer.finalise()
    assert not osp.exists(tmp_path / 'shard-00002.json')
