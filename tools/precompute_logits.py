"""Precompute LIB-KD teacher labels per view into a logit store.

For every training image: ``num_views`` random-resized-crop views (boxes
and flips drawn by ``ReplayResizedCrop.sample_views``, seeded per image)
and, per view and teacher, the top-k of the teacher's softmax. Everything
comes from the training config's ``train_dataloader.dataset``, a
``PrecomputedViewDataset`` (its ``dataset``, ``store``, ``teachers``,
``num_views``, ``topk``, ``seed``), so the store is exactly the one that
training run accepts; the format is documented in
``mmkd_plugin/datasets/logit_store.py``. Teachers run in inference mode and
in fp32 (involution is not fp16-safe) on the pipeline's views up to the
replayed crop (later, student-only augmentations are not applied),
normalised by the config's data preprocessor; a forward takes at most
``--batch-size`` views (those of whole images when ``num_views`` is
smaller), never of two shards.

    python tools/precompute_logits.py CONFIG [--workers 4]
    python -m torch.distributed.run --nproc_per_node 8 \\
        tools/precompute_logits.py CONFIG --launcher pytorch

Shards are written atomically; a run that was interrupted (or stopped by
``--max-shards``) resumes by running the same command again: finished
shards are checked and kept, the rest computed. Shards are split over the
processes by ``shard % processes``; an image's views and labels do not
depend on which process, or which run, computes them.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time
from typing import List, Optional

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, DictAction
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import DATASETS

import mmkd_plugin  # noqa: F401  registers the plugin
from mmkd_plugin.datasets import (StoreWriter, find_replay, store_spec,
                                  with_subset)
from mmkd_plugin.teachers import build_teacher, teachers_by_name
from mmkd_plugin.utils.cli import end_distributed


def wrapper_cfg(cfg: Config) -> dict:
    """The ``PrecomputedViewDataset`` config of the training set."""
    wrapper = dict(cfg.train_dataloader.dataset)
    if wrapper.get('type', '').split('.')[-1] != 'PrecomputedViewDataset':
        raise ValueError('train_dataloader.dataset must be a '
                         f'PrecomputedViewDataset, got {wrapper.get("type")}')
    return wrapper


class Job:
    """What one process needs: dataset, views, teachers, the writer."""

    def __init__(self, cfg: Config, args: argparse.Namespace):
        from mmengine.registry import init_default_scope
        init_default_scope('mmpretrain')
        self.wrapper = wrapper_cfg(cfg)
        # some datasets (MNIST) hold a distributed barrier while loading:
        # every rank builds its dataset before any other collective call
        self.dataset = DATASETS.build(
            with_subset(self.wrapper['dataset'], self.wrapper.get('indices')))
        self.dataset.full_init()
        steps = self.dataset.pipeline.transforms
        cut = find_replay(self.dataset)
        self.load, self.replay = Compose(steps[:cut]), steps[cut]
        self.pack = PackInputs()
        self.teachers_cfg = teachers_by_name(self.wrapper['teachers'])
        self.batch_size, self.device = args.batch_size, args.device
        self.shard_size, self.teachers = args.shard_size, None

    def make_spec(self) -> dict:
        """What the store holds (dataset fingerprint, checkpoints...)."""
        w = self.wrapper
        return store_spec(self.dataset, self.teachers_cfg, w['num_views'],
                          w.get('topk', 5), w.get('seed', 0))

    def set_spec(self, spec: dict) -> None:
        self.spec = spec
        self.writer = StoreWriter(self.wrapper['store'], spec, self.shard_size)

    def build_teachers(self, cfg: Config) -> None:
        pre = dict(cfg.get('data_preprocessor') or {})
        pre.update((cfg.get('model') or {}).get('data_preprocessor') or {})
        keep = {k: pre[k] for k in ('mean', 'std', 'to_rgb') if k in pre}
        self.preprocessor = ClsDataPreprocessor(**keep).to(self.device)
        self.teachers = []
        for name, tcfg in self.teachers_cfg.items():
            teacher = build_teacher(tcfg).to(self.device).float()
            teacher.set_input_space(
                getattr(self.preprocessor, 'mean', None),
                getattr(self.preprocessor, 'std', None))
            self.teachers.append(teacher)

    def render(self, indices: range, records: np.ndarray) -> torch.Tensor:
        """Views ``[I * N, C, H, W]`` (uint8, image-major) of images
        ``indices``; fills their records' boxes and flips."""
        images = [
            self.load(self.dataset.get_data_info(i))['img'] for i in indices
        ]
        boxes, flips = self.replay.sample_views(
            [img.shape[:2] for img in images], self.spec['num_views'],
            self.spec['seed'], indices)  # [I, N, 4], [I, N]
        records['boxes'], records['flips'] = boxes, flips
        return torch.stack([
            PackInputs.format_input(self.replay.render(img, box, flip))
            for img, img_boxes, img_flips in zip(images, boxes, flips)
            for box, flip in zip(img_boxes, img_flips)
        ])

    @torch.inference_mode()
    def label(self, views: torch.Tensor):
        """Top-k ``(labels, probs)`` ``[T, V, k]`` of views ``[V, C, H,
        W]``, at most ``--batch-size`` views per forward."""
        out = [[] for _ in self.teachers]
        for chunk in views.split(self.batch_size):
            inputs = self.preprocessor(dict(inputs=chunk))['inputs']
            for t, teacher in enumerate(self.teachers):
                probs = teacher.logits(inputs).softmax(-1)  # [B, C]
                out[t].append(probs.topk(self.spec['topk'], dim=-1))
        labels = torch.stack([torch.cat([o.indices for o in t]) for t in out])
        probs = torch.stack([torch.cat([o.values for o in t]) for t in out])
        return labels.cpu().numpy(), probs.cpu().numpy()

    def shard(self, shard: int) -> int:
        """Compute and write one shard; returns its number of images.
        Views are made for ``max(1, --batch-size // num_views)`` images at
        a time."""
        first, stop = self.writer.shard_range(shard)
        records = np.zeros(stop - first, self.writer.dtype)
        records['index'] = np.arange(first, stop)
        step = max(1, self.batch_size // self.spec['num_views'])
        for start in range(first, stop, step):
            indices = range(start, min(start + step, stop))
            rows = records[start - first:indices.stop - first]  # a view
            labels, probs = self.label(self.render(indices, rows))
            # [T, I * N, k] -> [T, I, N, k] -> the records' [I, T, N, k]
            shape = (-1, len(indices), self.spec['num_views'],
                     self.spec['topk'])
            rows['labels'] = labels.reshape(shape).transpose(1, 0, 2, 3)
            rows['probs'] = probs.reshape(shape).transpose(1, 0, 2, 3)
        self.writer.write_shard(shard, records)
        return stop - first


def run(cfg: Config,
        args: argparse.Namespace,
        rank: int,
        world: int,
        spec: dict,
        job: Optional[Job] = None) -> None:
    """Compute this process's unfinished shards (at most --max-shards)."""
    job = job or Job(cfg, args)
    job.set_spec(spec)
    todo = [
        s for s in range(rank, job.writer.layout['num_shards'], world)
        if not job.writer.finished(s)
    ]
    if args.max_shards is not None:
        todo = todo[:args.max_shards]
    if todo:
        job.build_teachers(cfg)
    start, done = time.time(), 0
    for i, shard in enumerate(todo):
        done += job.shard(shard)
        rate = done / (time.time() - start)
        left = (len(todo) - i - 1) * job.writer.layout['shard_size'] / rate
        print(
            f'[rank {rank}] shard {shard} done ({i + 1}/{len(todo)}): '
            f'{rate:.1f} images/s, about {left:.0f} s left',
            flush=True)


def _worker(args, rank, world, spec):
    torch.set_num_threads(
        args.threads or max(1, (os.cpu_count() or 1) // world))
    run(load_cfg(args), args, rank, world, spec)


def load_cfg(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the training config')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='processes on this machine (launcher none)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=256,
        help='views per teacher forward at most (whole images when '
        'num_views is smaller: rounded down to a multiple of it)')
    parser.add_argument(
        '--shard-size',
        type=int,
        default=1000,
        help='images per shard (fixed for a store)')
    parser.add_argument(
        '--max-shards',
        type=int,
        help='stop after this many shards per process')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch threads per process (default: cores / --workers); '
        'fix it to make stores byte-identical across machines')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> bool:
    """Returns whether the store is complete."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_cfg(args)
    rank, world = _init_dist(args)
    job, spec = Job(cfg, args), None
    if rank == 0:
        job.set_spec(job.make_spec())
        job.writer.open()
        spec = job.spec
        print(
            f'store {job.writer.root}: {len(job.dataset)} images, '
            f'{job.writer.layout["num_shards"]} shards',
            flush=True)
    spec = _broadcast(spec, world)
    if args.workers > 1 and world == 1:
        procs = [
            mp.get_context('spawn').Process(
                target=_worker, args=(args, r, args.workers, spec))
            for r in range(args.workers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        if any(p.exitcode for p in procs):
            sys.exit('precompute_logits: a worker failed')
    else:
        run(cfg, args, rank, world, spec, job)
    done = _finish(cfg, args, rank, world, spec)
    end_distributed()
    return done


def _finish(cfg, args, rank, world, spec) -> bool:
    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        return False
    writer = StoreWriter(wrapper_cfg(cfg)['store'], spec, args.shard_size)
    left = [
        s for s in range(writer.layout['num_shards']) if not writer.finished(s)
    ]
    if left:
        print(
            f'{len(left)} shards left: run the same command again to '
            'continue',
            flush=True)
        return False
    writer.finalise()
    print(f'store {writer.root} complete', flush=True)
    return True


def _init_dist(args):
    if args.launcher == 'none':
        return 0, 1
    import torch.distributed as dist
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    return dist.get_rank(), dist.get_world_size()


def _broadcast(obj, world: int):
    if world == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


if __name__ == '__main__':
    main()
