"""The LIB-KD ImageNet configs hold DeiT's recipe and, with tiny
architectures and seeded teacher checkpoints, train one step on real
photos (ImageNet is not here): online through their own pipeline; offline
from a store that tools/precompute_logits.py makes on a folder of photos,
one store for both students."""
import copy
import importlib.util
from pathlib import Path

import mmcv
import pytest
import torch
from conftest import photos_batch, train_one_step
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpretrain.registry import DATASETS, MODELS

import mmkd_plugin  # noqa: F401

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / 'configs'
SIZES = ('tiny', 'small')
NAME = '{}_deit-{}-p16_regnety-16gf-rednet-101_8xb128-amp-coslr-300e_in1k.py'
ONLINE = {s: 'libkd/' + NAME.format('libkd', s) for s in SIZES}
OFFLINE = {s: 'libkd/' + NAME.format('libkd-offline', s) for s in SIZES}
STUDENT = dict(tiny=('deit-tiny', 192), small=('deit-small', 384))
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
# (backbone, width): a narrow RedNet-26, a four-stage RegNetY (16..128)
TINY_TEACHERS = dict(
    regnety=(dict(
        type='RegNetY',
        arch=dict(w0=16, wa=16.0, wm=2.0, group_w=8, depth=6, bot_mul=1.0),
        stem_channels=16), 128),
    rednet=(dict(type='RedNet', depth=26, stem_channels=32,
                 base_channels=16), 512))
DEIT_AUG = ['RandAugment', 'RandomErasing', 'PackInputs']
pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _cfg(name):
    return Config.fromfile(str(CONFIGS / name))


def test_every_in1k_config_is_covered():
    found = {
        str(p.relative_to(CONFIGS))
        for p in (CONFIGS / 'libkd').glob('*_in1k.py')
    }
    assert found == set(ONLINE.values()) | set(OFFLINE.values())


def _check_recipe(cfg, student, pipeline, size):
    """DeiT's: lr 5e-4 x batch / 512, 300 epochs, 5 warm-up, cosine,
    Mixup 0.8 / CutMix 1.0, label smoothing 0.1, RandAugment, erasing."""
    batch = 8 * cfg.train_dataloader.batch_size
    assert batch == cfg.auto_scale_lr.base_batch_size == 1024
    optim = cfg.optim_wrapper.optimizer
    assert optim.type == 'AdamW' and optim.weight_decay == 0.05
    assert optim.lr == pytest.approx(5e-4 * batch / 512)
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 5 == cosine.begin
    assert cosine.type == 'CosineAnnealingLR' and cosine.eta_min == 1e-5
    assert cosine.end == 300 == cfg.train_cfg.max_epochs
    augments = cfg.data_preprocessor.batch_augments.augments
    assert [(a.type, a.alpha) for a in augments] == [('Mixup', 0.8),
                                                     ('CutMix', 1.0)]
    assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'
    assert [t.type for t in pipeline][-3:] == DEIT_AUG
    assert pipeline[-3].magnitude_level == 9
    assert pipeline[-2].erase_prob == 0.25
    arch, width = STUDENT[size]
    backbone, head = student.backbone, student.head
    assert backbone.type == 'MultiTokenViT' and backbone.arch == arch
    assert backbone.num_dist_tokens == head.num_dist_tokens == 2
    assert backbone.img_size == 224 and backbone.patch_size == 16
    assert head.in_channels == width and head.num_classes == 1000
    assert head.loss.type == 'LabelSmoothLoss'
    assert head.loss.label_smooth_val == 0.1
    assert head.kd_loss.tau == 1.0 and head.kd_loss.mode == 'soft'
    assert 'mmkd_plugin' in cfg.custom_imports.imports


def _check_teachers(teachers):
    # token order; alphabetical, so a dumped config keeps it
    assert list(teachers) == sorted(teachers) == ['rednet', 'regnety']
    assert teachers.regnety.model.backbone.arch == 'regnety_16gf'
    assert teachers.regnety.layout == 'auto'  # DeiT's timm file, or converted
    assert teachers.rednet.model.backbone.depth == 101
    for teacher in teachers.values():
        assert teacher.checkpoint.startswith('checkpoints/')
        assert teacher.model.head.num_classes == 1000


def _tiny(student, teachers, root):
    """Tiny student; tiny teachers with seeded checkpoints in ``root`` (an
    mmcls-style file: ``meta`` and ``state_dict``)."""
    student.backbone.arch = TINY
    student.head.in_channels = TINY['embed_dims']
    for seed, (name, teacher) in enumerate(teachers.items()):
        backbone, width = TINY_TEACHERS[name]
        teacher.model.backbone = backbone
        teacher.model.head.in_channels = width
        torch.manual_seed(seed)
        model = MODELS.build(copy.deepcopy(teacher.model))
        # the backbones' own init: residual branches start at zero (an
        # untrained involution net, whose output is quadratic in its input,
        # grows its activations without bound otherwise)
        model.init_weights()
        teacher.checkpoint = str(root / f'{name}.pth')
        torch.save(
            dict(meta=dict(epoch=300), state_dict=model.state_dict()),
            teacher.checkpoint)


