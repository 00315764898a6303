"""DMT, "Comprehensive Distillation with Multiple Self-supervised Teachers":
K frozen teachers, each tapped at one block, on the student's patch grid."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .frozen import FrozenTeacher
from .order import teachers_by_name

Grid = Tuple[int, int]


def named_teachers(
        teachers: Union[Dict[str, dict], Sequence[dict]]) -> Dict[str, dict]:
    """Teacher configs by name, in the order every per-teacher position
    follows: a dict's by name (:func:`teachers_by_name`: a dumped config
    has its keys sorted), a list's as written (a dump keeps it).

    Args:
        teachers: ``name -> FrozenTeacher config``, or a list of configs
            each with a ``name`` key (where a repeated name is an error,
            not a silent overwrite as in a dict literal).
    """
    if isinstance(teachers, dict):
        named = {name: dict(cfg) for name, cfg in teachers.items()}
    else:
        named = {}
        for cfg in teachers:
            cfg = dict(cfg)
            name = cfg.pop('name', None)
            if name in named:
                raise ValueError(f'duplicate teacher name {name!r}: each '
                                 'teacher needs its own name')
            named[name] = cfg
    bad = [n for n in named if not (isinstance(n, str) and n.isidentifier())]
    if not named or bad:
        raise ValueError('teachers need names that are identifiers (they '
                         f'name log entries), got {list(named)}')
    return teachers_by_name(named) if isinstance(teachers, dict) else named


def patch_grid(vit: nn.Module, image_size: Grid, who: str) -> Grid:
    """The patch grid of ``vit`` on ``image_size`` images.

    Raises:
        ValueError: the patches overlap or do not tile the image (mmcv pads
            the border), so the grid cannot be aligned with another one.
    """
    proj = vit.patch_embed.projection
    kernel, stride = tuple(proj.kernel_size), tuple(proj.stride)
    if kernel != stride or any(s % p for s, p in zip(image_size, stride)):
        raise ValueError(
            f'{who}: patches of size {kernel}, stride {stride} do not tile '
            f'the {tuple(image_size)} image, so its patch grid cannot be '
            'aligned with the others; use a patch size that divides it')
    return tuple(s // p for s, p in zip(image_size, stride))


def resize_tokens(tokens: torch.Tensor,
                  src: Grid,
                  dst: Grid,
                  mode: str = 'bilinear') -> torch.Tensor:
    """Patch tokens ``[B, h * w, D]`` (row-major) -> ``[B, H * W, D]``.

    Both grids cover the same image, so ``align_corners=False`` maps cell
    centres onto cell centres.
    """
    if tuple(src) == tuple(dst):
        return tokens
    B, L, D = tokens.shape
    maps = tokens.transpose(1, 2).reshape(B, D, *src)  # [B, D, h, w]
    kwargs = {} if mode in ('nearest', 'area') else dict(align_corners=False)
    maps = F.interpolate(maps, size=tuple(dst), mode=mode, **kwargs)
    return maps.flatten(2).transpose(1, 2)  # [B, H * W, D]


class MultiTeacher:
    """K named frozen teachers, each truncated after its tapped block; its
    patch tokens come out resized to one common grid.

    Not a module: it holds the distiller's teachers, which stay outside
    the module tree (see :class:`BaseDistiller`). All checks run here, at
    build time.

    Args:
        teachers: name -> built :class:`FrozenTeacher` (each with its own
            checkpoint, layout and input normalisation), in the order of
            :func:`named_teachers`, which the outputs keep.
        blocks: name -> tapped block (0-based); a teacher not named taps
            its last block.
        image_size: ``(H, W)`` of the images every teacher is given.
        grid: the common patch grid (the student's).
        need_cls: every teacher must have a CLS token (token fusion).
        mode: ``F.interpolate`` mode of the grid resize.
    """

    def __init__(self,
                 teachers: Dict[str, FrozenTeacher],
                 blocks: Optional[Dict[str, int]],
                 image_size: Grid,
                 grid: Grid,
                 need_cls: bool = True,
                 mode: str = 'bilinear'):
        blocks = dict(blocks or {})
        unknown = sorted(set(blocks) - set(teachers))
        if unknown:
            raise ValueError(f'blocks names unknown teachers {unknown}; '
                             f'the teachers are {list(teachers)}')
        self.teachers = teachers
        self.grid, self.mode = tuple(grid), mode
        self.blocks, self.grids, self.dims = {}, {}, {}
        for name, teacher in teachers.items():
            vit = teacher.vit  # raises unless an MMPretrain ViT
            block = blocks.get(name, len(vit.layers) - 1)
            teacher.truncate(block)  # errors name the valid range
            self.grids[name] = patch_grid(vit, image_size, f'teacher {name}')
            if need_cls and (vit.cls_token is None
                             or vit.num_extra_tokens < 1):
                raise ValueError(f'teacher {name} has no CLS token, which '
                                 'token fusion distils')
            self.blocks[name], self.dims[name] = block, vit.embed_dims

    @torch.no_grad()
    def __call__(
        self, inputs: torch.Tensor
    ) -> Dict[str, Tuple[Optional[torch.Tensor], torch.Tensor]]:
        """Student-normalised images [B, C, H, W] -> name -> (CLS
        ``[B, D_k]`` or None, patch tokens ``[B, L, D_k]`` on the common
        grid); raw block outputs, fp32, no gradient."""
        out = {}
        for name, teacher in self.teachers.items():
            tokens = teacher.block_outputs(inputs, [self.blocks[name]])[0]
            extra = teacher.vit.num_extra_tokens  # [B, extra + h * w, D_k]
            cls = tokens[:, 0] if extra else None
            out[name] = (cls,
                         resize_tokens(tokens[:, extra:], self.grids[name],
                                       self.grid, self.mode))
        return out
