"""tools/precompute_logits.py on real Fashion-MNIST images with MMPretrain
ResNet / RegNet teachers: the replayed view is the teacher's view pixel for
pixel, stored labels are the teachers' (to float16), an interrupted run
resumes to the same bytes, a mismatched store is refused."""
import importlib.util
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from conftest import DATA_ROOT, ROOT, run_tool
from mmengine.config import Config
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import DATASETS, MODELS

from mmkd_plugin.datasets import LogitStore, LogitStoreError, box_of
from mmkd_plugin.teachers import build_teacher
from mmkd_plugin.utils import save_checkpoint

MEAN, STD, SEED, VIEWS, TOPK, N = [72.94], [90.02], 7, 3, 3, 12
CROP = dict(scale=28, crop_ratio_range=(0.3, 1.0), flip_prob=0.5)
ARGS = [
    '--shard-size', '5', '--batch-size', '7', '--device', 'cpu', '--threads',
    '1'
]
TEACHERS = dict(
    conv=dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=16,
        base_channels=16),
    regnet=dict(
        type='RegNet',
        arch=dict(w0=8, wa=8.0, wm=2.0, group_w=8, depth=4, bot_mul=1.0),
        in_channels=1,
        stem_channels=8,
        strides=(2, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )))
WIDTH = dict(conv=128, regnet=32)


