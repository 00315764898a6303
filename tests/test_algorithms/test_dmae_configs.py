"""The DMAE configs: the ImageNet ones hold the paper's recipe and, with
tiny architectures, run one training step through their own pipeline on
real photos (ImageNet is not here); the Fashion-MNIST chain (MAE teacher ->
DMAE -> exported student -> fine-tuning) fits key for key."""
import copy
import importlib.util
from pathlib import Path

import pytest
import torch
from conftest import photos_batch, train_one_step
from mmengine.config import Config
from mmpretrain.models import MAEViT
from mmpretrain.registry import MODELS

import mmkd_plugin  # noqa: F401
from mmkd_plugin.utils import save_checkpoint

ROOT = Path(__file__).parents[2]
PREFIX = 'dmae/dmae_vit-base-p16_mae-vit-large-p16_8xb512-amp-'
PRETRAIN = {  # name -> mask ratio
    PREFIX + 'coslr-100e_in1k.py': 0.75,
    PREFIX + 'mask95-coslr-100e_in1k.py': 0.95,
    PREFIX + 'mask98-coslr-100e_in1k.py': 0.98,
}
FINETUNE = 'dmae/vit-base-p16_dmae-pre_8xb128-coslr-100e_in1k.py'
FM_TEACHER = 'mae/mae_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist.py'
FM_MAE = 'mae/mae_vit-96d4l-p4_1xb256-adamw-2e_fashion-mnist.py'
FM_DMAE = ('dmae/dmae_vit-96d4l-p4_mae-vit-128d6l-p4_1xb256-adamw-2e_'
           'fashion-mnist.py')
FM_FINETUNE = 'benchmarks/vit-96d4l-p4_1xb256-adamw-3e_fashion-mnist.py'
# tiny widths at the configs' 224 px, 16 px patches (196 tokens)
TINY = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
TINY_TEACHER = dict(
    embed_dims=48, num_layers=4, num_heads=2, feedforward_channels=96)
pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _cfg(name):
    return Config.fromfile(str(ROOT / 'configs' / name))


def test_every_config_is_covered():
    found = {
        str(p.relative_to(ROOT / 'configs'))
        for d in ('dmae', 'mae')
        for p in (ROOT / 'configs' / d).glob('*.py')
    }
    assert found == set(PRETRAIN) | {FINETUNE, FM_TEACHER, FM_MAE, FM_DMAE}


