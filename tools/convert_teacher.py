"""Official ViT / RegNet teacher checkpoint -> MMPretrain weights.

Reads MAE, DeiT / timm ViT, DINO / iBOT, timm RegNet (DeiT's RegNetY-16GF
teacher) and MMPretrain files (``mmkd_plugin.utils.convert``); writes
MMPretrain ``VisionTransformer`` / ``RegNet`` (the plugin's ``RegNetY``)
names.

The output holds ``state_dict`` (unprefixed backbone keys, or ``backbone.``
and ``head.`` keys of an ``ImageClassifier``) and ``meta`` (source, its
sha256, layout and the keys deliberately dropped), and loads with
``torch.load(weights_only=True)``: a ``FrozenTeacher`` reads it with the
default layout, a fine-tuning config with ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')`` (classifier target).

    python tools/convert_teacher.py mae_pretrain_vit_base.pth OUT.pth
    python tools/convert_teacher.py deit_small.pth OUT.pth --target classifier
    python tools/convert_teacher.py regnety_160-a5fe301d.pth OUT.pth \
        --target classifier   # DeiT's RegNetY-16GF teacher (timm)
"""
import argparse
import sys
from typing import List, Optional

from mmkd_plugin.utils import (LAYOUTS, TARGETS, CheckpointError,
                               convert_checkpoint, detect_layout,
                               load_checkpoint_file, save_checkpoint,
                               sha256sum)


def convert(src: str,
            layout: str = 'auto',
            target: str = 'backbone',
            entry: str = 'teacher',
            distilled: bool = False) -> dict:
    """The converted weights and their provenance, as a checkpoint dict."""
    ckpt = load_checkpoint_file(src)
    if layout == 'auto':
        layout = detect_layout(ckpt)
    weights, dropped = convert_checkpoint(ckpt, layout, target, entry,
                                          distilled)
    meta = dict(
        source=src,
        source_sha256=sha256sum(src),
        layout=layout,
        target=target,
        dropped=dropped)
    return dict(state_dict=weights, meta=meta)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='the official checkpoint')
    parser.add_argument('out', help='where to write the converted weights')
    parser.add_argument(
        '--layout',
        default='auto',
        choices=('auto', ) + LAYOUTS,
        help='key layout of SRC (default: detected)')
    parser.add_argument(
        '--target',
        default='backbone',
        choices=TARGETS,
        help='a bare backbone, or an ImageClassifier with its head')
    parser.add_argument(
        '--entry',
        default='teacher',
        help='the network of a DINO / iBOT training checkpoint to take')
    parser.add_argument(
        '--distilled',
        action='store_true',
        help='keep DeiT distillation token and head (the target is a '
        'DistilledVisionTransformer with DeiTClsHead)')
    args = parser.parse_args(argv)
    try:
        out = convert(args.src, args.layout, args.target, args.entry,
                      args.distilled)
        save_checkpoint(out, args.out)
    except (CheckpointError, OSError) as err:
        msg = ' '.join(str(err).split())
        if args.src not in msg:
            msg = f'{args.src}: {msg}'
        sys.exit(f'convert_teacher.py: error: {msg}')
    meta, weights = out['meta'], out['state_dict']
    n = sum(v.numel() for v in weights.values())
    dropped = meta['dropped']
    shown = ', '.join(dropped[:4]) + (', ...' if len(dropped) > 4 else '')
    print(f'convert_teacher.py: {meta["layout"]} -> {args.target}: '
          f'{len(weights)} tensors ({n / 1e6:.2f} M values), '
          f'{len(dropped)} keys dropped [{shown}] -> {args.out}')


if __name__ == '__main__':
    main()
