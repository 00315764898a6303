"""The ReMem configs: the CIFAR-100 paper-scale ones hold their recipe and,
with tiny architectures, run one step through their own pipeline on real
photos (no CIFAR here); the Fashion-MNIST ones fit together."""
import copy
import math
from pathlib import Path

import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS, TRANSFORMS

from mmkd_plugin.engine import SAMOptimWrapper

ROOT = Path(__file__).parents[2]
REMEM = ROOT / 'configs/remem'
FT_SAM = 'ft-sam_vit-base-p16_8xb16-sgd-10e_cifar100_in1k.py'
FT_SAM_RW = 'ft-sam-mlp0.5_vit-base-p16_8xb16-sgd-10e_cifar100_in1k.py'
KD = 'remem_vit-tiny-p16_vit-base-p16_8xb16-adamw-50e_cifar100_in1k.py'
TINY = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
TINY_STUDENT = dict(
    embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32)
MMLogger.get_current_instance().setLevel('WARNING')

pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _cfg(name):
    return Config.fromfile(str(REMEM / name))


def test_every_paper_scale_config_is_covered():
    assert {p.name for p in REMEM.glob('*_in1k.py')} == {FT_SAM, FT_SAM_RW, KD}


def _photos(cfg):
    """The config's train pipeline on two real RGB photos (as CIFAR100
    gives images: RGB arrays, no file loading)."""
    from skimage import data
    pipeline = Compose(
        [TRANSFORMS.build(t) for t in cfg.train_dataloader.dataset.pipeline])
    samples = [
        pipeline(dict(img=img, img_shape=img.shape[:2], gt_label=i))
        for i, img in enumerate([data.astronaut(),
                                 data.coffee()])
    ]
    return pseudo_collate(samples)


def _seeded_classifier(model_cfg, path, alpha=None):
    """A seeded tiny classifier saved as a runner would."""
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.backbone.pop('init_cfg', None)
    if alpha is not None:
        model_cfg.backbone.mlp_alpha = alpha
    torch.manual_seed(3)
    model = MODELS.build(model_cfg)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return model


def _step(cfg):
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()  # loads the Pretrained init_cfg
    model.train()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = _photos(cfg)
    assert batch['inputs'][0].shape == (3, 224, 224)
    before = [p.detach().clone() for p in model.parameters()]
    losses = model.train_step(batch, wrapper)
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert any(not torch.equal(p, b)
               for p, b in zip(model.parameters(), before))
    return model, wrapper, losses


@pytest.mark.parametrize('name,alpha', [(FT_SAM, 1.0), (FT_SAM_RW, 0.5)])
def test_teacher_fine_tuning_config(name, alpha, tmp_path):
    cfg = _cfg(name)
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch) == ('ReweightedVisionTransformer',
                                              'deit-base')
    assert (backbone.mlp_alpha, backbone.top_k) == (alpha, 2)
    assert backbone.init_cfg.prefix == 'backbone.'
    assert 'deit-base_pt-16xb64_in1k' in backbone.init_cfg.checkpoint
    assert cfg.model.head.num_classes == 100
    optim = cfg.optim_wrapper
    assert (optim.type, optim.rho, optim.adaptive) == \
        ('SAMOptimWrapper', 0.05, False)
    assert (optim.optimizer.type, optim.optimizer.lr) == ('SGD', 0.01)
    assert cfg.train_dataloader.dataset.type == 'CIFAR100'
    assert cfg.train_cfg.max_epochs == 10
    assert 'mmkd_plugin' in cfg.custom_imports.imports
    # tiny: a seeded "ImageNet" checkpoint of the same layout, one SAM step
    backbone.arch = TINY
    cfg.model.head.in_channels = TINY['embed_dims']
    plain = copy.deepcopy(cfg.model)
    plain.backbone.type = 'VisionTransformer'
    for key in ('mlp_alpha', 'top_k'):
        plain.backbone.pop(key)
    source = _seeded_classifier(plain, tmp_path / 'in1k.pth')
    backbone.init_cfg.checkpoint = str(tmp_path / 'in1k.pth')
    model, wrapper, _ = _step(cfg)
    assert isinstance(wrapper, SAMOptimWrapper)
    # init_weights loads the "ImageNet" weights (alpha keeps its value)
    torch.manual_seed(0)
    fresh = MODELS.build(cfg.model)
    fresh.init_weights()
    assert torch.equal(fresh.backbone.layers[0].ffn.layers[1].weight,
                       source.backbone.layers[0].ffn.layers[1].weight)
    assert float(model.backbone.layers[2].ffn.gamma2.alpha) == alpha