def _mae_checkpoint(model_cfg, path, seed=0):
    """A seeded MMPretrain MAE (or backbone) saved as a runner would."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    return model


@pytest.mark.parametrize('name', sorted(PRETRAIN))
def test_pretrain_config(name, tmp_path):
    cfg = _cfg(name)
    model = cfg.model
    # the paper's recipe
    assert model.type == 'DMAE' and model.mask_ratio == PRETRAIN[name]
    assert model.align == [(8, 17)] and model.distill_weight == 1.0
    assert model.distill_loss == dict(type='NormalizedFeatureLoss', kind='l1')
    student = model.student
    assert student.type == 'MAE' and student.backbone.arch == 'b'
    assert student.head.norm_pix is False
    assert model.teacher.model.type == 'MAEViT'
    assert model.teacher.model.arch == 'l'
    assert model.teacher.prefix == 'backbone.'
    # the aligned blocks exist in ViT-B (12) and ViT-L (24)
    assert 8 < MAEViT.arch_zoo['b']['num_layers'] == 12
    assert 17 < MAEViT.arch_zoo['l']['num_layers'] == 24
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.lr, optim.betas, optim.weight_decay) == \
        ('AdamW', 1.5e-4 * 4096 / 256, (0.9, 0.95), 0.05)
    assert cfg.auto_scale_lr.base_batch_size == 4096 == \
        8 * cfg.train_dataloader.batch_size
    assert cfg.train_cfg.max_epochs == 100
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 20)
    assert (cosine.type, cosine.begin, cosine.end) == \
        ('CosineAnnealingLR', 20, 100)
    steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['RandomResizedCrop']['scale'] == 224
    assert steps['RandomResizedCrop']['crop_ratio_range'] == (0.2, 1.0)
    assert steps['RandomFlip']['prob'] == 0.5
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    assert 'mmkd_plugin' in cfg.custom_imports.imports
    # tiny architectures, one step through the real pipeline
    student.backbone.arch = TINY
    student.neck.update(
        embed_dim=32,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=2)
    model.teacher.model.arch = TINY_TEACHER
    model.align = [(1, 2)]
    model.teacher.checkpoint = str(tmp_path / 'mae.pth')
    _mae_checkpoint(
        dict(
            type='MAE',
            backbone=model.teacher.model,
            neck=student.neck,
            head=student.head), model.teacher.checkpoint)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    cfg.optim_wrapper.pop('loss_scale')
    batch = photos_batch(cfg)
    assert batch['inputs'].shape == (2, 3, 224, 224)
    built, losses = train_one_step(cfg, batch)
    assert set(losses) == {'loss', 'loss_rec', 'loss_distill'}
    assert len(built.teacher.vit.layers) == 3  # truncated after block 2
    assert built.teacher.record['source'] == model.teacher.checkpoint
    assert built.random_mask(1, 'cpu')[0].shape[1] == \
        int(196 * (1 - PRETRAIN[name]))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported_student(student_cfg, tmp_path):
    """A DMAE checkpoint's student (``student.`` keys, next to the
    projections) exported by tools/extract_student.py."""
    torch.manual_seed(1)
    student = MODELS.build(copy.deepcopy(student_cfg))
    student.init_weights()
    weights = {f'student.{k}': v for k, v in student.state_dict().items()}
    weights['projs.0.weight'] = torch.zeros(2, 2)
    src = tmp_path / 'dmae.pth'
    torch.save(dict(state_dict=weights, meta=dict(epoch=1)), src)
    out = tmp_path / 'student.pth'
    tool = _load_tool('extract_student')
    save_checkpoint(tool.extract(str(src)), str(out))
    return student, str(out)


def _check_backbone_loaded(cfg, student):
    """Fine-tuning init loads every encoder weight (the final norm aside:
    the fine-tuning model has none)."""
    torch.manual_seed(2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    want = student.backbone.state_dict()
    got = model.backbone.state_dict()
    shared = set(want) & set(got)
    assert set(want) - shared == {'ln1.weight', 'ln1.bias'}
    assert all(torch.equal(got[k], want[k]) for k in shared)


def test_finetune_config(tmp_path):
    cfg = _cfg(FINETUNE)
    backbone = cfg.model.backbone
    assert backbone.arch == 'base' and backbone.drop_path_rate == 0.15
    assert backbone.out_type == 'avg_featmap' and not backbone.final_norm
    assert backbone.init_cfg.prefix == 'backbone.'
    assert cfg.optim_wrapper.constructor == \
        'LearningRateDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.lr) == ('AdamW', 2e-3)
    assert 8 * cfg.train_dataloader.batch_size == 1024
    assert cfg.train_cfg.max_epochs == 100
    assert [a['alpha'] for a in cfg.model.train_cfg.augments] == [0.8, 1.0]
    assert cfg.model.head.loss.label_smooth_val == 0.1
    steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['RandomErasing']['erase_prob'] == 0.25
    assert 'RandAugment' in steps
    assert 'mmkd_plugin' in cfg.custom_imports.imports
    # tiny: load an exported DMAE student, one step on real photos
    dmae = _cfg(sorted(PRETRAIN)[0]).model.student
    dmae.backbone.arch = TINY
    dmae.neck.update(embed_dim=32, decoder_embed_dim=32, decoder_depth=1)
    student, path = _exported_student(dmae, tmp_path)
    backbone.update(arch=TINY)
    backbone.init_cfg.checkpoint = path
    cfg.model.head.in_channels = TINY['embed_dims']
    _check_backbone_loaded(cfg, student)
    train_one_step(cfg, photos_batch(cfg, labels=True))


def test_fashion_mnist_budgets_match():
    mae, dmae = _cfg(FM_MAE), _cfg(FM_DMAE)
    teacher = _cfg(FM_TEACHER)
    assert dmae.model.student == mae.model
    assert dmae.model.teacher.model == teacher.model.backbone
    assert dmae.model.teacher.prefix == 'backbone.'
    assert dmae.model.mask_ratio == mae.model.backbone.mask_ratio == 0.75
    assert dmae.model.align == [(2, 4)]
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader'):
        assert dmae[key] == mae[key], key
    assert mae.model.head.norm_pix is False
    assert teacher.train_cfg.max_epochs == 1
    assert mae.train_cfg.max_epochs == 2


def test_fashion_mnist_chain_fits_key_for_key(tmp_path):
    """MAE teacher checkpoint -> DMAE teacher (strict) -> exported student
    -> fine-tuning backbone; and the MAE-only student -> fine-tuning."""
    teacher = _cfg(FM_TEACHER)
    source = _mae_checkpoint(teacher.model, tmp_path / 'teacher.pth')
    dmae = _cfg(FM_DMAE)
    dmae.model.teacher.checkpoint = str(tmp_path / 'teacher.pth')
    dmae.model.setdefault('data_preprocessor', dmae.data_preprocessor)
    built = MODELS.build(dmae.model)  # strict: every key fits
    vit = built.teacher.vit
    assert len(vit.layers) == 5  # blocks 0..4 of 6
    assert torch.equal(vit.layers[4].ln1.weight,
                       source.backbone.layers[4].ln1.weight)
    student, path = _exported_student(dmae.model.student, tmp_path)
    finetune = _cfg(FM_FINETUNE)
    finetune.model.backbone.init_cfg.checkpoint = path
    _check_backbone_loaded(finetune, student)
    # an MAE-only checkpoint loads as it is
    mae = _mae_checkpoint(_cfg(FM_MAE).model, tmp_path / 'mae.pth', seed=3)
    finetune.model.backbone.init_cfg.checkpoint = str(tmp_path / 'mae.pth')
    _check_backbone_loaded(finetune, mae)
