"""The --quick pipeline on real Fashion-MNIST: teacher -> scratch student
-> distilled student -> evaluation, a results table, and skipping."""
import json

from conftest import ROOT, run_shrunk_pipeline, run_tool
from mmengine.config import Config

from mmkd_plugin.utils import load_checkpoint_file

PIPELINE = 'configs/pipelines/fashion_mnist.py'


def test_quick_pipeline_runs_and_skips_finished_stages(tmp_path):
    res = run_tool('tools/pipeline.py', PIPELINE, '--quick', '--work-dir',
                   str(tmp_path))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = tmp_path / 'quick'
    results = json.loads((out / 'results.json').read_text())
    stages = {s['name']: s for s in results['stages']}
    assert list(stages) == ['teacher', 'scratch', 'kd']
    metrics = {
        name: json.loads((out / name / 'test_metrics.json').read_text())
        for name in stages
    }
    for name, stage in stages.items():
        assert stage['metric'] == 'accuracy/top1'
        assert stage['score'] == metrics[name]['accuracy/top1']
        assert 0 <= stage['score'] <= 100
        # the table row carries the tested accuracy
        assert (f'| accuracy/top1 | {stage["score"]:.3f} |'
                in (out / 'results.md').read_text())
    # the distilled student learned: its loss fell over the run
    curve = [loss for _, loss in stages['kd']['loss_curve']]
    assert len(curve) >= 4
    assert sum(curve[-2:]) / 2 < 0.95 * sum(curve[:2]) / 2, curve
    # the distiller's student was extracted and tested on its own config
    assert stages['kd']['output'].endswith('student.pth')
    # the teacher the student learned from is the teacher stage's
    kd_meta = json.loads((out / 'kd' / 'stage.json').read_text())
    assert kd_meta['checkpoint'].endswith('epoch_1.pth')
    assert (out / 'results.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'Epoch(train)' in res.stdout  # progress is shown

    again = run_tool('tools/pipeline.py', PIPELINE, '--quick', '--work-dir',
                     str(tmp_path))
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count('done before, skipped') == 3
    assert 'Epoch(train)' not in again.stdout
    assert json.loads((out / 'results.json').read_text()) == results


def test_unknown_profile_is_refused(tmp_path):
    res = run_tool('tools/pipeline.py', PIPELINE, '--profile', 'huge',
                   '--work-dir', str(tmp_path))
    assert res.returncode != 0
    assert "unknown profile 'huge'" in res.stderr
    assert 'quick' in res.stderr


def test_shrunk_mim_pipeline_chains_pretraining_into_fine_tuning(tmp_path):
    """MAE teacher -> DMAE / TinyMIM students -> fine-tuning, and TinyMIM's
    next link 96d -> 72d: each stage starts from (or is taught by) the
    output of the stage it names."""
    taught_by = dict(
        dmae='mae_teacher', tinymim='mae_teacher', tinymim_72d='tinymim')
    fine_tuned_from = dict(ft_scratch=None, ft_dmae='dmae')
    full = Config.fromfile(f'{ROOT}/configs/pipelines/fashion_mnist_mim.py')
    picked = [
        s for s in full.stages
        if s['name'] in ('mae_teacher', *taught_by, *fine_tuned_from)
    ]
    out, stages = run_shrunk_pipeline(tmp_path, full, picked)
    for name in ('mae_teacher', *taught_by):
        assert stages[name]['score'] is None  # pre-training: no test
        curve = [loss for _, loss in stages[name]['loss_curve']]
        assert curve[-1] < curve[0], (name, curve)
    for name, teacher in taught_by.items():
        assert stages[name]['output'].endswith('student.pth')
        meta = load_checkpoint_file(stages[name]['checkpoint'])['meta']
        assert [t['source'] for t in meta['teachers'].values()
                ] == [stages[teacher]['output']], name
    for name, source in fine_tuned_from.items():
        assert 0 <= stages[name]['score'] <= 100
        log = (out / name / 'pipeline.log').read_text()
        if source is None:
            assert 'load backbone. in model from' not in log
        else:
            assert ('load backbone. in model from: '
                    f'{stages[source]["output"]}') in log