def _classifier(name):
    return dict(
        type='ImageClassifier',
        backbone=TEACHERS[name],
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead', num_classes=10, in_channels=WIDTH[name]))


def _save_teacher(name, path, seed):
    torch.manual_seed(seed)
    model = MODELS.build(_classifier(name))
    model.init_weights()
    with torch.no_grad():  # spread the logits: distinct top-k
        model.head.fc.weight.mul_(20)
    save_checkpoint(dict(state_dict=model.state_dict()), str(path))


def _fmnist(crop=CROP, indices=N):
    return dict(
        type='FashionMNIST',
        data_root=DATA_ROOT,
        test_mode=True,
        download=False,
        indices=indices,
        pipeline=[
            dict(type='ReplayResizedCrop', **crop),
            dict(type='PackInputs')
        ])


def _wrapper(store, ckpts, dataset=None, **kwargs):
    dataset = dataset or _fmnist()
    teachers = {
        name:
        dict(type='FrozenTeacher', model=_classifier(name), checkpoint=ckpt)
        for name, ckpt in ckpts.items()
    }
    cfg = dict(
        type='PrecomputedViewDataset',
        dataset=dataset,
        store=str(store),
        teachers=teachers,
        num_views=VIEWS,
        topk=TOPK,
        seed=SEED)
    cfg.update(kwargs)
    return cfg


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'precompute_logits', osp.join(ROOT, 'tools/precompute_logits.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def made(tmp_path_factory, tool):
    """A store made in one uninterrupted run, and its config."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('libkd')
    ckpts = {name: str(root / f'{name}.pth') for name in TEACHERS}
    for seed, (name, path) in enumerate(ckpts.items()):
        _save_teacher(name, path, seed)
    wrapper = _wrapper(root / 'store', ckpts)
    cfg_path = str(root / 'libkd_cfg.py')
    Config(
        dict(
            data_preprocessor=dict(num_classes=10, mean=MEAN, std=STD),
            train_dataloader=dict(batch_size=4,
                                  dataset=wrapper))).dump(cfg_path)
    assert tool.main([cfg_path] + ARGS)
    # the training side reuses one loaded dataset (loading takes seconds)
    built = dict(wrapper, dataset=DATASETS.build(wrapper['dataset']))
    yield dict(
        root=root, cfg=cfg_path, wrapper=built, ckpts=ckpts, file=wrapper)
    torch.set_num_threads(threads)


def _teacher_view(img, idx, view):
    """The crop the precompute run fed the teachers, recomputed apart:
    RandomResizedCrop's sampler under the per-image seed, then slicing,
    MMCV's resize and a mirrored copy."""
    rrc = RandomResizedCrop(28, crop_ratio_range=CROP['crop_ratio_range'])
    np.random.seed([SEED, idx])
    for _ in range(view + 1):
        top, left, h, w = rrc.rand_crop_params(img)
        flip = np.random.rand() < CROP['flip_prob']
    crop = mmcv.imresize(img[top:top + h, left:left + w], (28, 28))
    return (crop[:, ::-1] if flip else crop), (top, left, h, w), flip


def test_replayed_view_is_the_teachers_view(made):
    dataset = DATASETS.build(made['wrapper'])
    store = dataset.store
    seen = set()
    np.random.seed(0)
    for idx in range(N):
        img = dataset.dataset.get_data_info(idx)['img']  # [28, 28] uint8
        for _ in range(2):
            item = dataset[idx]
            view = item['data_samples'].kd_view
            expected, params, flip = _teacher_view(img, idx, view)
            np.testing.assert_array_equal(item['inputs'][0].numpy(), expected)
            rec = store.record(idx)
            assert rec['boxes'][view].tobytes() == box_of(params, 28,
                                                          28).tobytes()
            assert bool(rec['flips'][view]) == flip
            seen.add((view, flip, params[2] < 28))
    # the check covered flipped, unflipped and cropped views
    assert {f for _, f, _ in seen} == {True, False}
    assert any(cropped for *_, cropped in seen)


def test_stored_labels_are_the_teachers_on_the_replayed_view(made):
    from mmpretrain.models.utils import ClsDataPreprocessor
    dataset = DATASETS.build(made['wrapper'])
    pre = ClsDataPreprocessor(mean=MEAN, std=STD)
    teachers = [build_teacher(t) for t in made['wrapper']['teachers'].values()]
    items = [dataset[i] for i in range(0, N, 3)]
    x = pre(dict(inputs=[it['inputs'] for it in items]))['inputs']
    for t, teacher in enumerate(teachers):
        teacher.set_input_space(pre.mean, pre.std)
        probs = teacher.logits(x).softmax(-1).numpy()  # [B, 10], fp32
        for b, item in enumerate(items):
            top = np.argsort(-probs[b])[:TOPK]
            expected = np.full(10, (1 - probs[b, top].sum()) / (10 - TOPK))
            expected[top] = probs[b, top]
            got = item['data_samples'].teacher_scores[t].numpy()
            np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-4)
            assert set(np.argsort(-got)[:TOPK]) == set(top)


def test_interrupted_run_resumes_to_the_same_store(made, tool, tmp_path):
    store = tmp_path / 'store'
    opts = ['--cfg-options', f'train_dataloader.dataset.store={store}']
    first = run_tool('tools/precompute_logits.py', made['cfg'], *ARGS,
                     '--workers', '2', '--max-shards', '1', *opts)
    assert first.returncode == 0, first.stderr[-3000:]
    assert '[rank 0] shard 0 done' in first.stdout
    assert '[rank 1] shard 1 done' in first.stdout
    assert '1 shards left' in first.stdout
    with pytest.raises(LogitStoreError, match='incomplete'):
        LogitStore(str(store), DATASETS.build(made['wrapper']).spec)
    # a crash while writing shard 2: a temporary file, a torn shard
    (store / '.shard-00002.npy.x1.tmp').write_bytes(b'\x93NUMPY')
    (store / 'shard-00002.npy').write_bytes(
        (made['root'] / 'store/shard-00002.npy').read_bytes()[:100])
    torch.set_num_threads(1)
    assert tool.main([made['cfg']] + ARGS + opts)
    names = sorted(os.listdir(store))
    assert names == sorted(os.listdir(made['root'] / 'store'))
    for name in names:
        assert (store / name).read_bytes() == (made['root'] / 'store' /
                                               name).read_bytes(), name


def test_batches_smaller_than_an_images_views(made, tool, tmp_path,
                                              monkeypatch):
    """--batch-size 2 < 3 views: the teachers take each image's views in
    forwards of 2 and 1; the store holds the same views and labels."""
    from mmkd_plugin.teachers import FrozenTeacher
    sizes, logits = [], FrozenTeacher.logits

    def counted(self, x):
        sizes.append(len(x))
        return logits(self, x)

    monkeypatch.setattr(FrozenTeacher, 'logits', counted)
    store = tmp_path / 'store'
    torch.set_num_threads(1)
    assert tool.main([  # the last --batch-size counts
        made['cfg'], *ARGS, '--batch-size', '2', '--cfg-options',
        f'train_dataloader.dataset.store={store}'
    ])
    assert sizes == ([2] * len(TEACHERS) + [1] * len(TEACHERS)) * N
    ours = LogitStore(str(store), DATASETS.build(made['wrapper']).spec)
    theirs = LogitStore(str(made['root'] / 'store'), ours.spec)
    for idx in range(N):
        a, b = ours.record(idx), theirs.record(idx)
        for field in ('index', 'boxes', 'flips', 'labels'):
            np.testing.assert_array_equal(a[field], b[field])
        np.testing.assert_allclose(
            a['probs'].astype(np.float32),
            b['probs'].astype(np.float32),
            rtol=2e-3)


def test_dist_precompute_makes_the_same_store(made, tmp_path):
    """tools/dist_precompute.sh CONFIG 2: two torch.distributed ranks
    (gloo on CPU) split the shards; the store is the one-process one."""
    store = tmp_path / 'store'
    res = run_tool(
        'bash',
        'tools/dist_precompute.sh',
        made['cfg'],
        '2',
        *ARGS,
        '--cfg-options',
        f'train_dataloader.dataset.store={store}',
        env=dict(PORT='29541'))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert '[rank 1] shard 1 done' in res.stdout
    names = sorted(os.listdir(store))
    assert names == sorted(os.listdir(made['root'] / 'store'))
    for name in names:
        assert (store / name).read_bytes() == (made['root'] / 'store' /
                                               name).read_bytes(), name


def test_mismatched_store_is_refused(made, tmp_path):
    other = str(tmp_path / 'other.pth')
    _save_teacher('regnet', other, seed=5)
    cases = [
        (dict(num_views=4), 'num_views: store 3, expected 4'),
        (dict(topk=2), 'topk'),
        (dict(seed=1), 'seed'),
        (dict(
            teachers=_wrapper('', dict(made['ckpts'], regnet=other))
            ['teachers']), 'teachers.1.sha256'),
    ]
    for change, field in cases:
        cfg = dict(made['wrapper'], **change)
        with pytest.raises(LogitStoreError, match='does not match') as err:
            DATASETS.build(cfg)
        assert field in str(err.value)
    cfg = dict(made['wrapper'])
    cfg['dataset'] = made['wrapper']['dataset'].get_subset(N - 1)
    with pytest.raises(LogitStoreError, match='dataset.length'):
        DATASETS.build(cfg)
    cfg['dataset'] = _fmnist(dict(CROP, scale=24))
    with pytest.raises(LogitStoreError, match='crop.scale'):
        DATASETS.build(cfg)


def test_pipeline_with_another_random_crop_is_refused(made):
    cfg = dict(made['file'])
    cfg['dataset'] = dict(
        cfg['dataset'],
        pipeline=[
            dict(type='ReplayResizedCrop', **CROP),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs')
        ])
    with pytest.raises(
            ValueError,
            match=r"no other random crop or flip "
            r"\(found \['RandomFlip'\]\)"):
        DATASETS.build(cfg)
