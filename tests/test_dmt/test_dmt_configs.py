"""The DMT configs: the ImageNet ones hold the recipe and, with tiny
architectures and checkpoints written in the official layouts, run one
training step through their own pipeline on real photos (ImageNet is not
here); the Fashion-MNIST ones share the MIM students' budget and chain
from the teachers' own configs key for key."""
import copy
import importlib.util
import re
from pathlib import Path

import pytest
import torch
from conftest import photos_batch, train_one_step
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmkd_plugin  # noqa: F401
from mmkd_plugin.utils import save_checkpoint

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / 'configs'
SIZES = ('tiny', 'small', 'base')
PRETRAIN = {
    size:
    f'dmt/dmt_vit-{size}-p16_mae-dino-clip-vit-base-p16_8xb512-amp-'
    'coslr-300e_in1k.py'
    for size in SIZES
}
FINETUNE = {
    size: f'dmt/benchmarks/vit-{size}-p16_8xb128-coslr-100e_in1k.py'
    for size in SIZES
}
STUDENT_ARCH = dict(tiny='deit-tiny', small='deit-small', base='base')
FM = 'dmt/{}_vit-96d4l-p4_{}-128d6l_1xb256-adamw-2e_fashion-mnist.py'
FM_VARIANTS = {  # (method, teachers) -> (tfd fusion, sfd fusion)
    ('dmt', 'mae-moco-sup'): ('mean', 'mean'),
    ('dmt-tfd', 'mae-moco-sup'): ('mean', None),
    ('dmt-sfd', 'mae-moco-sup'): (None, 'mean'),
    ('dmt-learned', 'mae-moco-sup'): ('learned', 'learned'),
    ('dmt-per-teacher', 'mae-moco-sup'): ('none', 'none'),
    ('dmt', 'mae-sup'): ('mean', 'mean'),
    ('dmt', 'mae'): ('mean', 'mean'),
}
FM_TEACHERS = dict(
    mae='mae/mae_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist.py',
    moco='mocov3/mocov3_vit-128d6l-p4_1xb256-adamw-1e_fashion-mnist.py',
    sup='supervised/supervised_vit-128d6l-p7_1xb256-adamw-3e_fashion-'
    'mnist.py')
FM_MAE_STUDENT = 'mae/mae_vit-96d4l-p4_1xb256-adamw-2e_fashion-mnist.py'
FM_FINETUNE = 'benchmarks/vit-96d4l-p4_1xb256-adamw-3e_fashion-mnist.py'
# tiny widths at the configs' 224 px
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TINY_TEACHER = dict(
    embed_dims=48, num_layers=2, num_heads=2, feedforward_channels=96)
pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _cfg(name):
    return Config.fromfile(str(CONFIGS / name))


def test_every_config_is_covered():
    found = {
        str(p.relative_to(CONFIGS))
        for p in (CONFIGS / 'dmt').rglob('*.py')
    }
    fm = {FM.format(*key) for key in FM_VARIANTS}
    assert found == set(PRETRAIN.values()) | set(FINETUNE.values()) | fm


def _to_timm(backbone):
    """MMPretrain ViT keys -> timm / official names (written here, apart
    from the converter, as the official releases name them)."""
    table = ((r'^layers\.', 'blocks.'), (r'\.ln([12])\.', r'.norm\1.'),
             (r'^patch_embed\.projection\.',
              'patch_embed.proj.'), (r'\.ffn\.layers\.0\.0\.', '.mlp.fc1.'),
             (r'\.ffn\.layers\.1\.', '.mlp.fc2.'), (r'^ln1\.', 'norm.'),
             (r'^pre_norm\.', 'norm_pre.'))
    out = {}
    for key, value in backbone.items():
        for src, dst in table:
            key = re.sub(src, dst, key)
        out[key] = value.clone()
    return out


