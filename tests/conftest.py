"""Shared fixtures: the repo root, tool runner, seeded Fashion-MNIST ViTs."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
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
