"""The pipeline's downstream part on a tiny real run: a Fashion-MNIST
student stage, then (only with --downstream) toy scenes made by a
``prepare`` command and Mask R-CNN / UperNet stages that start from the
student's backbone exported for MMDetection / MMSegmentation, each
reporting the metric it names; and finished records of the first format
(``accuracy``) still reported."""
import json
import runpy
import sys

import torch
from conftest import DATA_ROOT, ROOT, run_tool

from mmkd_plugin.utils import load_checkpoint_file

TOY = 'configs/downstream/toy/'
DET = TOY + 'mask-rcnn_vit-96d4l-p4_simplefpn_1xb8-5e_toy-coco-grey-64.py'
SEG = TOY + 'upernet_vit-96d4l-p4_1xb8-80i_toy-ade-grey-64.py'
STUDENT = 'configs/benchmarks/vit-96d4l-p4_1xb256-adamw-3e_fashion-mnist.py'
NO_WORKERS = {
    f'{loader}_dataloader.{k}': v
    for loader in ('train', 'val', 'test')
    for k, v in (('num_workers', 0), ('persistent_workers', False))
}


def _config(tmp_path) -> str:
    """A student trained for 2 steps, then detection and segmentation on
    4 + 2 generated scenes, one step each."""
    toy = tmp_path / 'toy'
    coco = f'{toy}/coco/'
    student = dict(
        name='student',
        config=STUDENT,
        test=False,
        cfg_options={
            'model.backbone.init_cfg': None,
            # a plain ViT (CLS token, final norm): the fine-tuning config's
            # average pooling adds a norm no detection / segmentation ViT has
            'model.backbone.out_type': 'cls_token',
            'model.backbone.final_norm': True,
            'train_dataloader.dataset.indices': 64,
            'train_dataloader.batch_size': 32,
            'train_cfg.max_epochs': 1,
            **NO_WORKERS
        })
    det = dict(
        name='det',
        config=DET,
        metric=['coco/bbox_mAP', 'coco/segm_mAP'],
        inputs={'model.backbone.init_cfg.checkpoint': ('student', 'mmdet')},
        cfg_options={
            'train_dataloader.dataset.data_root': coco,
            'val_dataloader.dataset.data_root': coco,
            'test_dataloader.dataset.data_root': coco,
            'test_evaluator.ann_file': coco + 'annotations/instances_val.json',
            'train_cfg.max_epochs': 1,
            **NO_WORKERS
        })
    seg = dict(
        name='seg',
        config=SEG,
        metric='mIoU',
        inputs={'model.pretrained': ('student', 'mmseg')},
        cfg_options={
            **{
                f'{s}_dataloader.dataset.data_root': f'{toy}/ade'
                for s in ('train', 'val', 'test')
            }, 'train_cfg.max_iters': 1,
            **NO_WORKERS
        })
    prepare = [
        dict(
            args=[
                'tools/data/make_toy_coco_ade.py',
                str(toy), '--train', '4', '--val', '2', '--size', '64',
                '--fashion-root', DATA_ROOT
            ],
            creates=str(toy))
    ]
    path = tmp_path / 'pipeline.py'
    path.write_text(f'work_dir = {str(tmp_path / "work")!r}\n'
                    f'stages = {[student]!r}\n'
                    f'prepare = {prepare!r}\n'
                    f'downstream_stages = {[det, seg]!r}\n'
                    "profiles = dict(default=dict(cfg_options={}))\n")
    return str(path)


def _extract(ckpt: str, out: str, fmt: str) -> None:
    """``tools/extract_student.py CKPT OUT --format FMT``, in-process."""
    argv = sys.argv
    try:
        sys.argv = ['extract_student.py', ckpt, out, '--format', fmt]
        runpy.run_path(f'{ROOT}/tools/extract_student.py', run_name='__main__')
    finally:
        sys.argv = argv


