"""Run a chain of training stages and report the results in one table.

    python tools/pipeline.py configs/pipelines/fashion_mnist.py [--quick]
        [--profile NAME] [--work-dir DIR] [--force]

Each stage trains with ``tools/train.py`` in its own process; a distiller's
student is then extracted with ``tools/extract_student.py`` (``export``,
default when the stage has an ``eval_config``), and the result is tested with
``tools/test.py`` (unless ``test=False``, e.g. self-supervised pretraining).
``inputs`` maps config keys to earlier stages' outputs (the exported student,
or the last checkpoint); a stage's ``cfg_options`` apply to its training. A
finished stage leaves ``stage.json``; a later run skips it. An interrupted
stage resumes from its last checkpoint. A stage's ``analysis``
(``dict(tool=..., args=[...])``) runs ``tool CONFIG MODEL --out-dir
STAGE/analysis ARGS`` on the tested model once; the ``summary.json`` the tool
writes there (``columns``: name -> number; ``curve``: ``x``, ``y``,
``xlabel``, ``ylabel``) adds columns to the table and a panel to the plot.
Writes ``results.md``, ``results.json`` and ``results.png`` (accuracies, loss
curves, analysis curves) into the profile's work dir.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def log(msg: str) -> None:
    print(f'[pipeline] {msg}', flush=True)


def write_json(obj, path: str) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def run_tool(args: List[str], out_file: str, tag: str) -> None:
    """Run a tool, keep its full output in ``out_file``, echo progress."""
    cmd = [sys.executable, *args]
    with open(out_file, 'a') as out:
        out.write(f'$ {" ".join(cmd)}\n')
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True)
        last = ''
        for line in proc.stdout:
            out.write(line)
            if 'Epoch(' in line or ': error:' in line:
                print(f'  [{tag}] {line.split(" - ")[-1].strip()}', flush=True)
            last = line.strip() or last
        if proc.wait():
            raise RuntimeError(
                f'stage {tag} failed (exit {proc.returncode}): {last}; '
                f'full output in {out_file}')


def cfg_args(options: Dict[str, object], config: str) -> List[str]:
    """``--cfg-options`` for ``config``; profile options for sections the
    config does not have (e.g. no val loader in a pre-training config)
    are left out rather than creating half a section."""
    have = Config.fromfile(osp.join(ROOT, config))
    options = {
        k: v
        for k, v in options.items() if have.get(k.split('.')[0]) is not None
    }
    if not options:
        return []
    return ['--cfg-options'] + [
        f'{k}={"None" if v is None else v}' for k, v in options.items()
    ]


def loss_curve(stage_dir: str) -> List[List[float]]:
    """(iter, loss) pairs from MMEngine's scalars.json, over all runs."""
    points = {}
    for path in sorted(
            glob.glob(osp.join(stage_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec and 'iter' in rec:
                    points[rec['iter']] = rec['loss']
    return [[k, points[k]] for k in sorted(points)]


def run_stage(stage: dict, stage_dir: str, options: dict,
              done: Dict[str, dict]) -> dict:
    """Train (resuming), export the student if asked, test if asked."""
    os.makedirs(stage_dir, exist_ok=True)
    out_file = osp.join(stage_dir, 'pipeline.log')
    inputs = {}
    for key, source in stage.get('inputs', {}).items():
        if source not in done:
            raise RuntimeError(f'stage {stage["name"]} needs stage {source}, '
                               'which has not run before it')
        inputs[key] = done[source]['output']
    # each stage is tested below: no second evaluation during training
    train = [
        'tools/train.py', stage['config'], '--work-dir', stage_dir,
        '--no-validate'
    ]
    if osp.isfile(osp.join(stage_dir, 'last_checkpoint')):
        log(f'{stage["name"]}: resuming the interrupted run')
        train.append('--resume')
    start = time.time()
    own = {**stage.get('cfg_options', {}), **options, **inputs}
    run_tool(train + cfg_args(own, stage['config']), out_file, stage['name'])
    seconds = time.time() - start
    with open(osp.join(stage_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    output = checkpoint
    if stage.get('export', 'eval_config' in stage):
        output = osp.join(stage_dir, 'student.pth')
        run_tool(['tools/extract_student.py', checkpoint, output], out_file,
                 stage['name'])
    accuracy = None
    if stage.get('test', True):
        metrics_file = osp.join(stage_dir, 'test_metrics.json')
        config = stage.get('eval_config', stage['config'])
        test = [
            'tools/test.py', config, output, '--work-dir',
            osp.join(stage_dir, 'test'), '--out', metrics_file
        ]
        run_tool(test + cfg_args(options, config), out_file, stage['name'])
        with open(metrics_file) as f:
            accuracy = json.load(f)['accuracy/top1']
    return dict(
        name=stage['name'],
        label=stage.get('label', stage['name']),
        config=stage['config'],
        checkpoint=checkpoint,
        output=output,
        accuracy=accuracy,
        train_seconds=round(seconds, 1),
        cfg_options=options,
        loss_curve=loss_curve(stage_dir))


def run_analysis(stage: dict, record: dict, stage_dir: str,
                 options: dict) -> dict:
    """The stage's analysis summary, running its tool if not done yet."""
    out_dir = osp.join(stage_dir, 'analysis')
    summary = osp.join(out_dir, 'summary.json')
    if not osp.isfile(summary):
        spec = stage['analysis']
        config = stage.get('eval_config', stage['config'])
        log(f'{stage["name"]}: analysis {spec["tool"]}')
        args = [spec['tool'], config, record['output'], '--out-dir', out_dir]
        args += spec.get('args', []) + cfg_args(options, config)
        run_tool(args, osp.join(stage_dir, 'pipeline.log'), stage['name'])
    with open(summary) as f:
        return json.load(f)


def report(records: List[dict], work_dir: str, profile: str) -> None:
    columns = []
    for r in records:
        columns += [
            c for c in r.get('analysis', {}).get('columns', {})
            if c not in columns
        ]
    lines = [
        f'# Results ({profile} profile)', '',
        '| stage | model | top-1 (%) | train time (s) |' +
        ''.join(f' {c} |' for c in columns),
        '| --- | --- | ---: | ---: |' + ' ---: |' * len(columns)
    ]
    for r in records:
        acc = '-' if r['accuracy'] is None else f'{r["accuracy"]:.2f}'
        values = r.get('analysis', {}).get('columns', {})
        lines.append(f'| {r["name"]} | {r["label"]} | {acc} '
                     f'| {r["train_seconds"]:.0f} |' +
                     ''.join(f' {values[c]:.3f} |' if c in values else ' - |'
                             for c in columns))
    table = '\n'.join(lines) + '\n'
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table)
    write_json(
        dict(profile=profile, stages=records),
        osp.join(work_dir, 'results.json'))
    plot(records, osp.join(work_dir, 'results.png'))
    print(table)
    log(f'results in {work_dir}/results.{{md,json,png}}')


def plot(records: List[dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    analysed = [r for r in records if r.get('analysis', {}).get('curve')]
    fig, axes = plt.subplots(
        1, 2 + bool(analysed), figsize=(12 + 6 * bool(analysed), 4.5))
    bars, curves = axes[:2]
    tested = [r for r in records if r['accuracy'] is not None]
    labels = [r['label'] for r in tested]
    accs = [r['accuracy'] for r in tested]
    bars.barh(labels, accs, color='tab:blue')
    for y, acc in enumerate(accs):
        bars.text(acc, y, f' {acc:.2f}', va='center')
    bars.set_xlim(min(accs) - 3, min(100, max(accs) + 2))
    bars.invert_yaxis()
    bars.set_xlabel('top-1 accuracy on the test set (%)')
    for r in records:
        if r['loss_curve']:
            its, losses = zip(*r['loss_curve'])
            curves.plot(its, losses, label=r['label'])
    curves.set_xlabel('iteration')
    curves.set_ylabel('training loss (total)')
    curves.legend()
    for r in analysed:
        curve = r['analysis']['curve']
        axes[2].plot(curve['x'], curve['y'], 'o-', label=r['label'])
        axes[2].set_xlabel(curve['xlabel'])
        axes[2].set_ylabel(curve['ylabel'])
    if analysed:
        axes[2].legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='pipeline config')
    parser.add_argument('--profile', default='default')
    parser.add_argument(
        '--quick', action='store_true', help='same as --profile quick')
    parser.add_argument('--work-dir', help='overrides the config work_dir')
    parser.add_argument(
        '--force', action='store_true', help='rerun finished stages too')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    profile = 'quick' if args.quick else args.profile
    if profile not in cfg.profiles:
        sys.exit(f'pipeline.py: error: unknown profile {profile!r}; '
                 f'choose from {sorted(cfg.profiles)}')
    work_dir = osp.join(args.work_dir or cfg.work_dir, profile)
    os.makedirs(work_dir, exist_ok=True)
    options = cfg.profiles[profile].get('cfg_options', {})
    done, records = {}, []
    for i, stage in enumerate(cfg.stages, 1):
        stage_dir = osp.join(work_dir, stage['name'])
        record_file = osp.join(stage_dir, 'stage.json')
        head = f'stage {i}/{len(cfg.stages)} {stage["name"]}'
        record = None
        if osp.isfile(record_file) and not args.force:
            with open(record_file) as f:
                record = json.load(f)
            if record.get('cfg_options') != options:
                log(f'{head}: finished with other options, training again')
                record = None
            else:
                log(f'{head}: done before, skipped ({record_file})')
        if record is None:
            log(f'{head}: training {stage["config"]}')
            try:
                record = run_stage(stage, stage_dir, options, done)
            except RuntimeError as err:
                sys.exit(f'pipeline.py: error: {err}')
            write_json(record, record_file)
            acc = record['accuracy']
            log(f'{head}: ' + ('' if acc is None else f'top-1 {acc:.2f}% ') +
                f'trained in {record["train_seconds"]:.0f} s')
        if 'analysis' in stage:
            try:
                record['analysis'] = run_analysis(stage, record, stage_dir,
                                                  options)
            except RuntimeError as err:
                sys.exit(f'pipeline.py: error: {err}')
        done[stage['name']] = record
        records.append(record)
    report(records, work_dir, profile)


if __name__ == '__main__':
    main()
