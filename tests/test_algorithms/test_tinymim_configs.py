"""The TinyMIM configs: ImageNet ones hold the paper's recipe and, with tiny
architectures, run one training step through their own pipeline (on
synthetic images: ImageNet is not here); the Fashion-MNIST ones run one
step on real images."""
import glob
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photos_batch, train_one_step
from mmengine.config import Config

import mmkd_plugin  # noqa: F401

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / 'configs' / 'tinymim'
PRETRAIN = {
    'tinymim_vit-base-p16_mae-vit-large-p16_32xb128-adamw-300e_in1k.py':
    dict(teacher_block=17, last_heads=16, student='base', teacher='large'),
    'tinymim_vit-small-p16_mae-vit-base-p16_32xb128-adamw-300e_in1k.py':
    dict(
        teacher_block=11, last_heads=12, student='deit-small', teacher='base'),
    'tinymim_vit-tiny-p16_mae-vit-base-p16_32xb128-adamw-300e_in1k.py':
    dict(teacher_block=11, last_heads=12, student='deit-tiny', teacher='base'),
}
FINETUNE = 'benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
# the chain's pre-training (its fine-tuning is in configs/benchmarks/);
# tests/test_configs.py also runs every Fashion-MNIST config
FASHION = sorted(
    osp.relpath(p, CONFIGS)
    for p in glob.glob(str(CONFIGS / '*fashion-mnist.py')))
# 224 px in 56-px patches: a 4 x 4 grid; tiny widths
TINY = dict(embed_dims=24, num_layers=2, num_heads=3, feedforward_channels=48)
TINY_TEACHER = dict(
    embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)
pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def test_every_config_is_covered():
    found = {
        osp.relpath(p, CONFIGS)
        for p in glob.glob(str(CONFIGS / '**/*.py'), recursive=True)
    }
    assert found == set(PRETRAIN) | {FINETUNE} | set(FASHION)
    assert len(FASHION) == 3


@pytest.mark.parametrize('name', sorted(PRETRAIN))
def test_pretrain_config(name):
    cfg = Config.fromfile(str(CONFIGS / name))
    paper = PRETRAIN[name]
    model = cfg.model
    # the paper's recipe
    assert model.type == 'TinyMIM' and model.target == 'relation'
    assert model.teacher_block == paper['teacher_block']
    assert model.last_heads == paper['last_heads']
    assert model.student.arch == paper['student']
    assert model.student.drop_path_rate == 0.1
    assert model.teacher.model.type == 'MAEViT'
    assert model.teacher.model.arch == paper['teacher']
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.lr, optim.betas, optim.weight_decay) == \
        ('AdamW', 2.4e-3, (0.9, 0.95), 0.05)
    assert cfg.auto_scale_lr.base_batch_size == 4096 == \
        32 * cfg.train_dataloader.batch_size
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.param_scheduler[0].end == 15
    steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['RandomResizedCrop']['crop_ratio_range'] == (0.2, 1.0)
    jitter = steps['TwoViewColorJitter']
    assert (jitter['brightness'], jitter['contrast'],
            jitter['saturation']) == (0.4, 0.4, 0.4)
    assert cfg.data_preprocessor.type == 'SelfSupDataPreprocessor'
    # tiny architectures, one step through the real pipeline
    model.student.update(arch=TINY, patch_size=56)
    model.teacher.model.update(arch=TINY_TEACHER, patch_size=56)
    model.teacher.checkpoint = None
    model.update(teacher_block=1, last_heads=4)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    cfg.optim_wrapper.pop('loss_scale')
    batch = photos_batch(cfg)
    assert len(batch['inputs']) == 2  # [clean, jittered]
    assert batch['inputs'][0].shape == (2, 3, 224, 224)
    built, _ = train_one_step(cfg, batch)
    assert len(built.teacher.vit.layers) == 2  # truncated after block 1


def test_finetune_config():
    cfg = Config.fromfile(str(CONFIGS / FINETUNE))
    backbone = cfg.model.backbone
    assert backbone.arch == 'base' and backbone.drop_path_rate == 0.2
    assert backbone.init_cfg.prefix == 'backbone.'
    assert cfg.optim_wrapper.constructor == \
        'LearningRateDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    assert cfg.optim_wrapper.optimizer.lr == 2e-3
    assert cfg.train_cfg.max_epochs == 100
    assert 'mmkd_plugin' in cfg.custom_imports.imports
    backbone.update(arch=TINY, patch_size=56, init_cfg=None)
    cfg.model.head.in_channels = TINY['embed_dims']
    train_one_step(cfg, photos_batch(cfg, labels=True))


@pytest.mark.skipif(
    not osp.isdir(ROOT / 'data' / 'fashion_mnist'),
    reason='needs Fashion-MNIST (tools/prepare_data.py)')
@pytest.mark.parametrize('name', FASHION)
def test_fashion_mnist_two_views_of_real_images(name):
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.teacher.checkpoint = None
    loader = cfg.train_dataloader
    loader.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader.dataset.update(
        indices=8, data_root=str(ROOT / loader.dataset.data_root))
    np.random.seed(0)
    batch = next(iter(Runner.build_dataloader(loader)))
    assert [tuple(v.shape) for v in batch['inputs']] == [(4, 1, 28, 28)] * 2
    assert not torch.equal(*batch['inputs'])  # the student's is jittered
    train_one_step(cfg, batch)