def _official_checkpoint(name, teacher_cfg, path):
    """A seeded teacher saved as its release is: MAE's under ``model``
    (with a decoder key), DINO's bare, CLIP's with its projection head."""
    torch.manual_seed(len(name))
    model = MODELS.build(copy.deepcopy(teacher_cfg.model))
    weights = _to_timm(model.state_dict())
    if name == 'mae':
        weights['decoder_embed.weight'] = torch.zeros(4, 4)
        weights = dict(model=weights)
    elif name == 'clip':
        weights['head.weight'] = torch.zeros(8, TINY_TEACHER['embed_dims'])
    torch.save(weights, path)
    return model


@pytest.mark.parametrize('size', SIZES)
def test_pretrain_config(size, tmp_path):
    cfg = _cfg(PRETRAIN[size])
    model = cfg.model
    assert model.type == 'DMT' and model.student.arch == STUDENT_ARCH[size]
    assert list(model.teachers) == ['clip', 'dino', 'mae']  # as they run
    if size == 'tiny':  # the base the three share: its work_dir copy
        cfg.dump(str(tmp_path / 'dumped.py'))  # (keys sorted) reads the same
        dumped = Config.fromfile(str(tmp_path / 'dumped.py')).model
        assert list(dumped.teachers) == list(model.teachers)
    for teacher in model.teachers.values():
        assert teacher.layout == 'timm'
        assert teacher.model.arch == 'base' and teacher.model.patch_size == 16
    clip = model.teachers.clip
    assert clip.model.pre_norm and clip.mean[0] == pytest.approx(122.77, 1e-3)
    assert clip.model.layer_cfgs.act_cfg.type == 'QuickGELU'
    assert 'mean' not in model.teachers.mae  # the student's normalisation
    assert model.tfd.fusion == model.sfd.fusion == 'mean'
    assert model.tfd.loss.type == 'SmoothL1FeatureLoss'
    assert cfg.auto_scale_lr.base_batch_size == 4096 == \
        8 * cfg.train_dataloader.batch_size
    assert cfg.train_cfg.max_epochs == 300
    assert 'mmkd_plugin' in cfg.custom_imports.imports
    # tiny architectures; CLIP with 32 px patches (its 7x7 grid resized to
    # the student's 14x14); one step through the real pipeline
    model.student.arch = TINY
    for name, teacher in model.teachers.items():
        teacher.model.arch = TINY_TEACHER
        if name == 'clip':
            teacher.model.patch_size = 32
        teacher.checkpoint = str(tmp_path / f'{name}.pth')
        _official_checkpoint(name, teacher, teacher.checkpoint)
    batch = photos_batch(cfg)
    assert batch['inputs'].shape == (2, 3, 224, 224)
    built, losses = train_one_step(cfg, batch)
    assert set(losses) == {'loss', 'loss_tfd', 'loss_sfd'}
    assert list(built.teachers) == ['clip', 'dino', 'mae']
    assert built.multi.grids == dict(mae=(14, 14), dino=(14, 14), clip=(7, 7))
    records = built.teacher_records()
    assert [r['layout'] for r in records.values()] == ['timm'] * 3
    assert records['mae']['dropped'] == ['decoder_embed.weight']
    assert records['clip']['dropped'] == ['head.weight']
    clip = built.teachers['clip']
    assert clip.own_norm and not built.teachers['dino'].own_norm
    assert type(clip.vit.layers[0].ffn.layers[0][1]).__name__ == 'QuickGELU'


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported_student(student_cfg, tmp_path):
    """A DMT checkpoint's student (``student.`` keys, next to the heads)
    exported by tools/extract_student.py."""
    torch.manual_seed(1)
    student = MODELS.build(copy.deepcopy(student_cfg))
    weights = {f'student.{k}': v for k, v in student.state_dict().items()}
    weights['tfd.projectors.0.weight'] = torch.zeros(2, 2)
    src = tmp_path / 'dmt.pth'
    torch.save(dict(state_dict=weights, meta=dict(epoch=1)), src)
    out = tmp_path / 'student.pth'
    save_checkpoint(_load_tool('extract_student').extract(str(src)), out)
    return student, str(out)


