"""Time training steps of several configs side by side, in one process.

    python tools/benchmark.py [CASE ...] [--warmup N] [--steps N]
        [--batch-size N] [--device cpu|cuda] [--out FILE.json] [--list]
        [--images N] [--shard-size N] [--work-dir DIR]

Each arm of a case is built from its config as MMEngine's runner builds it
(or from one part of its model, e.g. a distiller's student) and runs, on a
synthetic batch, ``model.train_step`` (data preprocessor, forward,
backward, optimiser step), or without gradients either ``model(mode='loss')``
(``forward``: e.g. a full MAE with its decoder) or only the teacher's share
of a distillation step (``teacher``: the truncated teacher on the tokens the
algorithm gives it). AMP optim wrappers run in fp32 on CPU. A ratio's
denominator may be a sum of arms. After warm-up the arms' steps are
interleaved round-robin, so that machine noise hits every arm alike; ratios
use median step times. Peak memory comes from an untimed pass afterwards:
``torch.cuda.max_memory_allocated`` on CUDA; on CPU the process RSS,
sampled every ~1 ms, above the RSS just before the step (after
``malloc_trim``, so that reused heap pages are counted). A config whose
training set carries stored teacher labels (LIB-KD offline: its
``train_dataloader.dataset.teachers``) gets ``teacher_scores`` ``[T, C]``
in each synthetic data sample, as ``PrecomputedViewDataset`` gives them.
Add a case by adding an entry to ``CASES``, or a function of the parsed
arguments that returns a dict to ``FUNCTION_CASES`` (``libkd_store``: the
data side of LIB-KD, on real Fashion-MNIST). The JSON goes to stdout,
progress to stderr.
"""
import argparse
import contextlib
import copy
import ctypes
import gc
import glob
import importlib.util
import json
import logging
import os
import os.path as osp
import statistics
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MEM_STEPS = 2  # untimed steps per arm in the memory pass
FMNIST_SHAPE = (1, 28, 28)


class Arm(NamedTuple):
    label: str
    config: str  # relative to the repository root, or 'mmpretrain::...'
    overrides: Optional[dict] = None  # for Config.merge_from_dict
    views: int = 1  # > 1: inputs are that many [B, C, H, W] copies
    mode: str = 'train'  # or 'forward' / 'teacher' (no gradients)
    part: Optional[str] = None  # build cfg.model[part] instead of cfg.model


class Case(NamedTuple):
    arms: List[Arm]
    # (numerator, denominator) labels; a tuple denominator is a sum
    ratios: List[Tuple[str, Union[str, Tuple[str, ...]]]]
    input_shape: Tuple[int, ...] = FMNIST_SHAPE  # uint8 [C, H, W]
    num_classes: int = 10
    batch_size: Optional[int] = None  # None: each config's train batch


FMNIST_KD = ('configs/kd/kd_vit-96d4l-p7_vit-128d6l-p7_1xb256-adamw-3e_'
             'fashion-mnist.py')
FMNIST_STUDENT = ('configs/supervised/supervised_vit-96d4l-p7_1xb256-adamw-'
                  '3e_fashion-mnist.py')
FMNIST_TINYMIM = ('configs/tinymim/tinymim_vit-96d4l-p4_mae-vit-128d6l-p4_'
                  '1xb256-adamw-2e_fashion-mnist.py')
FMNIST_DMAE = ('configs/dmae/dmae_vit-96d4l-p4_mae-vit-128d6l-p4_1xb256-'
               'adamw-2e_fashion-mnist.py')
FMNIST_MAE_TEACHER = ('configs/mae/mae_vit-128d6l-p4_1xb256-adamw-1e_'
                      'fashion-mnist.py')
IN1K_DMAE = ('configs/dmae/dmae_vit-base-p16_mae-vit-large-p16_8xb512-amp-'
             'coslr-100e_in1k.py')
IN1K_MAE_LARGE = 'mmpretrain::mae/mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k.py'  # noqa: E501
IN1K_TINYMIM = ('configs/tinymim/tinymim_vit-base-p16_mae-vit-large-p16_'
                '32xb128-adamw-300e_in1k.py')
