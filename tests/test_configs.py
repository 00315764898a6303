"""Every config in configs/ loads, builds and runs one training step on a
real Fashion-MNIST batch."""
import glob
import math
import os
import os.path as osp

import pytest
import torch
from conftest import ROOT, run_tool
from mmengine.config import Config
from mmengine.runner import Runner

# ImageNet is not here: each method's tests/test_algorithms/
# test_<method>_configs.py runs its *_in1k.py configs with tiny archs
TRAIN_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs/**/*.py'), recursive=True)
    if '/_base_/' not in p and '/pipelines/' not in p
    and '/downstream/' not in p and not p.endswith('_in1k.py'))
PIPELINES = sorted(glob.glob(osp.join(ROOT, 'configs/pipelines/*.py')))


def _point_teachers_at(node, root):
    """Give each FrozenTeacher a seeded checkpoint of its own model, saved
    in ``root`` with its keys under the teacher's ``prefix`` (as an MAE
    checkpoint holds the encoder under ``backbone.``)."""
    if isinstance(node, dict):
        if node.get('type') == 'FrozenTeacher':
            node['checkpoint'] = _seeded_checkpoint(node, root)
        for value in node.values():
            _point_teachers_at(value, root)


def _seeded_checkpoint(teacher, root):
    from mmpretrain.registry import MODELS
    model = dict(teacher['model'])
    model.pop('data_preprocessor', None)
    model.pop('init_cfg', None)
    torch.manual_seed(0)
    weights = MODELS.build(model).state_dict()
    prefix = teacher.get('prefix') or ''
    state_dict = {prefix + k: v for k, v in weights.items()}
    path = osp.join(root, f'teacher{len(os.listdir(root))}.pth')
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=1)), path)
    return path


def test_there_are_configs():
    assert len(TRAIN_CONFIGS) >= 3


@pytest.mark.parametrize(
    'path', TRAIN_CONFIGS, ids=[osp.basename(p) for p in TRAIN_CONFIGS])
def test_config_builds_and_trains_one_step(path, tmp_path):
    cfg = Config.fromfile(path)
    os.makedirs(tmp_path / 'teachers')
    _point_teachers_at(cfg.model, str(tmp_path / 'teachers'))
    cfg.work_dir = str(tmp_path)
    loader = cfg.train_dataloader
    loader.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader.dataset.indices = 8
    if loader.dataset.type == 'PrecomputedViewDataset':
        # LIB-KD offline: the stored teacher labels, made as a user would
        _point_teachers_at(loader.dataset, str(tmp_path / 'teachers'))
        loader.dataset.update(store=str(tmp_path / 'store'), num_views=2)
        cfg.dump(str(tmp_path / 'offline.py'))
        done = run_tool('tools/precompute_logits.py',
                        str(tmp_path / 'offline.py'), '--threads', '1')
        assert done.returncode == 0, done.stdout + done.stderr
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    runner = Runner.from_cfg(cfg)
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    batch = next(iter(runner.train_dataloader))
    before = {
        n: p.detach().clone()
        for n, p in runner.model.named_parameters()
    }
    losses = runner.model.train_step(batch, optim_wrapper)
    assert losses and all(math.isfinite(float(v)) for v in losses.values())
    changed = [
        n for n, p in runner.model.named_parameters()
        if not torch.equal(p, before[n])
    ]
    assert changed, 'one optimiser step changed no parameter'


@pytest.mark.parametrize(
    'path', PIPELINES, ids=[osp.basename(p) for p in PIPELINES])
def test_pipeline_config_points_at_real_configs(path):
    cfg = Config.fromfile(path)
    names = [s['name'] for s in cfg.stages]
    assert len(names) == len(set(names))
    for i, stage in enumerate(cfg.stages):
        for key in ('config', 'eval_config'):
            if key in stage:
                assert osp.isfile(osp.join(ROOT, stage[key])), stage[key]
        for source in stage.get('inputs', {}).values():
            assert source in names[:i], f'{source} must run before {names[i]}'
    assert 'default' in cfg.profiles and 'quick' in cfg.profiles