def _check_backbone_loaded(cfg, student):
    """Fine-tuning init loads every student weight (the final norm aside:
    the fine-tuning model pools without it)."""
    torch.manual_seed(2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    want, got = student.state_dict(), model.backbone.state_dict()
    shared = set(want) & set(got)
    assert set(want) - shared == {'ln1.weight', 'ln1.bias'}
    assert all(torch.equal(got[k], want[k]) for k in shared)


@pytest.mark.parametrize('size', SIZES)
def test_finetune_config(size, tmp_path):
    cfg = _cfg(FINETUNE[size])
    backbone = cfg.model.backbone
    assert backbone.arch == STUDENT_ARCH[size]
    assert backbone.init_cfg.prefix == 'backbone.'
    assert PRETRAIN[size][4:-3] in backbone.init_cfg.checkpoint
    assert cfg.model.head.in_channels == \
        MODELS.get('VisionTransformer').arch_zoo[backbone.arch]['embed_dims']
    assert 'mmkd_plugin' in cfg.custom_imports.imports
    # tiny: load an exported DMT student, one step on real photos
    student_cfg = _cfg(PRETRAIN[size]).model.student
    student_cfg.arch = TINY
    student, path = _exported_student(student_cfg, tmp_path)
    backbone.update(arch=TINY)
    backbone.init_cfg.checkpoint = path
    cfg.model.head.in_channels = TINY['embed_dims']
    _check_backbone_loaded(cfg, student)
    train_one_step(cfg, photos_batch(cfg, labels=True))


@pytest.mark.parametrize(
    'key', FM_VARIANTS, ids=['_'.join(k) for k in FM_VARIANTS])
def test_fashion_mnist_variants(key):
    cfg, mae = _cfg(FM.format(*key)), _cfg(FM_MAE_STUDENT)
    # the budget of the MAE / DMAE / TinyMIM students
    for part in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                 'train_dataloader'):
        assert cfg[part] == mae[part], part
    model = cfg.model
    # written in name order, the order they run in
    assert list(model.teachers) == sorted(model.teachers) == \
        key[1].split('-')
    for name, teacher in model.teachers.items():
        source = _cfg(FM_TEACHERS[name]).model
        if name == 'sup':  # a classifier, loaded whole
            assert teacher.model == source and teacher.get('prefix') is None
        else:  # the encoder of a self-supervised model
            assert teacher.model == source.backbone
            assert teacher.prefix == 'backbone.'
    for head, fusion in zip(('tfd', 'sfd'), FM_VARIANTS[key]):
        assert (model[head] and model[head].fusion) == fusion
    student = dict(model.student, drop_path_rate=0.1)
    finetune = _cfg(FM_FINETUNE).model.backbone
    assert student['arch'] == finetune.arch
    assert student['patch_size'] == finetune.patch_size == 4


def test_fashion_mnist_chain_fits_key_for_key(tmp_path):
    """Each teacher config's checkpoint (as its runner saves it) loads
    strictly into the DMT teachers; the exported student into the
    fine-tuning backbone."""
    cfg = _cfg(FM.format('dmt', 'mae-moco-sup'))
    sources = {}
    for name, config in FM_TEACHERS.items():
        torch.manual_seed(len(name))
        sources[name] = MODELS.build(_cfg(config).model)
        path = tmp_path / f'{name}.pth'
        state = sources[name].state_dict()
        torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
        cfg.model.teachers[name].checkpoint = str(path)
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    built = MODELS.build(cfg.model)
    assert built.multi.grids == dict(mae=(7, 7), moco=(7, 7), sup=(4, 4))
    for name, teacher in built.teachers.items():
        vit = sources[name].backbone
        assert torch.equal(teacher.vit.layers[5].attn.qkv.weight,
                           vit.layers[5].attn.qkv.weight)
    finetune = _cfg(FM_FINETUNE)
    student, path = _exported_student(cfg.model.student, tmp_path)
    finetune.model.backbone.init_cfg.checkpoint = path
    _check_backbone_loaded(finetune, student)
