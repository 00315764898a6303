"""What tools/train.py and tools/test.py share: config, launcher, errors."""
import argparse
import os
import os.path as osp
import shutil
import sys
from typing import Callable, Optional

from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and models go')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed launchers pass --local-rank (or --local_rank)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_cfg(args: argparse.Namespace) -> Config:
    """Config file + CLI overrides, as MMPretrain's tools do."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:  # SAM keeps its two passes: its own AMP variant
        sam = cfg.optim_wrapper.get('type') in ('SAMOptimWrapper',
                                                'AmpSAMOptimWrapper')
        cfg.optim_wrapper.type = 'AmpSAMOptimWrapper' if sam \
            else 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.launcher != 'none':
        _cpu_distributed(cfg, args.launcher)
    return cfg


def _cpu_distributed(cfg: Config, launcher: str) -> None:
    """DDP over gloo where there is no GPU.

    MMEngine's ``init_dist`` always calls ``torch.cuda.set_device`` and its
    DDP wrapper always passes ``device_ids``; both fail on CPU. So the
    process group is made here with gloo (the runner then uses it) and DDP
    gets ``device_ids=None``, which is how torch runs DDP on CPU modules.
    """
    import torch
    import torch.distributed as dist
    if torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(f'launcher {launcher!r} without GPUs is not '
                           'supported; use tools/dist_train.sh (pytorch)')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def run_guarded(tool: str, work_dir: str, build: Callable,
                run: Callable) -> None:
    """``run(build())``; an error before the first iteration is reported in
    one line and leaves no work dir (or log dir) behind.

    Set ``MMKD_DEBUG=1`` to get the traceback instead.
    """
    existed = osp.isdir(work_dir)
    runner = None
    try:
        runner = build()
        run(runner)
        end_distributed()
    except Exception as err:  # noqa: BLE001  reported, then exit 1
        started = runner is not None and runner.iter > 0
        if started or os.environ.get('MMKD_DEBUG'):
            raise
        if int(os.environ.get('RANK', 0)) == 0:
            _clean(work_dir, existed, runner)
        text = err.args[0] if isinstance(err, KeyError) and err.args \
            else err
        msg = ' '.join(str(text).split())
        sys.exit(f'{tool}: error: {type(err).__name__}: {msg} '
                 '(MMKD_DEBUG=1 shows the traceback)')


def end_distributed() -> None:
    """Destroy the process group, if any, before the interpreter exits.

    A gloo group left to the interpreter's teardown can abort the process
    (``terminate called without an active exception``, SIGABRT) after a
    run that went well, which fails the launcher's whole job.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _clean(work_dir: str, existed: bool, runner: Optional[object]) -> None:
    import logging
    logging.shutdown()  # release the run's log file before removing it
    if not existed:
        shutil.rmtree(work_dir, ignore_errors=True)
    elif runner is not None and osp.isdir(runner.log_dir):
        shutil.rmtree(runner.log_dir, ignore_errors=True)