IN1K_VIT_BASE = 'configs/tinymim/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'  # noqa: E501
IN1K = dict(input_shape=(3, 224, 224), num_classes=1000, batch_size=4)
NO_TEACHER_CKPT = {'model.teacher.checkpoint': None}
DMT_FMNIST = 'configs/dmt/dmt_vit-96d4l-p4_{}-128d6l_1xb256-adamw-2e_fashion-mnist.py'  # noqa: E501
DMT_TEACHERS = [('mae', ['mae']), ('mae-sup', ['mae', 'sup']),
                ('mae-moco-sup', ['mae', 'moco', 'sup'])]


def dmae_case(config: str, teacher_mae: str, mask_ratio: float,
              **shape) -> Case:
    """DMAE against MAE alone (the same student and mask ratio), its
    truncated teacher on the visible tokens, and the full teacher MAE
    (encoder + decoder, what the official code runs)."""
    dmae = {**NO_TEACHER_CKPT, 'model.mask_ratio': mask_ratio}
    return Case(
        arms=[
            Arm('dmae', config, dmae),
            Arm('mae',
                config, {'model.student.backbone.mask_ratio': mask_ratio},
                part='student'),
            Arm('teacher', config, dmae, mode='teacher'),
            Arm('teacher_full',
                teacher_mae, {'model.backbone.mask_ratio': mask_ratio},
                mode='forward'),
        ],
        ratios=[('dmae', 'mae'), ('dmae', ('mae', 'teacher')),
                ('teacher_full', 'teacher')],
        **shape)


def tinymim_case(config: str, student: str, **shape) -> Case:
    """TinyMIM (two views) against the same student trained on labels and
    its truncated teacher's q/k/v on the clean view."""
    return Case(
        arms=[
            Arm('tinymim', config, NO_TEACHER_CKPT, views=2),
            Arm('student', student, {'model.backbone.init_cfg': None}),
            Arm('teacher', config, NO_TEACHER_CKPT, views=2, mode='teacher'),
        ],
        ratios=[('tinymim', 'student'), ('tinymim', ('student', 'teacher'))],
        **shape)


LIBKD_FMNIST = ('configs/libkd/libkd{}_vit-96d4l-p7_resnet18-rednet26_'
                '1xb256-adamw-3e_fashion-mnist.py')
LIBKD_FMNIST_PLAIN = ('configs/libkd/supervised_vit-96d4l-p7_crop_1xb256-'
                      'adamw-3e_fashion-mnist.py')
LIBKD_IN1K = ('configs/libkd/libkd{}_deit-small-p16_regnety-16gf-rednet-101_'
              '8xb128-amp-coslr-300e_in1k.py')
DEIT_S = 'mmpretrain::deit/deit-small_4xb256_in1k.py'
DEIT_S_AS_STUDENT = {
    'model.backbone.drop_path_rate': 0.1,
    'optim_wrapper.clip_grad': None
}


def libkd_case(config: str,
               teachers: Tuple[str, ...],
               plain: str,
               plain_overrides: Optional[dict] = None,
               **shape) -> Case:
    """LIB-KD's multi-token student offline (stored teacher labels, no
    teacher runs; target <= 1.05) and online (every teacher on every
    batch) against the plain supervised student of the same size (the
    same ViT, drop path and optimiser, without the distillation tokens and
    their heads)."""
    no_ckpt = {f'model.teachers.{t}.checkpoint': None for t in teachers}
    return Case(
        arms=[
            Arm('offline', config.format('-offline')),
            Arm('online', config.format(''), no_ckpt),
            Arm('plain', plain, plain_overrides),
        ],
        ratios=[('offline', 'plain'), ('online', 'plain')],
        **shape)


