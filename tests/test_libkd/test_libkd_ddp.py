"""The Fashion-MNIST offline LIB-KD config under two DDP ranks (gloo):
tools/precompute_logits.py makes its store, tools/dist_train.sh trains
the student from it; every rank reads the same store."""
import json

import pytest
import torch
from conftest import run_tool
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmkd_plugin  # noqa: F401
from mmkd_plugin.utils import save_checkpoint

OFFLINE = ('configs/libkd/libkd-offline_vit-96d4l-p7_resnet18-rednet26_'
           '1xb256-adamw-3e_fashion-mnist.py')
KEY = 'train_dataloader.dataset.'


def test_offline_student_trains_on_two_ranks(tmp_path, one_thread_mmpretrain):
    teachers = Config.fromfile(OFFLINE).train_dataloader.dataset.teachers
    options = [f'{KEY}store={tmp_path / "store"}', f'{KEY}dataset.indices=128']
    for seed, (name, teacher) in enumerate(teachers.items()):
        torch.manual_seed(seed)
        model = MODELS.build(teacher.model)
        model.init_weights()
        path = str(tmp_path / f'{name}.pth')
        save_checkpoint(dict(state_dict=model.state_dict()), path)
        options.append(f'{KEY}teachers.{name}.checkpoint={path}')
    made = run_tool('tools/precompute_logits.py', OFFLINE, '--threads', '1',
                    '--cfg-options', *options)
    assert made.returncode == 0, made.stderr[-3000:]
    work = tmp_path / 'work'
    res = run_tool(
        'bash',
        'tools/dist_train.sh',
        OFFLINE,
        '2',
        '--work-dir',
        str(work),
        '--cfg-options',
        *options,
        'train_dataloader.batch_size=32',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1',
        'val_dataloader.dataset.indices=64',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        env=dict(PORT='29537', OMP_NUM_THREADS='1'))
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    # DDP's buckets take every gradient as it is (no stride mismatch)
    assert 'Grad strides do not match' not in log
    # 128 images, 2 ranks x 32 per batch: 2 iterations
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 2
    assert {k.split('.')[0]
            for k in ckpt['state_dict']} == {'backbone', 'head'}
    scalars = [
        json.loads(line)
        for line in next(work.glob('*/vis_data/scalars.json')).open()
    ]
    losses = [s for s in scalars if 'loss_kd' in s]
    assert losses and all(0 < s['loss_kd'] < 10 for s in losses)
    for s in losses:
        assert s['loss'] == pytest.approx(
            s['loss_cls'] + s['loss_kd'], rel=1e-3)
