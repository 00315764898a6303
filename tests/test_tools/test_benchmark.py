"""tools/benchmark.py: runs end to end, reports consistent numbers.

No timing is asserted: only that the JSON holds what it claims.
"""
import importlib.util
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'benchmark.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*args: str, env: dict = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TOOL, *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=env)


# the LIB-KD offline store of the Fashion-MNIST config
_STORE = Config.fromfile(
    osp.join(
        ROOT, 'configs/libkd/libkd-offline_vit-96d4l-p7_resnet18-rednet26_'
        '1xb256-adamw-3e_fashion-mnist.py')).train_dataloader.dataset
IMAGES, VIEWS, TEACHERS, TOPK = 12, _STORE.num_views, 2, _STORE.topk


@pytest.fixture(scope='module')
def tool_run(tmp_path_factory):
    """One tiny run of three cases, one thread (importing the tool's stack
    is most of a run): Hinton KD and both LIB-KD cases; the store case's
    work dir is kept, to measure its files here."""
    root = tmp_path_factory.mktemp('benchmark')
    proc = run_tool(
        'kd_vs_student',
        'libkd_vs_student',
        'libkd_store',
        '--warmup',
        '1',
        '--steps',
        '2',
        '--batch-size',
        '8',
        '--images',
        str(IMAGES),
        '--shard-size',
        '5',
        '--work-dir',
        str(root / 'libkd'),
        '--out',
        str(root / 'result.json'),
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, root


def test_kd_vs_student_end_to_end(tool_run):
    proc, root = tool_run
    result = json.loads(proc.stdout)
    assert json.loads((root / 'result.json').read_text()) == result
    assert set(result) == {
        'kd_vs_student', 'libkd_vs_student', 'libkd_store', 'machine'
    }
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
    tool = load_tool()
    assert proc.stdout.split() == [*tool.CASES, *tool.FUNCTION_CASES]
    assert 'libkd_store' in proc.stdout.split()


def test_every_arm_config_exists():
    for name, case in load_tool().CASES.items():
        for arm in case.arms:
            if '::' not in arm.config:
                assert osp.isfile(osp.join(ROOT, arm.config)), (name, arm)


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


def test_libkd_vs_student_arms_and_ratios(tool_run):
    case = json.loads(tool_run[0].stdout)['libkd_vs_student']
    arms = case['arms']
    assert set(arms) == {'offline', 'online', 'plain'}
    assert all(a['batch_size'] == 8 and a['mode'] == 'train'
               for a in arms.values())
    assert arms['online']['overrides'] == {
        'model.teachers.resnet.checkpoint': None,
        'model.teachers.rednet.checkpoint': None
    }
    # the same student: teachers (online) are outside the optimiser; the
    # plain ViT lacks two distillation tokens, their position embeddings
    # and their heads (96 -> 10)
    params = {a: arms[a]['trainable_params'] for a in arms}
    assert params['offline'] == params['online']
    assert params['offline'] - params['plain'] == \
        2 * 96 * 2 + 2 * (96 * 10 + 10)
    median = {a: statistics.median(arms[a]['times_s']) for a in arms}
    assert case['ratios'] == pytest.approx({
        'offline/plain':
        median['offline'] / median['plain'],
        'online/plain':
        median['online'] / median['plain'],
    })


def _npy_data_bytes(path):
    """A .npy file's size without its header."""
    with open(path, 'rb') as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (
            1, 0) else np.lib.format.read_array_header_2_0
        read(f)
        return osp.getsize(path) - f.tell()


def test_libkd_store_throughput_and_storage(tool_run):
    proc, root = tool_run
    case, work = json.loads(proc.stdout)['libkd_store'], root / 'libkd'
    views = IMAGES * VIEWS
    made, pure = (case['throughput'][k] for k in ('precompute', 'inference'))
    assert made['views'] == pure['views'] == views
    assert 0 < made['shards_s'] <= made['total_s']
    assert made['views_per_s'] == pytest.approx(views / made['shards_s'])
    assert made['views_per_s_end_to_end'] == pytest.approx(views /
                                                           made['total_s'])
    assert pure['views_per_s'] == pytest.approx(views / pure['seconds'])
    # each shard is a round with the inference of as many views after it
    rounds = made['rounds']
    assert [r['images'] for r in rounds] == [5, 5, 2]
    assert made['shards_s'] == pytest.approx(sum(r['shard_s'] for r in rounds))
    assert pure['seconds'] == pytest.approx(
        sum(r['inference_s'] for r in rounds))
    assert case['throughput']['ratio_median'] == pytest.approx(
        statistics.median(r['inference_s'] / r['shard_s'] for r in rounds))
    # the shards' two parts, timed inside them
    for part in ('render', 'label'):
        assert made[f'{part}_s'] == pytest.approx(
            sum(r[f'{part}_s'] for r in rounds))
    assert all(0 < r['render_s'] + r['label_s'] < r['shard_s'] for r in rounds)
    assert case['throughput']['render_share'] == pytest.approx(
        made['render_s'] / made['shards_s'])
    assert case['throughput']['label_over_inference'] == pytest.approx(
        made['label_s'] / pure['seconds'])
    assert case['throughput']['ratio'] == pytest.approx(made['views_per_s'] /
                                                        pure['views_per_s'])
    # the store on disk, measured here; its record as logit_store.py
    # documents it: index int64, boxes float32 [N, 4], flips uint8 [N],
    # labels int16 and probs float16 [T, N, k]
    index = json.loads((work / 'store' / 'index.json').read_text())
    assert index['complete']
    shards = sorted((work / 'store').glob('shard-*.npy'))
    data = sum(_npy_data_bytes(p) for p in shards)
    assert data == IMAGES * (8 + VIEWS * (16 + 1) + TEACHERS * VIEWS * TOPK *
                             (2 + 2))
    storage = case['storage']
    assert storage['shard_files'] == len(shards)
    assert storage['shard_data_bytes'] == data
    assert storage['bytes_per_view_per_teacher'] == pytest.approx(
        data / (IMAGES * VIEWS * TEACHERS))
    assert storage['record_bytes_per_view'] == dict(
        teacher_labels_probs=TOPK * (2 + 2),
        shared_box_flip=16 + 1,
        per_image_index=8)
    # ImageNet-1K: 1000 classes fit int16; 500 views, top-5
    in1k = storage['in1k']
    assert in1k['bytes_per_view_per_teacher'] == 5 * (2 + 2)
    assert in1k['gb_per_teacher'] == pytest.approx(1281167 * 500 * 20 / 1e9)
    assert in1k['gb_shared'] == pytest.approx(1281167 * (8 + 500 * 17) / 1e9)
    config = case['config']
    assert (config['images'], config['views'], config['topk'],
            config['batch_size']) == (IMAGES, VIEWS, TOPK, 8)


def test_libkd_store_read_side(tool_run):
    read = json.loads(tool_run[0].stdout)['libkd_store']['read']
    arms = read['arms']
    assert set(arms) == {'offline', 'plain'}
    for arm in arms.values():
        assert len(arm['times_s']) == 2
        assert arm['median_s'] == pytest.approx(
            statistics.median(arm['times_s']))
        assert arm['images_per_s'] == pytest.approx(IMAGES / arm['median_s'])
    assert read['ratios'] == pytest.approx({
        'offline/plain':
        arms['offline']['median_s'] / arms['plain']['median_s']
    })
