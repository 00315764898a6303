"""tools/analysis/teacher_mi.py on real Fashion-MNIST: JSON and PNG whose
numbers match calling the estimator directly; one-line errors."""
import json

import pytest
import torch
from conftest import ROOT, run_tool
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

from mmkd_plugin.evaluation import class_conditional_coding_rate, coding_rate
from mmkd_plugin.models import embed_tokens, run_blocks

CONFIG = ('configs/remem/ft-sam-mlp0.5_vit-128d6l-p7_1xb256-adamw-2e_'
          'fashion-mnist-lt100.py')


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    """A seeded ReMem teacher (alpha 0.5 in blocks 4, 5), as a checkpoint."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(f'{ROOT}/{CONFIG}')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp('mi') / 'teacher.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return cfg, model.eval(), str(path)


def test_profile_matches_direct_computation(teacher, tmp_path):
    cfg, model, path = teacher
    out = tmp_path / 'mi'
    res = run_tool('tools/analysis/teacher_mi.py', CONFIG, path, '--out-dir',
                   str(out), '--num-samples', '48', '--batch-size', '20')
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads((out / 'mi_profile.json').read_text())
    assert (out / 'mi_profile.png').read_bytes()[:4] == b'\x89PNG'
    assert result['blocks'] == list(range(6)) and len(result['indices']) == 48
    assert 'suggestion:' in res.stdout
    # the same images through the same model, the estimator called here
    torch.set_num_threads(1)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    pre = MODELS.build(
        dict(type='mmpretrain.ClsDataPreprocessor', **cfg.data_preprocessor))
    data = pre(pseudo_collate([dataset[i] for i in result['indices']]))
    labels = torch.cat([s.gt_label for s in data['data_samples']])
    vit = model.backbone
    with torch.no_grad():
        blocks = run_blocks(vit, embed_tokens(vit, data['inputs']),
                            list(range(6)))
        logits = model(data['inputs'], mode='tensor')
    for i, tokens in enumerate(blocks):
        cls = tokens[:, 0]  # [n, D]
        assert result['rate'][i] == pytest.approx(
            coding_rate(cls, 0.5, normalize=True).item(), rel=1e-4)
        assert result['class_conditional_rate'][i] == pytest.approx(
            class_conditional_coding_rate(cls, labels, 0.5,
                                          normalize=True).item(),
            rel=1e-4)
    assert result['logits_rate'] == pytest.approx(
        coding_rate(logits, 0.5, normalize=True).item(), rel=1e-4)
    rate = result['rate']
    drops = [rate[i - 1] - rate[i] for i in range(1, 6)]
    assert result['drops'] == pytest.approx(drops)
    top = sorted(range(1, 6), key=lambda i: -drops[i - 1])[:2]
    assert result['suggested_blocks'] == sorted(i for i in top
                                                if drops[i - 1] > 0)


def test_bad_input_is_one_line(tmp_path):
    res = run_tool('tools/analysis/teacher_mi.py', CONFIG,
                   str(tmp_path / 'none.pth'), '--out-dir', str(tmp_path))
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith(
        'teacher_mi.py: error: CheckpointError: checkpoint not found')
    assert 'Traceback' not in res.stderr
    assert not (tmp_path / 'mi_profile.json').exists()