CASES: Dict[str, Case] = {
    # Hinton KD (teacher forward + KD loss) against the student alone
    'kd_vs_student':
    Case(
        arms=[
            Arm('kd', FMNIST_KD, NO_TEACHER_CKPT),
            Arm('student', FMNIST_STUDENT),
        ],
        ratios=[('kd', 'student')]),
    # Fashion-MNIST shapes: students 96d-4L, teacher 128d-6L, 4x4 patches
    'tinymim_vs_student':
    tinymim_case(
        FMNIST_TINYMIM,
        'configs/benchmarks/vit-96d4l-p4_1xb256-adamw-3e_fashion-mnist.py'),
    'dmae_vs_mae':
    dmae_case(FMNIST_DMAE, FMNIST_MAE_TEACHER, 0.75),
    # the papers' shapes: ViT-B students, ViT-L teachers, 224 px, batch 4
    'tinymim_vs_student_in1k':
    tinymim_case(IN1K_TINYMIM, IN1K_VIT_BASE, **IN1K),
    **{
        f'dmae_vs_mae_in1k_mask{round(r * 100)}':
        dmae_case(IN1K_DMAE, IN1K_MAE_LARGE, r, **IN1K)
        for r in (0.75, 0.95, 0.98)
    },
    # ReMem teacher fine-tuning, 128d-6L: SAM's two passes against one
    # (target <= 2.1), and MLP reweighting's cost on top of SAM
    'sam_vs_plain':
    Case(
        arms=[
            Arm(
                'sam', 'configs/remem/ft-sam_vit-128d6l-p7_1xb256-adamw-2e_'
                'fashion-mnist-lt100.py'),
            Arm(
                'plain', 'configs/remem/ft_vit-128d6l-p7_1xb256-adamw-2e_'
                'fashion-mnist-lt100.py'),
            Arm(
                'sam_rw', 'configs/remem/ft-sam-mlp0.5_vit-128d6l-p7_1xb256-'
                'adamw-2e_fashion-mnist-lt100.py'),
        ],
        ratios=[('sam', 'plain'), ('sam_rw', 'sam')]),
    # DMT with K = 1, 2, 3 frozen 128d-6L teachers (MAE; + supervised, 7x7
    # patches resized; + MoCo v3), TFD + SFD, against the 96d-4L p4 student
    # alone and against the student plus the K truncated teachers' forward:
    # each teacher should add its truncated forward and nothing more
    'dmt_vs_student':
    Case(
        arms=[
            *[
                Arm(f'{arm}_k{len(names)}',
                    DMT_FMNIST.format(tag),
                    {f'model.teachers.{n}.checkpoint': None
                     for n in names},
                    mode=mode) for tag, names in DMT_TEACHERS
                for arm, mode in (('dmt', 'train'), ('teachers', 'teacher'))
            ],
            Arm(
                'student', 'configs/benchmarks/vit-96d4l-p4_1xb256-adamw-3e_'
                'fashion-mnist.py', {'model.backbone.init_cfg': None}),
        ],
        ratios=[
            *[(f'dmt_k{k}', 'student') for k in (1, 2, 3)],
            *[(f'dmt_k{k}', ('student', f'teachers_k{k}')) for k in (1, 2, 3)],
        ]),
    # LIB-KD: ViT-96d4l with two distillation tokens, ResNet-18 and
    # RedNet-26 teachers (16 channels), against the same ViT on labels
    'libkd_vs_student':
    libkd_case(LIBKD_FMNIST, ('resnet', 'rednet'), LIBKD_FMNIST_PLAIN),
    # DeiT-S, RegNetY-16GF and RedNet-101 teachers, 224 px, batch 4; plain:
    # MMPretrain's DeiT-S with the student's drop path, no gradient clip
    'libkd_vs_student_in1k':
    libkd_case(LIBKD_IN1K, ('regnety', 'rednet'), DEIT_S, DEIT_S_AS_STUDENT,
               **IN1K),
}

IN1K_IMAGES = 1281167  # ImageNet-1K's training set
IN1K_STORE = dict(num_views=500, topk=5, num_classes=1000)  # FKD's budget
FMNIST_ROOT = osp.join(ROOT, 'data/fashion_mnist')


