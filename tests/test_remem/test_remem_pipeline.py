"""A shrunk ReMem pipeline on real Fashion-MNIST: a SAM + reweighting
teacher is fine-tuned, then a student is distilled from its checkpoint
(alpha restored from it), extracted and tested."""
import json

from conftest import ROOT, run_shrunk_pipeline
from mmengine.config import Config

from mmkd_plugin.utils import load_checkpoint_file

PIPELINE = 'configs/pipelines/fashion_mnist_remem.py'


def test_shrunk_remem_pipeline(tmp_path):
    full = Config.fromfile(f'{ROOT}/{PIPELINE}')
    stages = {s['name']: s for s in full.stages}
    assert len(stages) == 15 and 'quick' in full.profiles
    teacher = dict(
        stages['ft_sam_rw_lt'],
        cfg_options={'load_from': None},
        analysis=dict(
            stages['ft_sam_rw_lt']['analysis'], args=['--num-samples', '100']))
    teacher.pop('inputs')  # from scratch here: no pretrain stage
    kd = stages['kd_sam_rw_lt']
    out, records = run_shrunk_pipeline(tmp_path, full, [teacher, kd])
    assert list(records) == ['ft_sam_rw_lt', 'kd_sam_rw_lt']
    for record in records.values():
        assert record['metric'] == 'accuracy/top1'
        assert 0 <= record['score'] <= 100
    # the teacher's MI profile: in the table, from the tool's own JSON
    profile = json.loads(
        (out / 'ft_sam_rw_lt' / 'analysis' / 'mi_profile.json').read_text())
    assert profile['num_samples'] == 100 and len(profile['rate']) == 6
    columns = records['ft_sam_rw_lt']['analysis']['columns']
    assert columns == {
        'R last block': profile['rate'][-1],
        'R_c last block': profile['class_conditional_rate'][-1],
        'R logits': profile['logits_rate']
    }
    table = (out / 'results.md').read_text()
    assert '| R last block | R_c last block | R logits |' in table
    assert f'{profile["rate"][-1]:.3f}' in table
    assert 'analysis' not in records['kd_sam_rw_lt']
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