def test_distillation_config(tmp_path):
    cfg = _cfg(KD)
    model = cfg.model
    assert model.type == 'LogitKD' and model.alpha == 0.5
    assert model.kd_loss == dict(type='KDLoss', tau=4.0)
    assert model.feature_loss.type == 'NormalizedFeatureLoss'
    assert model.student.backbone.arch == 'deit-tiny'
    assert model.teacher.model == _cfg(FT_SAM).model
    # tiny teacher with alpha 0.5 (the config says 1.0), tiny student
    model.teacher.model.backbone.arch = TINY
    model.teacher.model.head.in_channels = TINY['embed_dims']
    model.teacher.checkpoint = str(tmp_path / 'teacher.pth')
    _seeded_classifier(model.teacher.model, tmp_path / 'teacher.pth', 0.5)
    model.student.backbone.arch = TINY_STUDENT
    model.student.head.in_channels = TINY_STUDENT['embed_dims']
    student = copy.deepcopy(model.student)
    _seeded_classifier(student, tmp_path / 'student.pth')
    model.student.backbone.init_cfg.checkpoint = str(tmp_path / 'student.pth')
    built, _, losses = _step(cfg)
    assert set(losses) == {'loss', 'loss_ce', 'loss_kd', 'loss_feat'}
    assert float(built.teacher.vit.layers[2].ffn.gamma2.alpha) == 0.5


def test_fashion_mnist_configs_fit_together():
    base = Config.fromfile(
        str(ROOT / 'configs/_base_/models/'
            'vit_fashion_mnist.py')).vit_teacher
    names = {
        'ft_': (1.0, 'OptimWrapper'),
        'ft-sam_': (1.0, 'SAMOptimWrapper'),
        'ft-sam-mlp0.5_': (0.5, 'SAMOptimWrapper'),
        'ft-sam-mlp0.5-mi0.01_': (0.5, 'SAMOptimWrapper'),
    }
    suffix = 'vit-128d6l-p7_1xb256-adamw-2e_fashion-mnist-lt100.py'
    for prefix, (alpha, wrapper) in names.items():
        cfg = _cfg(prefix + suffix)
        backbone = copy.deepcopy(cfg.model.backbone)
        # the supervised teacher's architecture, reweighted top 2 blocks
        assert backbone.pop('type') == 'ReweightedVisionTransformer'
        assert (backbone.pop('mlp_alpha'), backbone.pop('top_k')) == (alpha, 2)
        assert backbone == {
            k: v
            for k, v in base.backbone.items() if k != 'type'
        }
        assert cfg.model.head == base.head
        assert cfg.optim_wrapper.get('type', 'OptimWrapper') == wrapper
        assert cfg.load_from.endswith('teacher/epoch_3.pth')
        assert cfg.train_dataloader.dataset.imbalance_ratio == 100
    kd = _cfg('remem_vit-96d4l-p7_vit-128d6l-p7_1xb256-adamw-3e_'
              'fashion-mnist-lt100.py')
    student = _cfg('student_vit-96d4l-p7_1xb256-adamw-3e_fashion-mnist-'
                   'lt100.py')
    assert kd.model.teacher.model == _cfg('ft_' + suffix).model
    assert kd.model.student == student.model
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader'):
        assert kd[key] == student[key], key