@pytest.mark.parametrize('size', SIZES)
def test_online_config(size, tmp_path):
    cfg = _cfg(ONLINE[size])
    model = cfg.model
    assert model.type == 'LIBKD' and model.fp32_teachers is None
    pipeline = cfg.train_dataloader.dataset.pipeline
    _check_recipe(cfg, model.student, pipeline, size)
    steps = [t.type for t in pipeline]
    assert steps[1:3] == ['RandomResizedCrop', 'RandomFlip']
    _check_teachers(model.teachers)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    _tiny(model.student, model.teachers, tmp_path)
    batch = photos_batch(cfg, labels=True)
    assert batch['inputs'][0].shape == (3, 224, 224)
    built, losses = train_one_step(cfg, copy.deepcopy(batch))
    assert set(losses) == {'loss', 'loss_cls', 'loss_kd'}
    assert built.fp32 == {'rednet', 'regnety'}
    # both teachers stay fp32 under autocast (involution is not fp16-safe)
    x = built.data_preprocessor(batch)['inputs']
    plain = built.teacher_logits(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = built.teacher_logits(x)
    assert mixed.shape == (2, 2, 1000) and torch.equal(mixed, plain)


def _photo_folder(root):
    """Four real photos (scikit-image) as JPEGs in two class folders."""
    from skimage import data
    classes = dict(a=('astronaut', 'coffee'), b=('chelsea', 'rocket'))
    for cls, names in classes.items():
        for name in names:
            img = getattr(data, name)()[..., ::-1]  # RGB -> BGR
            mmcv.imwrite(img, str(root / cls / f'{name}.jpg'))
    return str(root)


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    """A two-view store of the tiny teachers' labels on the photos, made
    by tools/precompute_logits.py from the tiny offline config."""
    root = tmp_path_factory.mktemp('libkd_in1k')
    cfg = _cfg(OFFLINE['tiny'])
    wrapper = cfg.train_dataloader.dataset
    _tiny(cfg.model, wrapper.teachers, root)
    wrapper.dataset = dict(
        type='CustomDataset',
        data_root=_photo_folder(root / 'photos'),
        pipeline=wrapper.dataset.pipeline)
    wrapper.update(store=str(root / 'store'), num_views=2)
    # the tool reads the config as dumped (MMEngine sorts dict keys): the
    # training side below, reading the source config, must still match
    cfg.dump(str(root / 'offline.py'))
    spec = importlib.util.spec_from_file_location(
        'precompute_logits', ROOT / 'tools/precompute_logits.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = ['--device', 'cpu', '--threads', '1', '--shard-size', '2']
    assert tool.main([str(root / 'offline.py')] + args)
    return {
        k: copy.deepcopy(wrapper[k])
        for k in ('dataset', 'store', 'teachers', 'num_views')
    }


@pytest.mark.parametrize('size', SIZES)
def test_offline_config(size, store):
    cfg = _cfg(OFFLINE[size])
    wrapper = cfg.train_dataloader.dataset
    assert wrapper.type == 'PrecomputedViewDataset'
    assert wrapper.num_views == 500 and wrapper.topk == 5
    pipeline = wrapper.dataset.pipeline
    _check_recipe(cfg, cfg.model, pipeline, size)
    # the teachers' views are replayed; the rest of DeiT's augmentation
    # is the student's alone
    steps = [t.type for t in pipeline]
    assert steps[:2] == ['LoadImageFromFile', 'ReplayResizedCrop']
    assert pipeline[1].scale == 224 and pipeline[1].flip_prob == 0.5
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.data_preprocessor.type == 'SoftTargetClsDataPreprocessor'
    # the online config's teachers; one store for both students
    online = _cfg(ONLINE[size]).model.teachers
    assert wrapper.teachers == online
    _check_teachers(wrapper.teachers)
    assert wrapper.store == _cfg(OFFLINE['tiny']).train_dataloader.dataset.\
        store
    # tiny: the store made by the tool, one step on two stored views
    _tiny(cfg.model, {}, None)
    for key, value in store.items():
        wrapper[key] = value  # replaced, not merged
    dataset = DATASETS.build(wrapper)
    items = [dataset[0], dataset[3]]
    for item in items:
        assert item['inputs'].shape == (3, 224, 224)
        scores = item['data_samples'].teacher_scores
        assert scores.shape == (2, 1000)
        assert torch.allclose(scores.sum(-1), torch.ones(2))
    built, losses = train_one_step(cfg, pseudo_collate(items))
    assert set(losses) == {'loss', 'loss_cls', 'loss_kd'}
