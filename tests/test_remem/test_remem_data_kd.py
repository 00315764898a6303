"""The long-tailed Fashion-MNIST subset, and feature KD from a ReMem
teacher (logits and head features in one teacher forward)."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.datasets import long_tail_indices

KD = ('configs/remem/remem_vit-96d4l-p7_vit-128d6l-p7_1xb256-adamw-3e_'
      'fashion-mnist-lt100.py')

pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def test_long_tail_indices_follow_the_protocol():
    labels = np.repeat(np.arange(4), 100)[::-1]  # 4 classes, 100 each
    keep = long_tail_indices(labels, 10)
    counts = np.bincount(labels[keep], minlength=4)
    # n_c = floor(100 * 10^(-c/3)): 100, 46, 21, 10
    assert counts.tolist() == [100, 46, 21, 10]
    assert keep == sorted(keep)
    assert np.bincount(labels[long_tail_indices(labels, 1, 30)]).tolist() \
        == [30] * 4
    with pytest.raises(ValueError, match='imbalance_ratio must be >= 1'):
        long_tail_indices(labels, 0.5)
    with pytest.raises(ValueError, match='exceeds the smallest class'):
        long_tail_indices(labels, 2, 101)


def test_long_tailed_fashion_mnist():
    cfg = Config.fromfile(f'{ROOT}/{KD}')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    counts = np.bincount(dataset.get_gt_labels(), minlength=10)
    assert counts.tolist() == [int(6000 * 100**(-c / 9))
                               for c in range(10)]  # 6000 .. 60
    assert len(dataset) == counts.sum() == 14886
    item = dataset[0]
    assert item['inputs'].shape == (1, 28, 28)
    assert dataset.metainfo['classes'][0] == 'T-shirt/top'
    balanced = copy.deepcopy(cfg.train_dataloader.dataset)
    balanced.update(imbalance_ratio=1, max_per_class=1500, indices=100)
    assert len(DATASETS.build(balanced)) == 100


def test_feature_kd_equals_independent_computation(tmp_path):
    cfg = Config.fromfile(f'{ROOT}/{KD}')
    # a ReMem teacher checkpoint with alpha 0.5; the config says 1.0
    teacher_cfg = copy.deepcopy(cfg.model.teacher.model)
    assert teacher_cfg.backbone.mlp_alpha == 1.0
    teacher_cfg.backbone.mlp_alpha = 0.5
    torch.manual_seed(0)
    source = MODELS.build(teacher_cfg)
    source.init_weights()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.05 * torch.randn_like(p))
    source.eval()
    path = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=source.state_dict()), path)
    cfg.model.teacher.checkpoint = path
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    model.init_weights()
    vit = model.teacher.vit
    # restored from the checkpoint, in the top 2 blocks only
    assert [float(vit.layers[i].ffn.gamma2.alpha) for i in (4, 5)] == \
        [0.5, 0.5]
    assert not hasattr(vit.layers[3].ffn.gamma2, 'alpha')
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 1, 28, 28, generator=g)
    labels = torch.arange(6) % 10
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss_ce', 'loss_kd', 'loss_feat'}
    with torch.no_grad():
        t_logits = source(x, mode='tensor')
        t_feat = source.backbone(x)[-1]  # CLS after the final norm
        s_feat = model.student.backbone(x)[-1]
        s_logits = model.student(x, mode='tensor')
        proj = s_feat @ model.feature_proj.weight.T + model.feature_proj.bias
        want_feat = (F.normalize(proj, dim=-1) -
                     F.normalize(t_feat, dim=-1)).pow(2).mean()
        p_t = F.softmax(t_logits / 4, -1)
        kl = (p_t * (p_t.log() - F.log_softmax(s_logits / 4, -1))).sum(-1)
    torch.testing.assert_close(losses['loss_feat'], want_feat)
    torch.testing.assert_close(losses['loss_kd'], 0.5 * 16 * kl.mean())
    torch.testing.assert_close(losses['loss_ce'],
                               0.5 * F.cross_entropy(s_logits, labels))
    # the projection is trained, the teacher is not in the module tree
    names = [n for n, _ in model.named_parameters()]
    assert 'feature_proj.weight' in names
    assert not any(n.startswith('teacher') for n in names)
