"""Safe checkpoint loading on torch >= 2.6 (``weights_only=True``)."""
import hashlib
import os
import re
import tempfile
from typing import Dict, Iterable, Optional

import numpy as np
import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit its model."""


def mmengine_safe_globals() -> list:
    """The non-tensor types an MMEngine training checkpoint holds.

    ``meta`` carries numpy scalars (seed, metric values) and the message hub
    state carries ``HistoryBuffer`` objects whose histories are numpy arrays.
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` on a
    checkpoint of this project's runs lists exactly these globals; arrays
    also need their dtype classes, allowed for numeric dtypes only (no
    object, string or void dtypes). Nothing else is allowed.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray
    numeric = '?bhilqBHILQefdg'  # bool, signed, unsigned, float codes
    dtype_classes = sorted({type(np.dtype(c))
                            for c in numeric},
                           key=lambda t: t.__name__)
    return [
        HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct,
        multiarray.scalar, *dtype_classes
    ]


def _history_getstate(self) -> dict:
    # MMEngine pickles its class-level table of statistics functions with
    # each buffer; those pickle as attribute look-ups (builtins.getattr),
    # which no weights_only loader should allow. The table is class state:
    # leave it out, and rebuild the defaults on load.
    state = self.__dict__.copy()
    state.pop('statistics_methods', None)
    state.pop('_statistics_methods', None)
    return state


def _history_setstate(self, state: dict) -> None:
    state = dict(state)
    state.pop('statistics_methods', None)
    state.pop('_statistics_methods', None)
    self.__dict__.update(state)
    self._set_default_statistics()


def register_safe_globals() -> None:
    """Make MMEngine checkpoints load with ``weights_only=True``.

    Allowlists :func:`mmengine_safe_globals` and makes ``HistoryBuffer``
    pickle as plain data (MMEngine pickles its statistics functions, which
    would need ``builtins.getattr`` on the allowlist).
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_getstate
    HistoryBuffer.__setstate__ = _history_setstate
    torch.serialization.add_safe_globals(mmengine_safe_globals())


def sha256sum(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint_file(path: str) -> dict:
    """``torch.load`` with ``weights_only=True`` and one-line errors."""
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001  torch raises many kinds
        raise CheckpointError(
            f'cannot read checkpoint {path}: {_reason(err)}') from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'{path} holds a {type(ckpt).__name__}, not a state dict')
    return ckpt


def _reason(err: Exception) -> str:
    """The informative line of a torch.load error."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if 'WeightsUnpickler error' in line:
            rest = line.split('WeightsUnpickler error:', 1)[1].strip()
            return 'not loadable with weights_only=True: ' + (
                rest or (lines[i + 1] if i + 1 < len(lines) else ''))
    return lines[0] if lines else type(err).__name__


def state_dict_of(ckpt: dict) -> Dict[str, torch.Tensor]:
    """The weights in a checkpoint: MMEngine ``state_dict``, official
    ``model`` / ``module`` keys, or a bare state dict."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def _short(keys: Iterable[str], limit: int = 6) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:limit])
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return f'[{shown}{more}]'


_STAGE_BLOCK = re.compile(r'(.*\.)?layer(\d+)\.(\d+)\.conv1\.weight')


def _stages(state_dict: Dict[str, torch.Tensor]) -> str:
    """``blocks x width`` per stage of a ResNet-family model (MMPretrain's
    ``layer{i}.{j}``; width: the first block's ``conv1`` output, a RegNet's
    stage width), e.g. ``'2x224 4x448 11x1232 1x3024'``; ``''`` for other
    models."""
    blocks, widths = {}, {}
    for key, value in state_dict.items():
        match = _STAGE_BLOCK.fullmatch(key)
        if match:
            stage, block = int(match[2]), int(match[3])
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
            if block == 0:
                widths[stage] = value.shape[0]
    return ' '.join(f'{blocks[i]}x{widths.get(i)}' for i in sorted(blocks))


def load_weights_strict(module: nn.Module,
                        state_dict: Dict[str, torch.Tensor],
                        source: str,
                        prefix: Optional[str] = None) -> None:
    """Load ``state_dict`` into ``module``; every key must match.

    Args:
        prefix: keep only keys starting with it and strip it
            (e.g. ``'student.'`` for a distillation checkpoint).

    Raises:
        CheckpointError: naming the missing, unexpected and mis-shaped keys
            (and both stage layouts, for another arch of a ResNet-family
            model).
    """
    if prefix:
        state_dict = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
    own = module.state_dict()
    missing = set(own) - set(state_dict)
    unexpected = set(state_dict) - set(own)
    shapes = [
        f'{k}: {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}'
        for k in sorted(set(own) & set(state_dict))
        if tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f'missing keys {_short(missing)}')
    if unexpected:
        problems.append(f'unexpected keys {_short(unexpected)}')
    if shapes:
        problems.append(f'shape mismatch {_short(shapes, 3)}')
    if problems:
        theirs, mine = _stages(state_dict), _stages(own)
        if theirs and mine and theirs != mine:
            # another arch of the family: say which, not only its keys
            stages = (f'stages (blocks x width): {theirs} in the '
                      f'checkpoint, {mine} in the model')
            problems.insert(0, stages)
        raise CheckpointError(
            f'{source} does not fit {type(module).__name__}: ' +
            '; '.join(problems))
    module.load_state_dict(state_dict, strict=True)


def save_checkpoint(obj: dict, path: str) -> None:
    """Write a temporary file next to ``path``, then rename it: never a
    half-written file, and nothing left behind on failure."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
