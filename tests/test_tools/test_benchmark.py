"""tools/benchmark.py: runs end to end, reports consistent numbers.

No timing is asserted: only that the JSON holds what it claims.
"""
import importlib.util
import json
import os.path as osp
import statistics
import subprocess
import sys
import time

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'benchmark.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TOOL, *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)


@pytest.fixture(scope='module')
def kd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('benchmark') / 'result.json'
    proc = run_tool('kd_vs_student', '--warmup', '1', '--steps', '2',
                    '--batch-size', '8', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    return proc, out


def test_kd_vs_student_end_to_end(kd_run):
    proc, out = kd_run
    result = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == result
    assert set(result) == {'kd_vs_student', 'machine'}
    assert result['machine']['torch'] == torch.__version__
    case = result['kd_vs_student']
    arms = case['arms']
    assert set(arms) == {'kd', 'student'}
    for arm in arms.values():
        assert arm['batch_size'] == 8
        assert len(arm['times_s']) == 2
        assert arm['median_s'] == pytest.approx(
            statistics.median(arm['times_s']))
        assert arm['images_per_s'] == pytest.approx(8 / arm['median_s'])
        assert arm['peak_mem_mib'] >= 0
        assert arm['trainable_params'] > 0
    # the teacher is outside the optimiser: same trainable parameters
    assert arms['kd']['trainable_params'] == \
        arms['student']['trainable_params']
    assert arms['kd']['overrides'] == {'model.teacher.checkpoint': None}
    assert case['ratios'] == {
        'kd/student':
        pytest.approx(arms['kd']['median_s'] / arms['student']['median_s'])
    }
    assert 'RSS' in case['config']['memory']
    assert '[benchmark] kd_vs_student: warm-up' in proc.stderr


def test_unknown_case_names_valid_ones():
    proc = run_tool('no_such_case')
    assert proc.returncode == 2
    assert proc.stdout == ''
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert 'no_such_case' in lines[0] and 'kd_vs_student' in lines[0]


def test_list_names_every_case():
    proc = run_tool('--list')
    assert proc.returncode == 0
    assert proc.stdout.split() == list(load_tool().CASES)


def test_interleave_round_robin():
    tool = load_tool()
    calls = []

    def step(label, seconds):

        def run():
            calls.append(label)
            return seconds

        return run

    times = tool.interleave({'a': step('a', 1.0), 'b': step('b', 2.0)}, 3)
    assert calls == ['a', 'b'] * 3
    assert times == {'a': [1.0] * 3, 'b': [2.0] * 3}
    assert tool.interleave({'a': step('a', 1.0)}, 0) == {'a': []}


def test_summarise_uses_median():
    tool = load_tool()
    stats = tool.summarise([0.1, 0.4, 0.2, 10.0], batch_size=8)
    assert stats['median_s'] == pytest.approx(0.3)  # outlier ignored
    assert stats['mean_s'] == pytest.approx(2.675)
    assert stats['images_per_s'] == pytest.approx(8 / 0.3)


@pytest.mark.skipif(
    not osp.exists('/proc/self/statm'), reason='needs /proc (Linux)')
def test_peak_memory_sees_a_transient_allocation():
    tool = load_tool()

    def step():
        block = torch.ones(16 * 2**20)  # 64 MiB, every page touched
        time.sleep(0.02)  # alive for ~20 samples
        del block

    peak = tool.peak_memory_mib(step, 'cpu')
    assert 56 < peak < 128
    assert 0 <= tool.peak_memory_mib(lambda: None, 'cpu') < 8


def test_dmae_case_times_teacher_paths_and_sums():
    """No-gradient arms (the truncated teacher's share, a full MAE forward)
    and a ratio over a sum of arms."""
    proc = run_tool('dmae_vs_mae', '--warmup', '0', '--steps', '1',
                    '--batch-size', '4')
    assert proc.returncode == 0, proc.stderr
    case = json.loads(proc.stdout)['dmae_vs_mae']
    arms = case['arms']
    assert {
        a: arms[a]['mode']
        for a in arms
    } == dict(
        dmae='train', mae='train', teacher='teacher', teacher_full='forward')
    # the MAE arm is the DMAE config's own student: the trainable weights
    # differ exactly by DMAE's projection (96 -> 128, with bias)
    assert arms['dmae']['trainable_params'] - \
        arms['mae']['trainable_params'] == 96 * 128 + 128
    median = {a: arms[a]['median_s'] for a in arms}
    assert case['ratios'] == pytest.approx({
        'dmae/mae':
        median['dmae'] / median['mae'],
        'dmae/(mae+teacher)':
        median['dmae'] / (median['mae'] + median['teacher']),
        'teacher_full/teacher':
        median['teacher_full'] / median['teacher'],
    })
