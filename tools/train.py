"""Train with MMEngine's runner (MMPretrain's arguments).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse

from mmengine.runner import Runner

from mmkd_plugin.utils.cli import add_common_args, load_cfg, run_guarded


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    add_common_args(parser)
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no CKPT is given')
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the total batch size')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_cfg(args)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    run_guarded('train.py', cfg.work_dir, lambda: Runner.from_cfg(cfg),
                lambda runner: runner.train())


if __name__ == '__main__':
    main()
