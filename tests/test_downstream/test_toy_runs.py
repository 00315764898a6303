"""A student exported by tools/extract_student.py fine-tunes downstream:
the repo's toy Mask R-CNN and UperNet configs (shrunk) train on generated
COCO / ADE20K-format scenes through MMEngine's runner, load the student
before the first iteration, lower the loss and evaluate."""
import math
import os.path as osp
import runpy
import sys

import pytest
import torch
from conftest import DATA_ROOT, ROOT, run_tool
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmkd_plugin.utils import load_checkpoint_file, save_checkpoint

TOY = osp.join(ROOT, 'configs/downstream/toy')
DET_CFG = osp.join(TOY, 'mask-rcnn_vit-t16_simplefpn_1xb4-12e_toy-coco-128.py')
SEG_CFG = osp.join(TOY, 'upernet_vit-t16_1xb4-400i_toy-ade-128.py')
ARCH = dict(embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=128)
SIZE, ITERS = 64, 24
# Mask R-CNN's heads at 32 channels and 64 sampled RoIs (R50-FPN's widths
# cost ~700 GFLOP per 4-image step on a CPU)
SMALL_HEADS = {
    'model.neck.out_channels': 32,
    'model.rpn_head.in_channels': 32,
    'model.rpn_head.feat_channels': 32,
    'model.roi_head.bbox_roi_extractor.out_channels': 32,
    'model.roi_head.mask_roi_extractor.out_channels': 32,
    'model.roi_head.bbox_head.in_channels': 32,
    'model.roi_head.bbox_head.fc_out_channels': 64,
    'model.roi_head.mask_head.in_channels': 32,
    'model.roi_head.mask_head.conv_out_channels': 32,
    'model.roi_head.mask_head.num_convs': 1,
    'model.train_cfg.rcnn.sampler.num': 64,
    'model.train_cfg.rpn_proposal.nms_pre': 200,
    'model.train_cfg.rpn_proposal.max_per_img': 100,
    'model.test_cfg.rpn.nms_pre': 200,
    'model.test_cfg.rpn.max_per_img': 100,
    # a few steps from a random student score below 0.05: evaluate them all
    'model.test_cfg.rcnn.score_thr': 0.,
    'model.test_cfg.rcnn.max_per_img': 20,
}


class Record(Hook):
    """Keeps the backbone's weights when training starts, every training
    loss and the validation metrics."""

    def __init__(self):
        self.losses, self.metrics, self.start = [], {}, None

    def before_train(self, runner) -> None:
        self.start = {
            k: v.detach().clone()
            for k, v in runner.model.backbone.state_dict().items()
        }

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self.losses.append(outputs['loss'].item())

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics.update(metrics)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """Toy scenes, and a seeded classifier's ViT exported for MMDetection
    and MMSegmentation by tools/extract_student.py."""
    from mmpretrain.models import VisionTransformer
    root = tmp_path_factory.mktemp('downstream')
    make = runpy.run_path(osp.join(ROOT, 'tools/data/make_toy_coco_ade.py'))
    make['main']([
        str(root), '--train', '4', '--val', '2', '--size',
        str(SIZE), '--fashion-root', DATA_ROOT
    ])
    torch.manual_seed(0)
    vit = VisionTransformer(arch=ARCH, img_size=SIZE, patch_size=16)
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    _export(_classifier(vit, root / 'cls.pth'), root, ('mmdet', 'mmseg'))
    return root


def _classifier(vit, path) -> str:
    """Save ``vit`` with a linear head, as an MMPretrain classifier."""
    weights = {'backbone.' + k: v for k, v in vit.state_dict().items()}
    weights['head.fc.weight'] = torch.zeros(10, vit.embed_dims)
    save_checkpoint(dict(state_dict=weights), str(path))
    return str(path)


def _export(ckpt: str, root, formats: tuple) -> None:
    """Run ``tools/extract_student.py CKPT ROOT/FMT.pth --format FMT``."""
    argv = sys.argv
    try:
        for fmt in formats:
            sys.argv = [
                'extract_student.py', ckpt,
                str(root / f'{fmt}.pth'), '--format', fmt
            ]
            runpy.run_path(
                osp.join(ROOT, 'tools/extract_student.py'),
                run_name='__main__')
    finally:
        sys.argv = argv


def _run(cfg: Config, work_dir: str) -> Record:
    """Train ``cfg`` (CPU, one thread, no workers) and validate at the end."""
    cfg.work_dir = work_dir
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(num_workers=0, persistent_workers=False)
    cfg.randomness = dict(seed=0)
    record = Record()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = Runner.from_cfg(cfg)
        runner.register_hook(record, priority='LOWEST')
        runner.train()
    finally:
        torch.set_num_threads(threads)
    return record


