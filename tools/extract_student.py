"""Distillation checkpoint -> plain MMPretrain classifier checkpoint.

The distiller saves the student under ``student.``; this writes its
``backbone.`` / ``head.`` weights as a checkpoint that ``tools/test.py`` with
the student's own config evaluates, or that a fine-tuning config loads with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
A student that is a bare backbone (e.g. TinyMIM's) comes out under
``backbone.``, as a classifier's backbone (``--out-prefix`` overrides).

    python tools/extract_student.py DISTILL_CKPT OUT.pth

``--format mmpretrain|mmseg|mmdet`` writes only the ViT backbone (from a
distillation or a classifier checkpoint) in the layout that MMPretrain /
MMDetection (``backbone.``) or MMSegmentation (its own names) load, with the
position embedding at the 224-pixel grid (``mmkd_plugin/utils/export.py``),
then builds that library's backbone, loads the file through its own loading
code and checks that every tensor landed; on any failure nothing is written.
"""
import argparse
import os
import sys

from mmkd_plugin.utils import (CheckpointError, load_checkpoint_file,
                               save_checkpoint, sha256sum, state_dict_of)
from mmkd_plugin.utils.export import FORMATS, export_vit, verify_loads


def extract(src: str,
            prefix: str = 'student.',
            out_prefix: str = 'auto') -> dict:
    """The student's weights and provenance, as a checkpoint dict.

    ``out_prefix`` goes before every key; ``'auto'``: ``'backbone.'`` when
    the student has no ``backbone.`` keys (a bare backbone), else none;
    ``'classifier'``: as ``'auto'``, and a checkpoint without ``prefix``
    keys but with ``backbone.`` ones (a classifier) is taken as it is.
    """
    ckpt = load_checkpoint_file(src)
    weights = state_dict_of(ckpt)
    student = {
        k[len(prefix):]: v
        for k, v in weights.items() if k.startswith(prefix)
    }
    if out_prefix == 'classifier':
        out_prefix = 'auto'
        if not student:  # a classifier, as it is
            student = {
                k: v
                for k, v in weights.items() if k.startswith('backbone.')
            }
    if not student:
        found = sorted({k.split('.')[0] for k in weights})[:8]
        raise CheckpointError(
            f'{src} is not a distillation checkpoint: no "{prefix}*" keys '
            f'(top-level names: {found})')
    if out_prefix == 'auto':
        bare = not any(k.startswith('backbone.') for k in student)
        out_prefix = 'backbone.' if bare else ''
    student = {out_prefix + k: v for k, v in student.items()}
    meta = ckpt.get('meta', {}) if isinstance(ckpt.get('meta'), dict) else {}
    keep = ('epoch', 'iter', 'dataset_meta', 'teachers')
    out_meta = {k: meta[k] for k in keep if k in meta}
    out_meta.update(source=src, source_sha256=sha256sum(src))
    return dict(state_dict=student, meta=out_meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='distillation checkpoint')
    parser.add_argument('out', help='where to write the student')
    parser.add_argument(
        '--prefix', default='student.', help='the student key prefix')
    parser.add_argument(
        '--out-prefix',
        default='auto',
        help="prefix of the written keys (default 'auto': 'backbone.' for "
        'a bare-backbone student, none for a classifier)')
    parser.add_argument(
        '--format',
        choices=FORMATS,
        help='write only the ViT backbone, for this library (default: the '
        'whole student, for tools/test.py and fine-tuning configs)')
    args = parser.parse_args()
    tmp = args.out + '.tmp'
    try:
        student = extract(args.checkpoint, args.prefix,
                          'classifier' if args.format else args.out_prefix)
        if args.format:
            weights, dropped = export_vit(student['state_dict'], args.format)
            student.update(state_dict=weights)
            student['meta'].update(format=args.format, dropped=dropped)
            save_checkpoint(student, tmp)
            checked = verify_loads(tmp, weights, args.format)
            os.replace(tmp, args.out)
            parts = sorted({k.split('.')[0] for k in dropped})
            print(f'extract_student.py: {args.format}: its backbone loads '
                  f'all {checked} tensors; left out: '
                  f'{", ".join(parts) or "nothing"}')
        else:
            save_checkpoint(student, args.out)
    except CheckpointError as err:
        sys.exit(f'extract_student.py: error: {err}')
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    n = sum(v.numel() for v in student['state_dict'].values())
    print(f'extract_student.py: {len(student["state_dict"])} tensors, '
          f'{n / 1e6:.2f} M values -> {args.out}')


if __name__ == '__main__':
    main()
