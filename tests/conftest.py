"""Shared fixtures: the repo root, tool runner, seeded Fashion-MNIST ViTs."""
import json
import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True)
def keep_default_scope():
    """Tests that build MMDetection / MMSegmentation models switch MMEngine's
    process-wide default scope; the next test gets back the one before
    (MMPretrain's if there was none), as a fresh process would have."""
    from mmengine.registry import DefaultScope
    before = DefaultScope.get_current_instance()
    scope = 'mmpretrain' if before is None else before.scope_name
    yield
    after = DefaultScope.get_current_instance()
    if after is not None and after.scope_name != scope:
        DefaultScope.get_instance(
            f'restored-{time.time_ns()}', scope_name=scope)


MODELS_CFG = osp.join(ROOT, 'configs/_base_/models/vit_fashion_mnist.py')
STUDENT_CFG = osp.join(
    ROOT, 'configs/supervised/'
    'supervised_vit-96d4l-p7_1xb256-adamw-3e_fashion-mnist.py')
KD_CFG = osp.join(
    ROOT, 'configs/kd/'
    'kd_vit-96d4l-p7_vit-128d6l-p7_1xb256-adamw-3e_fashion-mnist.py')
DATA_ROOT = osp.join(ROOT, 'data/fashion_mnist')

# small, deterministic runs on real Fashion-MNIST: no flip, no workers
TINY = [
    'train_dataloader.dataset.indices=128', 'train_dataloader.batch_size=32',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.0.prob=0.0',
    'val_dataloader.dataset.indices=200', 'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'test_dataloader.dataset.indices=200', 'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
    'train_cfg.val_interval=1', 'param_scheduler.0.end=2',
    'default_hooks.logger.interval=1'
]


def run_tool(*args: str, env: dict = None) -> subprocess.CompletedProcess:
    """Run ``python tools/...`` (or a shell script) from the repo root."""
    cmd = list(args)
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    full_env = dict(os.environ, PYTHON=sys.executable, **(env or {}))
    full_env.pop('MMKD_DEBUG', None)
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env=full_env)


def run_shrunk_pipeline(tmp_path, full, stages):
    """``stages`` (of the pipeline config ``full``) in a pipeline config
    of their own, run with ``full``'s quick profile on 256 training and 200
    test images; -> (output folder, records by stage name)."""
    quick = dict(full.profiles.quick.cfg_options)
    quick.update({
        'train_dataloader.dataset.indices': 256,
        'val_dataloader.dataset.indices': 200,
        'test_dataloader.dataset.indices': 200
    })
    config = tmp_path / 'pipeline.py'
    config.write_text(
        f'work_dir = {str(tmp_path / "work")!r}\n'
        f'stages = {list(stages)!r}\n'
        f'profiles = {dict(default={}, quick=dict(cfg_options=quick))!r}\n')
    res = run_tool('tools/pipeline.py', str(config), '--quick')
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = tmp_path / 'work' / 'quick'
    records = json.loads((out / 'results.json').read_text())['stages']
    return out, {r['name']: r for r in records}


@pytest.fixture(scope='session')
def vit_cfgs():
    """The Fashion-MNIST teacher and student model configs."""
    cfg = Config.fromfile(MODELS_CFG)
    return cfg.vit_teacher, cfg.vit_student


@pytest.fixture(scope='session')
def teacher_ckpt(tmp_path_factory, vit_cfgs):
    """A seeded (untrained) teacher saved as an MMEngine checkpoint."""
    from mmpretrain.registry import MODELS

    import mmkd_plugin  # noqa: F401
    torch.manual_seed(0)
    model = MODELS.build(vit_cfgs[0])
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    return str(path)


@pytest.fixture(scope='module')
def one_thread_mmpretrain():
    """mmpretrain's default scope and one torch thread (tiny models on a
    shared CPU), for a module's config-building tests."""
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mmkd_plugin  # noqa: F401
    init_default_scope('mmpretrain')
    level = MMLogger.get_current_instance().level
    MMLogger.get_current_instance().setLevel('WARNING')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    MMLogger.get_current_instance().setLevel(level)


def photos_batch(cfg: Config, labels: bool = False) -> dict:
    """A config's train pipeline (after loading) on two real photos
    (scikit-image's astronaut and coffee), collated as its loader does."""
    from mmcv.transforms import Compose
    from mmengine.dataset import default_collate, pseudo_collate
    from mmpretrain.registry import TRANSFORMS
    from skimage import data
    loader = cfg.train_dataloader
    steps = loader.dataset.pipeline
    assert steps[0]['type'] == 'LoadImageFromFile'
    pipeline = Compose([TRANSFORMS.build(t) for t in steps[1:]])
    samples = []
    for i, img in enumerate([data.astronaut(), data.coffee()]):
        img = img[..., ::-1].copy()  # BGR, as LoadImageFromFile gives
        results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape)
        if labels:
            results['gt_label'] = i
        samples.append(pipeline(results))
    collate = loader.get('collate_fn', {}).get('type', 'pseudo_collate')
    return dict(
        default_collate=default_collate,
        pseudo_collate=pseudo_collate)[collate](
            samples)


def train_one_step(cfg: Config, batch: dict) -> tuple:
    """Build ``cfg.model`` and its optim wrapper as the runner does (AMP
    wrappers in fp32: no GPU here), run one ``train_step``: losses finite,
    some parameter moved.

    Returns:
        ``(model, losses)``.
    """
    import math

    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    wrapper = dict(cfg.optim_wrapper)
    if wrapper.get('type') == 'AmpOptimWrapper':  # AMP needs a GPU
        wrapper.update(type='OptimWrapper')
        wrapper.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, wrapper)
    before = [p.detach().clone() for p in model.parameters()]
    losses = model.train_step(batch, optim_wrapper)
    assert losses and all(math.isfinite(v.item()) for v in losses.values())
    assert any(not torch.equal(p, b)
               for p, b in zip(model.parameters(), before))
    return model, losses
