"""ReMem ("Mutual Information-Aware Fine-tuning of Pretrained ViTs for
Effective KD"): per-block MI profile of a classifier checkpoint.

    python tools/analysis/teacher_mi.py CONFIG CHECKPOINT [--out-dir DIR]
        [--num-samples 512] [--batch-size 128] [--eps 0.5]
        [--token cls|mean] [--top-k 2] [--seed 0] [--prefix P]
        [--cfg-options k=v ...]

Runs a seeded sample of the config's test (else val) dataset through the
model, and for the token of each block's output (CLS, or the mean patch
token; raw residual stream, rows L2-normalised) computes the coding rate
R(Z) (MI between input and the block, Gaussian-channel estimate) and the
class-conditional R_c(Z | y) (information beyond the label), plus R of the
logits. Writes ``mi_profile.json`` and ``mi_profile.png`` into the out dir
and prints which blocks' MLPs to reweight: those after which R drops most.
``summary.json`` there holds the last block's rates, R of the logits and the
R profile in the form ``tools/pipeline.py`` tabulates and plots.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('config', help='config of the classifier')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--out-dir', default='work_dirs/teacher_mi')
    parser.add_argument('--num-samples', type=int, default=512)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--eps', type=float, default=0.5)
    parser.add_argument('--token', choices=['cls', 'mean'], default='cls')
    parser.add_argument('--top-k', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--prefix', help="checkpoint key prefix, e.g. 'student.'")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build(args: argparse.Namespace):
    """(frozen model, preprocessor, dataset, sampled indices)."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    from mmkd_plugin.teachers import FrozenTeacher
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config not found: {args.config}')
    if args.num_samples < 2 or args.batch_size < 1 or not args.eps > 0:
        raise ValueError('need --num-samples >= 2, --batch-size >= 1 and '
                         '--eps > 0')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = FrozenTeacher(cfg.model, args.checkpoint, prefix=args.prefix)
    pre_cfg = dict(
        cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
        or {})
    pre_cfg.setdefault('type', 'mmpretrain.ClsDataPreprocessor')
    preprocessor = MODELS.build(pre_cfg)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader:
        raise ValueError(f'{args.config} has no test or val dataloader')
    dataset = DATASETS.build(loader['dataset'])
    if len(dataset) < args.num_samples:
        raise ValueError(f'--num-samples {args.num_samples} exceeds the '
                         f'dataset ({len(dataset)} images)')
    depth = len(model.vit.layers)
    if not 1 <= args.top_k < depth:
        raise ValueError(f'--top-k must be in 1..{depth - 1}')
    if args.token == 'cls' and model.vit.cls_token is None:
        raise ValueError('the model has no CLS token: use --token mean')
    rng = np.random.default_rng(args.seed)
    indices = sorted(
        int(i)
        for i in rng.choice(len(dataset), args.num_samples, replace=False))
    return model, preprocessor, dataset, indices


@torch.no_grad()
def features(model, preprocessor, dataset, indices: List[int], batch_size: int,
             token: str) -> Dict[str, torch.Tensor]:
    """Per block ``[n, D]`` token, ``logits`` [n, K], ``labels`` [n]."""
    vit = model.vit
    depth = len(vit.layers)
    out = {i: [] for i in range(depth)}
    out.update(logits=[], labels=[])
    for start in range(0, len(indices), batch_size):
        batch = [dataset[i] for i in indices[start:start + batch_size]]
        data = preprocessor(pseudo_collate(batch), False)
        inputs = data['inputs']  # [B, C, H, W], normalised
        blocks = model.block_outputs(inputs, list(range(depth)))
        for i, tokens in enumerate(blocks):  # [B, 1 + L, D]
            out[i].append(tokens[:, 0] if token ==
                          'cls' else tokens[:, vit.num_extra_tokens:].mean(1))
        out['logits'].append(model.logits(inputs))
        out['labels'].append(
            torch.cat([s.gt_label for s in data['data_samples']]))
    return {k: torch.cat(v) for k, v in out.items()}


