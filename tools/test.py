"""Evaluate a checkpoint with MMEngine's runner (MMPretrain's arguments).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import json

from mmengine.runner import Runner

from mmkd_plugin.utils.cli import add_common_args, load_cfg, run_guarded


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a model')
    add_common_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_cfg(args)
    cfg.load_from = args.checkpoint

    def run(runner: Runner) -> None:
        metrics = runner.test()
        if args.out and runner.rank == 0:
            with open(args.out, 'w') as f:
                json.dump({k: float(v) for k, v in metrics.items()}, f)

    run_guarded('test.py', cfg.work_dir, lambda: Runner.from_cfg(cfg), run)


if __name__ == '__main__':
    main()