def test_downstream_stages_run_only_when_asked(tmp_path):
    config = _config(tmp_path)
    out = tmp_path / 'work' / 'default'
    res = run_tool('tools/pipeline.py', config, env=dict(OMP_NUM_THREADS='1'))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    records = json.loads((out / 'results.json').read_text())['stages']
    assert [r['name'] for r in records] == ['student']
    assert records[0]['score'] is None and records[0]['metrics'] == {}
    assert not (out / 'det').exists() and not (tmp_path / 'toy').exists()

    res = run_tool(
        'tools/pipeline.py',
        config,
        '--downstream',
        env=dict(OMP_NUM_THREADS='1'))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert 'stage 1/3 student: done before, skipped' in res.stdout
    assert (tmp_path / 'toy/coco/annotations/instances_val.json').is_file()
    records = {
        r['name']: r
        for r in json.loads((out / 'results.json').read_text())['stages']
    }
    assert list(records) == ['student', 'det', 'seg']
    table = (out / 'results.md').read_text()
    student = records['student']['output']
    for name, fmt, metrics in (('det', 'mmdet',
                                ['coco/bbox_mAP', 'coco/segm_mAP']),
                               ('seg', 'mmseg', ['mIoU'])):
        # the export the stage trained from: what extract_student writes
        export = out / name / f'backbone_{fmt}.pth'
        ref = tmp_path / f'ref_{fmt}.pth'
        _extract(student, str(ref), fmt)
        got = load_checkpoint_file(str(export))['state_dict']
        want = load_checkpoint_file(str(ref))['state_dict']
        assert set(got) == set(want) and len(got) > 50
        for key, value in want.items():
            assert torch.equal(got[key], value), key
        log = (out / name / 'pipeline.log').read_text()
        assert f'--format {fmt}' in log
        assert f'from path: {export}' in log  # loaded before training
        # tested on the stage's own (tiny) set: the 2 val scenes
        assert 'test) [2/2]' in log  # Epoch( or Iter(
        # the reported numbers are the test run's
        tested = json.loads((out / name / 'test_metrics.json').read_text())
        record = records[name]
        assert record['metric'] == metrics[0]
        assert record['score'] == tested[metrics[0]]
        assert record['metrics'] == {m: tested[m] for m in metrics}
        assert 0 <= record['score'] <= 100
        row = next(line for line in table.splitlines()
                   if line.startswith(f'| {name} |'))
        assert f'| {metrics[0]} | {tested[metrics[0]]:.3f} |' in row
    # the extra metric is a column of its own
    header = table.splitlines()[2]
    assert header.endswith('| train time (s) | coco/segm_mAP |')
    row = next(line for line in table.splitlines()
               if line.startswith('| det |'))
    assert row.endswith(f' {records["det"]["metrics"]["coco/segm_mAP"]:.3f} |')

    again = run_tool(
        'tools/pipeline.py',
        config,
        '--downstream',
        env=dict(OMP_NUM_THREADS='1'))
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count('done before, skipped') == 3
    assert f'prepare: {tmp_path / "toy"} exists, skipped' in again.stdout


def test_records_of_the_first_format_are_still_reported(tmp_path):
    """A stage.json written before ``metric`` existed (``accuracy``): the
    stage is skipped and its top-1 accuracy reported."""
    old = dict(
        name='ft',
        label='fine-tuned',
        config=STUDENT,
        checkpoint='ft/epoch_1.pth',
        output='ft/epoch_1.pth',
        accuracy=71.25,
        train_seconds=12.0,
        cfg_options={},
        loss_curve=[[1, 2.0], [2, 1.5]])
    pre = dict(old, name='pre', accuracy=None, loss_curve=[])
    work = tmp_path / 'work' / 'default'
    for record in (pre, old):
        (work / record['name']).mkdir(parents=True)
        (work / record['name'] / 'stage.json').write_text(json.dumps(record))
    stages = [
        dict(name='pre', config=STUDENT, test=False),
        dict(name='ft', config=STUDENT)
    ]
    config = tmp_path / 'pipeline.py'
    config.write_text(f'work_dir = {str(tmp_path / "work")!r}\n'
                      f'stages = {stages!r}\n'
                      "profiles = dict(default=dict(cfg_options={}))\n")
    res = run_tool('tools/pipeline.py', str(config))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert res.stdout.count('done before, skipped') == 2
    records = json.loads((work / 'results.json').read_text())['stages']
    assert records[1]['metric'] == 'accuracy/top1'
    assert records[1]['score'] == 71.25
    assert records[1]['metrics'] == {'accuracy/top1': 71.25}
    assert records[0]['metric'] is None and records[0]['score'] is None
    table = (work / 'results.md').read_text()
    assert '| ft | fine-tuned | accuracy/top1 | 71.250 | 12 |' in table
    assert '| pre | fine-tuned | - | - | 12 |' in table