def libkd_store(args: argparse.Namespace) -> dict:
    """LIB-KD's data side on the first ``--images`` Fashion-MNIST training
    images, with seeded random-init teachers, in ``--work-dir`` (default: a
    temporary folder): ``tools/precompute_logits.py`` against the same
    teachers' pure inference (target >= 0.9), each of its shards paired
    with the inference of as many views right after it (so that machine
    noise hits both alike), the store's bytes and their projection to
    ImageNet-1K, and reading stored views against plain random-resized
    crops of the same images."""
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or tmp
        os.makedirs(work, exist_ok=True)
        config = LIBKD_FMNIST.format('-offline')
        cfg = load_config(config)
        key = 'train_dataloader.dataset.'
        options = {
            key + 'store': osp.join(work, 'store'),
            key + 'dataset.indices': args.images,
            key + 'dataset.data_root': FMNIST_ROOT,
        }
        for name, path in seeded_teachers(
                cfg.train_dataloader.dataset.teachers, work).items():
            options[f'{key}teachers.{name}.checkpoint'] = path
        cfg.merge_from_dict(options)
        wrapper = cfg.train_dataloader.dataset
        batch = args.batch_size or cfg.train_dataloader.batch_size
        views = args.images * wrapper.num_views
        log(f'libkd_store: precomputing {views} views, batch {batch}, '
            f'shards of {args.shard_size} images, each followed by pure '
            'teacher inference on as many views')
        infer = teacher_inference(wrapper.teachers, batch, args.device)
        made = precompute(config, options, batch, args.shard_size, args.device,
                          lambda images: infer(images * wrapper.num_views))
        pure = sum(r['inference_s'] for r in made['rounds'])
        throughput = dict(
            precompute=dict(
                views=views,
                **made,
                views_per_s=views / made['shards_s'],
                views_per_s_end_to_end=views / made['total_s']),
            inference=dict(
                views=views, seconds=pure, views_per_s=views / pure),
            ratio=pure / made['shards_s'],
            ratio_median=statistics.median(r['inference_s'] / r['shard_s']
                                           for r in made['rounds']),
            ratio_is='precompute views/s (shards) / inference views/s; '
            'median: of the paired rounds',
            render_share=made['render_s'] / made['shards_s'],
            label_over_inference=made['label_s'] / pure)
        storage = store_bytes(wrapper, args.images)
        log(f'libkd_store: reading stored views, {args.steps} passes')
        read = read_views(cfg, args)
    return dict(
        throughput=throughput,
        storage=storage,
        read=read,
        config=dict(
            config=config,
            images=args.images,
            views=wrapper.num_views,
            teachers=list(wrapper.teachers),
            topk=wrapper.topk,
            batch_size=batch,
            shard_size=args.shard_size,
            warmup=args.warmup,
            steps=args.steps,
            device=args.device,
            teacher_weights='random init, seeded'))


def seeded_teachers(teachers: dict, work: str) -> Dict[str, str]:
    """Save each teacher's model, random-init (seeded): name -> path."""
    from mmpretrain.registry import MODELS

    from mmkd_plugin.utils import save_checkpoint
    paths = {}
    for seed, (name, teacher) in enumerate(teachers.items()):
        torch.manual_seed(seed)
        model = MODELS.build(teacher.model)
        model.init_weights()
        paths[name] = osp.join(work, f'{name}.pth')
        save_checkpoint(dict(state_dict=model.state_dict()), paths[name])
    return paths


