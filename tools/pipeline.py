"""Run a chain of training stages and report the results in one table.

    python tools/pipeline.py configs/pipelines/fashion_mnist.py [--quick]
        [--profile NAME] [--work-dir DIR] [--force] [--downstream]

Each stage trains with ``tools/train.py`` in its own process; a distiller's
student is then extracted with ``tools/extract_student.py`` (``export``,
default when the stage has an ``eval_config``), and the result is tested with
``tools/test.py`` (unless ``test=False``, e.g. self-supervised pretraining);
the stage's ``metric`` (default ``'accuracy/top1'``; a key of the test's
metrics JSON, or a list of keys: the first is the stage's score, the others
extra table columns) is reported. ``inputs`` maps config keys to earlier
stages' outputs (the exported student, or the last checkpoint): ``'stage'``,
or ``('stage', 'mmdet')`` / ``('stage', 'mmseg')`` for its ViT backbone
exported by ``tools/extract_student.py --format`` into
``STAGE/backbone_FMT.pth`` first. A stage's ``cfg_options`` and ``inputs``
apply to its training, and to its test unless that uses an
``eval_config``. A finished
stage leaves ``stage.json``; a later run skips it. An interrupted stage
resumes from its last checkpoint. A stage's ``analysis``
(``dict(tool=..., args=[...])``) runs ``tool CONFIG MODEL --out-dir
STAGE/analysis ARGS`` on the tested model once; the ``summary.json`` the tool
writes there (``columns``: name -> number; ``curve``: ``x``, ``y``,
``xlabel``, ``ylabel``) adds columns to the table and a panel to the plot.
A stage's ``before`` (``dict(tool=..., args=[...])``) runs ``tool CONFIG
ARGS`` with the training's options before each training run (e.g.
``tools/precompute_logits.py``, which resumes by itself); its time is a
column. ``{stage_dir}`` in a stage's ``cfg_options`` values is its folder.

With ``--downstream``, the config's ``downstream_stages`` (stages like the
others, e.g. detection / segmentation fine-tuning of earlier students) run
after ``stages``, once its ``prepare`` commands (``dict(args=[TOOL, ...],
creates=DIR)``, skipped when ``DIR`` exists) have made their data. A
profile's ``cfg_options`` apply to ``stages`` and its
``downstream_cfg_options`` to ``downstream_stages`` (different datasets
take different keys). Writes ``results.md``, ``results.json`` and
``results.png`` (scores, loss curves, analysis curves) into the profile's
work dir.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

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
            if any(s in line for s in ('Epoch(', 'Iter(', ': error:')):
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


def stage_input(source, name: str, stage_dir: str, done: Dict[str,
                                                              dict]) -> str:
    """An earlier stage's output (``source``: its name), or its ViT
    backbone in a library's layout (``source``: ``(name, format)``),
    exported into ``stage_dir`` once."""
    source, fmt = (source, None) if isinstance(source, str) else source
    if source not in done:
        raise RuntimeError(f'stage {name} needs stage {source}, which has '
                           'not run before it')
    if fmt is None:
        return done[source]['output']
    path = osp.join(stage_dir, f'backbone_{fmt}.pth')
    if not osp.isfile(path):
        run_tool([
            'tools/extract_student.py', done[source]['output'], path,
            '--format', fmt
        ], osp.join(stage_dir, 'pipeline.log'), name)
    return path


def run_stage(stage: dict, stage_dir: str, options: dict,
              done: Dict[str, dict]) -> dict:
    """Train (resuming), export the student if asked, test if asked."""
    os.makedirs(stage_dir, exist_ok=True)
    out_file = osp.join(stage_dir, 'pipeline.log')
    inputs = {
        key: stage_input(source, stage['name'], stage_dir, done)
        for key, source in stage.get('inputs', {}).items()
    }
    # each stage is tested below: no second evaluation during training
    train = [
        'tools/train.py', stage['config'], '--work-dir', stage_dir,
        '--no-validate'
    ]
    if osp.isfile(osp.join(stage_dir, 'last_checkpoint')):
        log(f'{stage["name"]}: resuming the interrupted run')
        train.append('--resume')
    own = {
        k: v.replace('{stage_dir}', stage_dir) if isinstance(v, str) else v
        for k, v in {
            **stage.get('cfg_options', {}),
            **options
        }.items()
    }
    opts = cfg_args({**own, **inputs}, stage['config'])
    columns = {}
    if 'before' in stage:
        start = time.time()
        tool = stage['before']['tool']
        run_tool([tool, stage['config'], *stage['before'].get('args', [])] +
                 opts, out_file, stage['name'])
        columns[f'{osp.basename(tool)} (s)'] = round(time.time() - start, 1)
    start = time.time()
    run_tool(train + opts, out_file, stage['name'])
    seconds = time.time() - start
    with open(osp.join(stage_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    output = checkpoint
    if stage.get('export', 'eval_config' in stage):
        output = osp.join(stage_dir, 'student.pth')
        run_tool(['tools/extract_student.py', checkpoint, output], out_file,
                 stage['name'])
    metrics = {}
    if stage.get('test', True):
        metrics_file = osp.join(stage_dir, 'test_metrics.json')
        config = stage.get('eval_config', stage['config'])
        test = [
            'tools/test.py', config, output, '--work-dir',
            osp.join(stage_dir, 'test'), '--out', metrics_file
        ]
        # the stage's own options hold for its own config (e.g. its data)
        test += [] if 'eval_config' in stage else opts
        run_tool(test, out_file, stage['name'])
        with open(metrics_file) as f:
            found = json.load(f)
        names = stage.get('metric', 'accuracy/top1')
        names = [names] if isinstance(names, str) else list(names)
        missing = [n for n in names if n not in found]
        if missing:
            raise RuntimeError(f'stage {stage["name"]}: no {missing} in '
                               f'{metrics_file} (it has {sorted(found)})')
        metrics = {n: found[n] for n in names}
    return dict(
        name=stage['name'],
        label=stage.get('label', stage['name']),
        config=stage['config'],
        checkpoint=checkpoint,
        output=output,
        metric=next(iter(metrics), None),
        score=next(iter(metrics.values()), None),
        metrics=metrics,
        columns=columns,
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


def upgrade(record: dict) -> dict:
    """A ``stage.json`` of the first format (``accuracy``: top-1 or None)
    in the current one (``metric``, ``score``, ``metrics``)."""
    if 'accuracy' in record:
        acc = record.pop('accuracy')
        metrics = {} if acc is None else {'accuracy/top1': acc}
        record.update(
            metric=next(iter(metrics), None), score=acc, metrics=metrics)
    return record


def report(records: List[dict], work_dir: str, profile: str) -> None:
    """``results.md`` (a row per stage: its metric and score, then the
    other metrics and the analysis columns), ``results.json``, the plot."""
    columns, values = [], []
    for r in records:
        values.append({
            **r['metrics'],
            **r.get('columns', {}),
            **r.get('analysis', {}).get('columns', {})
        })
        columns += [
            c for c in values[-1] if c != r['metric'] and c not in columns
        ]
    lines = [
        f'# Results ({profile} profile)', '',
        '| stage | model | metric | score | train time (s) |' +
        ''.join(f' {c} |' for c in columns),
        '| --- | --- | --- | ---: | ---: |' + ' ---: |' * len(columns)
    ]
    for r, found in zip(records, values):
        score = '-' if r['score'] is None else f'{r["score"]:.3f}'
        lines.append(f'| {r["name"]} | {r["label"]} | {r["metric"] or "-"} '
                     f'| {score} | {r["train_seconds"]:.0f} |' +
                     ''.join(f' {found[c]:.3f} |' if c in found else ' - |'
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
    """A bar panel per metric, the loss curves, the analysis curves."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    analysed = [r for r in records if r.get('analysis', {}).get('curve')]
    metrics = list(dict.fromkeys(r['metric'] for r in records if r['metric']))
    panels = len(metrics) + 1 + bool(analysed)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5))
    axes = list(axes) if panels > 1 else [axes]
    for metric, bars in zip(metrics, axes):
        tested = [r for r in records if r['metric'] == metric]
        scores = [r['score'] for r in tested]
        bars.barh([r['label'] for r in tested], scores, color='tab:blue')
        for y, score in enumerate(scores):
            bars.text(score, y, f' {score:.3f}', va='center')
        lo, hi = min(scores), max(scores)
        pad = (hi - lo) or abs(hi) or 1
        bars.set_xlim(max(0, lo - pad) if lo >= 0 else lo - pad, hi + pad)
        bars.invert_yaxis()
        bars.set_xlabel(f'{metric} on the test set')
    curves = axes[len(metrics)]
    for r in records:
        if r['loss_curve']:
            its, losses = zip(*r['loss_curve'])
            curves.plot(its, losses, label=r['label'])
    curves.set_xlabel('iteration')
    curves.set_ylabel('training loss (total)')
    curves.legend(fontsize='small')
    for r in analysed:
        curve = r['analysis']['curve']
        axes[-1].plot(curve['x'], curve['y'], 'o-', label=r['label'])
        axes[-1].set_xlabel(curve['xlabel'])
        axes[-1].set_ylabel(curve['ylabel'])
    if analysed:
        axes[-1].legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def prepare(commands: List[dict], work_dir: str) -> None:
    """Run each ``dict(args=[TOOL, ...], creates=DIR)`` whose ``DIR`` does
    not exist yet; a failed command's ``DIR`` is removed."""
    for command in commands:
        creates = osp.join(ROOT, command['creates'])
        if osp.isdir(creates):
            log(f'prepare: {command["creates"]} exists, skipped')
            continue
        log(f'prepare: {" ".join(command["args"])}')
        try:
            run_tool(command['args'], osp.join(work_dir, 'prepare.log'),
                     'prepare')
        except RuntimeError:
            if osp.isdir(creates):
                shutil.rmtree(creates)
            raise
        if not osp.isdir(creates):
            raise RuntimeError(f'prepare: {command["args"][0]} did not '
                               f'create {command["creates"]}')


