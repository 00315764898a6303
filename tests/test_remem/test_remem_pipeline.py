"""A shrunk ReMem pipeline on real Fashion-MNIST: a SAM + reweighting
teacher is fine-tuned, then a student is distilled from its checkpoint
(alpha restored from it), extracted and tested."""
import json

from conftest import ROOT, run_tool
from mmengine.config import Config

from mmkd_plugin.utils import load_checkpoint_file

PIPELINE = 'configs/pipelines/fashion_mnist_remem.py'


def test_shrunk_remem_pipeline(tmp_path):
    full = Config.fromfile(f'{ROOT}/{PIPELINE}')
    stages = {s['name']: s for s in full.stages}
    assert len(stages) == 15 and 'quick' in full.profiles
    teacher = dict(stages['ft_sam_rw_lt'], cfg_options={'load_from': None})
    teacher.pop('inputs')  # from scratch here: no pretrain stage
    kd = stages['kd_sam_rw_lt']
    quick = dict(full.profiles.quick.cfg_options)
    quick.update({
        'train_dataloader.dataset.indices': 256,
        'val_dataloader.dataset.indices': 200,
        'test_dataloader.dataset.indices': 200
    })
    config = tmp_path / 'pipeline.py'
    config.write_text(
        f'work_dir = {str(tmp_path / "work")!r}\n'
        f'stages = {[teacher, kd]!r}\n'
        f'profiles = {dict(default={}, quick=dict(cfg_options=quick))!r}\n'
    )  # noqa: E501
    res = run_tool('tools/pipeline.py', str(config), '--quick')
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = tmp_path / 'work' / 'quick'
    results = json.loads((out / 'results.json').read_text())
    records = {r['name']: r for r in results['stages']}
    assert list(records) == ['ft_sam_rw_lt', 'kd_sam_rw_lt']
    for record in records.values():
        assert 0 <= record['accuracy'] <= 100
    ckpt = load_checkpoint_file(records['ft_sam_rw_lt']['checkpoint'])
    alphas = {
        k: float(v)
        for k, v in ckpt['state_dict'].items() if k.endswith('gamma2.alpha')
    }
    assert alphas == {
        'backbone.layers.4.ffn.gamma2.alpha': 0.5,
        'backbone.layers.5.ffn.gamma2.alpha': 0.5
    }
    kd_ckpt = load_checkpoint_file(records['kd_sam_rw_lt']['checkpoint'])
    assert [t['source'] for t in kd_ckpt['meta']['teachers'].values()] == \
        [records['ft_sam_rw_lt']['output']]
    assert records['kd_sam_rw_lt']['output'].endswith('student.pth')