def precompute(config: str, options: dict, batch: int, shard_size: int,
               device: str, after_shard: Callable[[int], float]) -> dict:
    """Run ``tools/precompute_logits.py`` in this process: seconds in all
    and in its shards (views, teachers, writes: no dataset loading,
    fingerprint, checksums of checkpoints or building of teachers), and in
    the shards' two parts, ``Job.render`` (load, sample and crop the views)
    and ``Job.label`` (normalise, teachers, top-k); after each shard,
    ``after_shard(images)`` (seconds) makes a round with it."""
    spec = importlib.util.spec_from_file_location(
        'precompute_logits', osp.join(ROOT, 'tools/precompute_logits.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    parts, rounds = dict(render=0.0, label=0.0), []

    def timed(method: Callable, part: str) -> Callable:

        def wrapped(*args, **kwargs):
            start = time.perf_counter()
            out = method(*args, **kwargs)
            parts[part] += time.perf_counter() - start
            return out

        return wrapped

    for part in parts:  # the shard's two parts: views, then teachers
        setattr(tool.Job, part, timed(getattr(tool.Job, part), part))
    shard = tool.Job.shard

    def timed_shard(*args, **kwargs) -> int:
        before = dict(parts)
        start = time.perf_counter()
        images = shard(*args, **kwargs)
        seconds = time.perf_counter() - start
        rounds.append(
            dict(
                images=images,
                shard_s=seconds,
                **{f'{k}_s': parts[k] - before[k]
                   for k in parts},
                inference_s=after_shard(images)))
        return images

    tool.Job.shard = timed_shard
    argv = [
        osp.join(ROOT, config), '--batch-size',
        str(batch), '--shard-size',
        str(shard_size), '--device', device, '--cfg-options',
        *[f'{k}={v}' for k, v in options.items()]
    ]
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # stdout: the JSON only
        complete = tool.main(argv)
    total = time.perf_counter() - start
    if not complete or not rounds:
        raise RuntimeError('precompute_logits.py did not finish the store')
    paired = sum(r['inference_s'] for r in rounds)
    return dict(
        total_s=total - paired,
        shards_s=sum(r['shard_s'] for r in rounds),
        **{
            f'{k}_s': v
            for k, v in parts.items()
        },
        rounds=rounds)


def teacher_inference(teachers: dict, batch: int,
                      device: str) -> Callable[[int], float]:
    """A function of a number of views that returns the seconds of the
    teachers' fp32 forward, in inference mode, on that many tensors made
    beforehand, ``batch`` at a time."""
    from mmkd_plugin.teachers import build_teacher
    models = [build_teacher(t).to(device).float() for t in teachers.values()]

    @torch.inference_mode()
    def infer(batches) -> None:
        for x in batches:
            for model in models:
                model.logits(x)

    def seconds(views: int) -> float:
        inputs = torch.randn(views, *FMNIST_SHAPE, device=device)
        return timer(lambda: infer(inputs.split(batch)), device)()

    seconds(batch)  # warm-up
    return seconds


def store_bytes(wrapper, images: int) -> dict:
    """Bytes per stored view per teacher, measured from the shard files
    (headers excluded), its two parts from the record dtype, and what the
    same record takes on ImageNet-1K."""
    from mmkd_plugin.datasets.logit_store import record_dtype
    shards = sorted(glob.glob(osp.join(wrapper.store, 'shard-*.npy')))
    data = sum(
        osp.getsize(p) - np.load(p, mmap_mode='r').offset for p in shards)
    views, teachers = wrapper.num_views, len(wrapper.teachers)

    def per_view(num_views: int, topk: int, num_classes: int) -> dict:
        rec = record_dtype(num_views, teachers, topk, num_classes)
        return dict(
            teacher=(rec['labels'].itemsize + rec['probs'].itemsize) /
            (num_views * teachers),
            shared=(rec['boxes'].itemsize + rec['flips'].itemsize) / num_views,
            image=rec['index'].itemsize)

    here, in1k = per_view(views, wrapper.topk, 10), per_view(**IN1K_STORE)
    in1k_views = IN1K_IMAGES * IN1K_STORE['num_views']
    return dict(
        shard_files=len(shards),
        shard_data_bytes=data,
        bytes_per_view_per_teacher=data / (images * views * teachers),
        record_bytes_per_view=dict(
            teacher_labels_probs=here['teacher'],
            shared_box_flip=here['shared'],
            per_image_index=here['image']),
        in1k=dict(
            images=IN1K_IMAGES,
            **IN1K_STORE,
            bytes_per_view_per_teacher=in1k['teacher'],
            gb_per_teacher=in1k_views * in1k['teacher'] / 1e9,
            gb_shared=(in1k_views * in1k['shared'] +
                       IN1K_IMAGES * in1k['image']) / 1e9,
            methods_md='about 13 GB per teacher'))


def read_views(cfg, args: argparse.Namespace) -> dict:
    """Items/s of ``PrecomputedViewDataset`` (store read, view replay,
    soft targets) against Fashion-MNIST with ``RandomResizedCrop`` + flip,
    over the same images; passes interleaved, medians."""
    from mmengine.dataset import Compose
    from mmpretrain.registry import DATASETS
    offline = DATASETS.build(cfg.train_dataloader.dataset)
    plain = copy.copy(offline.dataset)  # the same images, loaded once
    plain.pipeline = Compose(
        load_config(LIBKD_FMNIST_PLAIN).train_dataloader.dataset.pipeline)
    datasets = dict(offline=offline, plain=plain)
    passes = {
        name: timer(lambda d=d: [d[i] for i in range(len(d))], 'cpu')
        for name, d in datasets.items()
    }
    np.random.seed(0)
    interleave(passes, args.warmup)
    times = interleave(passes, args.steps)
    arms = {name: summarise(t, args.images) for name, t in times.items()}
    return dict(
        arms=arms,
        ratios={
            'offline/plain':
            arms['offline']['median_s'] / arms['plain']['median_s']
        },
        ratios_are='of median seconds per pass over the images')


# cases that are not arms: a function of the parsed arguments -> a dict
FUNCTION_CASES: Dict[str, Callable[[argparse.Namespace], dict]] = {
    'libkd_store': libkd_store,
}


def teacher_share(model: torch.nn.Module, inputs) -> None:
    """The teacher's part of a distillation step, as the algorithm runs
    it: DMAE's truncated teacher on one random mask's visible tokens,
    TinyMIM's truncated teacher's q/k/v on the clean view, DMT's truncated
    teachers on the image."""
    from mmkd_plugin.algorithms import DMAE, DMT, TinyMIM
    if isinstance(model, DMT):
        model.multi(inputs)
    elif isinstance(model, DMAE):
        keep = model.random_mask(inputs.shape[0], inputs.device)[0]
        model.teacher.block_outputs(inputs, model.teacher_blocks, keep=keep)
    elif isinstance(model, TinyMIM):
        clean, _ = model.split_views(inputs)
        model.teacher.qkv(clean, model.teacher_block)
    else:
        raise TypeError(f'no teacher share for {type(model).__name__}')


def log(msg: str) -> None:
    print(f'[benchmark] {msg}', file=sys.stderr, flush=True)


def interleave(steps: Dict[str, Callable[[], float]],
               rounds: int) -> Dict[str, List[float]]:
    """Call each arm's timed step once per round, in turn: A B A B ..."""
    times: Dict[str, List[float]] = {label: [] for label in steps}
    for _ in range(rounds):
        for label, step in steps.items():
            times[label].append(step())
    return times


def summarise(times: List[float], batch_size: int) -> dict:
    """Median and mean seconds per step and images/s (from the median)."""
    median = statistics.median(times)
    return dict(
        median_s=median,
        mean_s=statistics.fmean(times),
        images_per_s=batch_size / median,
        times_s=times)


def load_config(path: str):
    """A config of this repository, or of an installed package
    (``mmpretrain::mae/...``)."""
    from mmengine.config import Config
    from mmengine.hub import get_config
    if '::' in path:
        return get_config(path)
    return Config.fromfile(osp.join(ROOT, path))


def build_arm(arm: Arm, case: Case, batch_size: Optional[int],
              device: str) -> Tuple[Callable[[], None], dict]:
    """Model, optim wrapper and synthetic batch -> (step, info)."""
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = load_config(arm.config)
    cfg.merge_from_dict(arm.overrides or {})
    model_cfg = cfg.model[arm.part] if arm.part else cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model = model.to(device).train()
    batch = batch_size or case.batch_size or cfg.train_dataloader.batch_size
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (batch, *case.input_shape), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, case.num_classes, (batch, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    teachers = cfg.train_dataloader.dataset.get('teachers')
    if teachers:  # stored teacher labels: [T, C] probabilities per sample
        scores = torch.randn(
            batch, len(teachers), case.num_classes, generator=gen).softmax(-1)
        for sample, score in zip(samples, scores):
            sample.set_field(score, 'teacher_scores')
    # as the config's collate_fn gives them: pseudo_collate (MMPretrain's
    # default) a list of [C, H, W]; default_collate [B, C, H, W] per view
    collate = cfg.train_dataloader.get('collate_fn', {}).get('type')
    if arm.views > 1:
        inputs = [images] * arm.views
    else:
        inputs = images if collate == 'default_collate' else list(images)
    data = dict(inputs=inputs, data_samples=samples)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    info = dict(
        config=arm.config,
        overrides=arm.overrides or {},
        mode=arm.mode,
        batch_size=batch,
        trainable_params=params)
    if arm.mode == 'train':
        wrapper = dict(cfg.optim_wrapper)
        if device == 'cpu' and wrapper.get('type') == 'AmpOptimWrapper':
            wrapper.update(type='OptimWrapper')  # fp32: no CPU AMP here
            wrapper.pop('loss_scale', None)
        optim_wrapper = build_optim_wrapper(model, wrapper)
        return lambda: model.train_step(data, optim_wrapper), info
    if arm.mode not in ('forward', 'teacher'):
        raise ValueError(f'arm {arm.label}: unknown mode {arm.mode!r}')

    @torch.no_grad()
    def step() -> None:
        batch = model.data_preprocessor(data, True)
        if arm.mode == 'forward':
            model(**batch, mode='loss')
        else:
            teacher_share(model, batch['inputs'])

    return step, info


def timer(step: Callable[[], None], device: str) -> Callable[[], float]:
    """``step`` -> a function that runs it and returns its seconds."""
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)

    def timed() -> float:
        sync()
        start = time.perf_counter()
        step()
        sync()
        return time.perf_counter() - start

    return timed


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_memory_mib(step: Callable[[], None], device: str) -> float:
    """Largest memory growth over ``MEM_STEPS`` calls of ``step``."""
    peak = 0
    for _ in range(MEM_STEPS):
        gc.collect()
        if device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            torch.cuda.synchronize()
            peak = max(peak, torch.cuda.max_memory_allocated() - base)
            continue
        try:  # hand freed heap pages back, so that their reuse shows
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except (OSError, AttributeError):
            pass
        base = top = rss_bytes()
        done = threading.Event()

        def sample() -> None:
            nonlocal top
            while not done.wait(0.001):
                top = max(top, rss_bytes())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        step()
        done.set()
        thread.join()
        peak = max(peak, top - base, rss_bytes() - base)
    return peak / 2**20


def run_case(name: str, case: Case, args: argparse.Namespace) -> dict:
    """Build, warm up, time interleaved, then measure memory; one case."""
    log(f'{name}: building {", ".join(arm.label for arm in case.arms)}')
    built = {
        arm.label: build_arm(arm, case, args.batch_size, args.device)
        for arm in case.arms
    }
    timed = {
        label: timer(step, args.device)
        for label, (step, _) in built.items()
    }
    log(f'{name}: warm-up, {args.warmup} steps per arm')
    interleave(timed, args.warmup)
    log(f'{name}: timing, {args.steps} interleaved steps per arm')
    times = interleave(timed, args.steps)
    log(f'{name}: peak memory, {MEM_STEPS} more steps per arm')
    arms = {
        label:
        dict(
            summarise(times[label], info['batch_size']),
            peak_mem_mib=peak_memory_mib(step, args.device),
            **info)
        for label, (step, info) in built.items()
    }
    ratios = {}
    for num, den in case.ratios:
        den = (den, ) if isinstance(den, str) else den
        ratios[f'{num}/({"+".join(den)})' if len(den) >
               1 else f'{num}/{den[0]}'] = arms[num]['median_s'] / sum(
                   arms[d]['median_s'] for d in den)
    memory = ('peak torch.cuda.max_memory_allocated growth in a step'
              if args.device == 'cuda' else
              "peak RSS growth during the arm's steps (sampled every ~1 ms,"
              ' above the RSS just before each step, after malloc_trim)')
    config = dict(
        warmup=args.warmup,
        steps=args.steps,
        device=args.device,
        ratios='of median seconds per step',
        memory=memory,
        memory_steps=MEM_STEPS)
    return dict(arms=arms, ratios=ratios, config=config)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'cases', nargs='*', metavar='CASE', help='cases to run (default: all)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument(
        '--batch-size',
        type=int,
        help="default: each config's train batch size")
    parser.add_argument(
        '--device',
        choices=['cpu', 'cuda'],
        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out', help='also write the JSON to this file')
    parser.add_argument('--list', action='store_true', help='list cases')
    parser.add_argument(
        '--images',
        type=int,
        default=2048,
        help='libkd_store: the first N Fashion-MNIST training images')
    parser.add_argument(
        '--shard-size',
        type=int,
        default=256,
        help='libkd_store: images per shard, each a timed round')
    parser.add_argument(
        '--work-dir',
        help='libkd_store: keep its checkpoints and store here (default: '
        'a temporary folder, removed)')
    args = parser.parse_args()
    valid = [*CASES, *FUNCTION_CASES]
    unknown = [c for c in args.cases if c not in valid]
    if unknown:
        parser.exit(
            2, f'benchmark.py: error: unknown case '
            f'{", ".join(unknown)}; valid: {", ".join(valid)}\n')
    if min(args.steps, args.images, args.shard_size) < 1 or args.warmup < 0:
        parser.error('--steps, --images and --shard-size must be >= 1, '
                     '--warmup >= 0')
    return args


def main() -> None:
    args = parse_args()
    if args.list:
        print('\n'.join([*CASES, *FUNCTION_CASES]))
        return
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mmkd_plugin  # noqa: F401  registers the plugin's components
    init_default_scope('mmpretrain')
    # init_weights and the optimiser log every parameter at INFO level, and
    # MAE's fixed position embeddings at WARNING; logs go to stdout
    MMLogger.get_current_instance().setLevel(logging.ERROR)
    result = {
        name:
        run_case(name, CASES[name], args)
        if name in CASES else FUNCTION_CASES[name](args)
        for name in args.cases or [*CASES, *FUNCTION_CASES]
    }
    result['machine'] = dict(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
        device=args.device,
        gpu=torch.cuda.get_device_name() if args.device == 'cuda' else None)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