def run_chain(stages: List[dict], work_dir: str, options: dict, force: bool,
              done: Dict[str, dict], first: int, total: int) -> List[dict]:
    """Run (or skip, when finished with ``options``) each stage, analyse
    it if asked; ``done`` gains each record by name."""
    records = []
    for i, stage in enumerate(stages, first):
        stage_dir = osp.join(work_dir, stage['name'])
        record_file = osp.join(stage_dir, 'stage.json')
        head = f'stage {i}/{total} {stage["name"]}'
        record: Optional[dict] = None
        if osp.isfile(record_file) and not force:
            with open(record_file) as f:
                record = upgrade(json.load(f))
            if record.get('cfg_options') != options:
                log(f'{head}: finished with other options, training again')
                record = None
            else:
                log(f'{head}: done before, skipped ({record_file})')
        if record is None:
            log(f'{head}: training {stage["config"]}')
            record = run_stage(stage, stage_dir, options, done)
            write_json(record, record_file)
            score = '' if record['score'] is None else \
                f'{record["metric"]} {record["score"]:.3f}, '
            log(f'{head}: {score}trained in '
                f'{record["train_seconds"]:.0f} s')
        if 'analysis' in stage:
            record['analysis'] = run_analysis(stage, record, stage_dir,
                                              options)
        done[stage['name']] = record
        records.append(record)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='pipeline config')
    parser.add_argument('--profile', default='default')
    parser.add_argument(
        '--quick', action='store_true', help='same as --profile quick')
    parser.add_argument('--work-dir', help='overrides the config work_dir')
    parser.add_argument(
        '--force', action='store_true', help='rerun finished stages too')
    parser.add_argument(
        '--downstream',
        action='store_true',
        help="also run the config's prepare commands and downstream_stages")
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    profile = 'quick' if args.quick else args.profile
    if profile not in cfg.profiles:
        sys.exit(f'pipeline.py: error: unknown profile {profile!r}; '
                 f'choose from {sorted(cfg.profiles)}')
    if args.downstream and not cfg.get('downstream_stages'):
        sys.exit('pipeline.py: error: --downstream, but the config has no '
                 'downstream_stages')
    work_dir = osp.join(args.work_dir or cfg.work_dir, profile)
    os.makedirs(work_dir, exist_ok=True)
    settings = cfg.profiles[profile]
    downstream = cfg.get('downstream_stages', []) if args.downstream else []
    total = len(cfg.stages) + len(downstream)
    done = {}
    try:
        records = run_chain(cfg.stages, work_dir,
                            settings.get('cfg_options', {}), args.force, done,
                            1, total)
        if downstream:
            prepare(cfg.get('prepare', []), work_dir)
            records += run_chain(downstream, work_dir,
                                 settings.get('downstream_cfg_options', {}),
                                 args.force, done,
                                 len(cfg.stages) + 1, total)
    except RuntimeError as err:
        sys.exit(f'pipeline.py: error: {err}')
    report(records, work_dir, profile)


if __name__ == '__main__':
    main()