def _check(record: Record, export: str, prefix: str, metrics: tuple):
    """Started from the export, loss fell, metrics in [0, 100]."""
    state = load_checkpoint_file(export)['state_dict']
    expected = {k[len(prefix):]: v for k, v in state.items()}
    assert set(record.start) == set(expected)
    for key, value in expected.items():
        assert torch.equal(record.start[key], value), key
    assert len(record.losses) == ITERS
    print(f'\ntoy run: loss {record.losses[0]:.3f} -> '
          f'{record.losses[-1]:.3f}; ' +
          ', '.join(f'{k} {float(record.metrics[k]):.2f}' for k in metrics))
    assert all(math.isfinite(v) for v in record.losses)
    first, last = record.losses[:4], record.losses[-4:]
    assert sum(last) < 0.8 * sum(first), record.losses
    for name in metrics:
        value = record.metrics[name]
        assert math.isfinite(value) and 0 <= value <= 100, (name, value)


def test_mask_rcnn_fine_tunes_the_exported_student(toy, tmp_path):
    cfg = Config.fromfile(DET_CFG)
    coco = str(toy / 'coco') + '/'
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = coco
        for step in loader.dataset.pipeline:
            if step['type'] == 'Resize':
                step['scale'] = (SIZE, SIZE)
    cfg.val_evaluator.ann_file = coco + 'annotations/instances_val.json'
    cfg.merge_from_dict(SMALL_HEADS)
    cfg.model.backbone.update(arch=ARCH, drop_path_rate=0.)
    cfg.model.backbone.init_cfg.checkpoint = str(toy / 'mmdet.pth')
    cfg.model.neck.in_channels = ARCH['embed_dims']
    cfg.train_cfg.update(max_epochs=ITERS, val_interval=ITERS)
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=4)
    ]
    record = _run(cfg, str(tmp_path))
    _check(record, str(toy / 'mmdet.pth'), 'backbone.',
           ('coco/bbox_mAP', 'coco/segm_mAP'))


def test_upernet_fine_tunes_the_exported_student(toy, tmp_path):
    cfg = Config.fromfile(SEG_CFG)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = str(toy / 'ade')
    # overfitting 4 scenes: no random crops or photometric distortion
    cfg.train_dataloader.dataset.pipeline = [
        step for step in cfg.val_dataloader.dataset.pipeline
        if step['type'] != 'Resize'
    ]
    model = cfg.model
    model.pretrained = str(toy / 'mmseg.pth')
    model.data_preprocessor.size = (SIZE, SIZE)
    model.backbone.update(
        img_size=224,
        embed_dims=ARCH['embed_dims'],
        num_layers=ARCH['num_layers'],
        num_heads=ARCH['num_heads'],
        mlp_ratio=2,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.)
    model.decode_head.update(in_channels=[64] * 4, channels=32)
    model.auxiliary_head.update(in_channels=64, channels=16)
    cfg.train_cfg.update(max_iters=ITERS, val_interval=ITERS)
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=4)
    ]
    record = _run(cfg, str(tmp_path))
    _check(record, str(toy / 'mmseg.pth'), '', ('mIoU', ))


def test_train_tool_runs_the_toy_detection_config(toy, tmp_path):
    """The README's command: tools/train.py keeps the config's mmdet scope
    and custom imports; a ViT-T student trains a step and is evaluated."""
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch='deit-tiny', patch_size=16)
    _export(_classifier(vit, tmp_path / 'vit-t.pth'), tmp_path, ('mmdet', ))
    coco = str(toy / 'coco') + '/'
    options = [
        f'model.backbone.init_cfg.checkpoint={tmp_path / "mmdet.pth"}',
        f'train_dataloader.dataset.data_root={coco}',
        f'val_dataloader.dataset.data_root={coco}',
        f'val_evaluator.ann_file={coco}annotations/instances_val.json',
        'train_cfg.max_epochs=1'
    ] + [f'{k}={v}' for k, v in SMALL_HEADS.items()] + [
        f'{loader}_dataloader.{key}' for loader in ('train', 'val')
        for key in ('num_workers=0', 'persistent_workers=False')
    ]
    res = run_tool(
        'tools/train.py',
        DET_CFG,
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        *options,
        env=dict(OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert 'Epoch(train) [1][1/1]' in log and 'coco/segm_mAP:' in log
    saved = load_checkpoint_file(str(tmp_path / 'work/epoch_1.pth'))
    assert saved['meta']['epoch'] == 1