def profile(feats: Dict[str, torch.Tensor], eps: float, top_k: int) -> dict:
    """Rates per block and the blocks after which R drops most."""
    from mmkd_plugin.evaluation import (class_conditional_coding_rate,
                                        coding_rate)
    blocks = sorted(k for k in feats if isinstance(k, int))
    labels = feats['labels']
    rate = [float(coding_rate(feats[i], eps, normalize=True)) for i in blocks]
    cond = [
        float(
            class_conditional_coding_rate(
                feats[i], labels, eps, normalize=True)) for i in blocks
    ]
    # drops[i]: how much R falls across block i (i >= 1)
    drops = {i: rate[i - 1] - rate[i] for i in blocks[1:]}
    ranked = sorted(drops, key=lambda i: -drops[i])
    chosen = sorted(i for i in ranked[:top_k] if drops[i] > 0)
    return dict(
        blocks=blocks,
        rate=rate,
        class_conditional_rate=cond,
        logits_rate=float(coding_rate(feats['logits'], eps, normalize=True)),
        drops=[drops[i] for i in blocks[1:]],
        suggested_blocks=chosen)


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result['blocks'], result['rate'], 'o-', label='R(Z)')
    ax.plot(
        result['blocks'],
        result['class_conditional_rate'],
        's--',
        label='R_c(Z | y)')
    for i in result['suggested_blocks']:
        ax.axvline(i, color='tab:red', alpha=0.3)
    ax.set_xlabel('block (red: suggested for MLP reweighting)')
    ax.set_ylabel(f'coding rate (nats), eps={result["eps"]}')
    ax.set_title(f'MI profile, {result["token"]} token, '
                 f'n={result["num_samples"]}')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(result: dict) -> dict:
    """Headline numbers and the R curve, for ``tools/pipeline.py``."""
    return dict(
        columns={
            'R last block': result['rate'][-1],
            'R_c last block': result['class_conditional_rate'][-1],
            'R logits': result['logits_rate'],
        },
        curve=dict(
            x=result['blocks'],
            y=result['rate'],
            xlabel='block',
            ylabel=f'R(Z) of the {result["token"]} token (nats)'))


def main() -> None:
    args = parse_args()
    try:
        model, preprocessor, dataset, indices = build(args)
        feats = features(model, preprocessor, dataset, indices,
                         args.batch_size, args.token)
        result = dict(
            config=args.config,
            checkpoint=args.checkpoint,
            num_samples=args.num_samples,
            eps=args.eps,
            token=args.token,
            seed=args.seed,
            indices=indices,
            **profile(feats, args.eps, args.top_k))
    except Exception as err:  # noqa: BLE001  reported in one line
        if os.environ.get('MMKD_DEBUG'):
            raise
        msg = ' '.join(str(err).split())
        sys.exit(f'teacher_mi.py: error: {type(err).__name__}: {msg} '
                 '(MMKD_DEBUG=1 shows the traceback)')
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'mi_profile.json'), 'w') as f:
        json.dump(result, f, indent=2)
    plot(result, osp.join(args.out_dir, 'mi_profile.png'))
    with open(osp.join(args.out_dir, 'summary.json'), 'w') as f:
        json.dump(summary(result), f, indent=2)
    for i, r, c in zip(result['blocks'], result['rate'],
                       result['class_conditional_rate']):
        print(f'block {i}: R={r:.3f} R_c={c:.3f}')
    print(f'logits: R={result["logits_rate"]:.3f}')
    chosen = result['suggested_blocks']
    if chosen:
        print(f'suggestion: reweight the MLPs of blocks {chosen} (largest '
              f'drops of R), e.g. model.backbone.mlp_blocks={chosen}')
    else:
        print('suggestion: R does not drop across any block; MLP '
              'reweighting is not indicated')
    print(f'wrote {args.out_dir}/mi_profile.{{json,png}}')


if __name__ == '__main__':
    main()
