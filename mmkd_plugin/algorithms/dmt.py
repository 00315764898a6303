"""DMT, "Comprehensive Distillation with Multiple Self-supervised Teachers"
(METHODS.md section 5)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.models.vit_taps import check_vit, embed_tokens, run_blocks
from mmkd_plugin.teachers.multi import MultiTeacher, named_teachers
from .base import BaseDistiller


@MODELS.register_module()
class DMT(BaseDistiller):
    """DMT: a ViT student distils several frozen self-supervised teachers.

    Each teacher (own checkpoint, layout and input normalisation) runs on
    the full image, truncated after its tapped block; its patch tokens are
    resized to the student's grid (:class:`MultiTeacher`). The student's
    last-block tokens (after its final norm, if any) feed token fusion
    distillation (``tfd``: CLS tokens, :class:`TokenFusionHead`) and spatial
    feature fusion distillation (``sfd``: patch tokens,
    :class:`SpatialFusionHead`); either may be None, the heads' fusion
    (``'mean'``, ``'learned'``, ``'none'``: per-teacher baseline) and
    lambdas (``loss_weight``) are theirs. With ``mask_ratio`` > 0 the
    student sees a random subset of patches and SFD regresses the teachers'
    tokens at those positions.

    Args:
        student: MMPretrain ``VisionTransformer`` config (or a classifier's:
            its backbone is taken).
        teachers: name -> :class:`FrozenTeacher` config, in order by name
            (:func:`~mmkd_plugin.teachers.teachers_by_name`, whatever the
            order written: ``Config.dump`` sorts keys), or a list of
            configs each with a ``name``, in the order written. Per-teacher
            positions follow this order: the heads' ``weights`` lists,
            adapters and projectors.
        blocks: name -> tapped teacher block (0-based); default the last.
        tfd, sfd: head configs; the widths are filled in here.
        mask_ratio: ratio of the student's patches removed, in [0, 1).
        resize_mode: ``F.interpolate`` mode of the teachers' grid resize.
    """

    def __init__(self,
                 student: dict,
                 teachers: Union[Dict[str, dict], Sequence[dict]],
                 blocks: Optional[Dict[str, int]] = None,
                 tfd: Optional[dict] = dict(type='TokenFusionHead'),
                 sfd: Optional[dict] = dict(type='SpatialFusionHead'),
                 mask_ratio: float = 0.0,
                 resize_mode: str = 'bilinear',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if tfd is None and sfd is None:
            raise ValueError('DMT needs tfd, sfd or both')
        super().__init__(
            dict(student.get('backbone', student)), named_teachers(teachers),
            data_preprocessor, init_cfg)
        vit = self.student
        check_vit(vit)
        if tfd is not None and vit.cls_token is None:
            raise ValueError('token fusion needs a student with a CLS token')
        image_size = tuple(vit.patch_embed.init_input_size)
        self.multi = MultiTeacher(
            self.teachers,
            blocks,
            image_size=image_size,
            grid=vit.patch_resolution,
            need_cls=tfd is not None,
            mode=resize_mode)
        dims = dict(in_dims=vit.embed_dims, teacher_dims=self.multi.dims)
        self.tfd = None if tfd is None else MODELS.build(dict(tfd, **dims))
        self.sfd = None if sfd is None else MODELS.build(dict(sfd, **dims))
        self.num_patches = vit.patch_resolution[0] * vit.patch_resolution[1]
        self.num_keep = int(self.num_patches * (1 - mask_ratio))
        if not 0 <= mask_ratio < 1 or self.num_keep < 1:
            raise ValueError(f'mask_ratio {mask_ratio} must be in [0, 1) '
                             f'and leave one of {self.num_patches} patches')
        self.mask_ratio = mask_ratio

    def student_tokens(self, inputs: torch.Tensor,
                       keep: Optional[torch.Tensor]) -> torch.Tensor:
        """The student's last-block tokens ``[B, extra + K, D_s]``, after
        its final norm (if it has one)."""
        vit = self.student
        tokens = embed_tokens(vit, inputs, keep)
        tokens = run_blocks(vit, tokens, [len(vit.layers) - 1])[0]
        return vit.ln1(tokens) if vit.final_norm else tokens

    def loss(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[DataSample]] = None
    ) -> Dict[str, torch.Tensor]:
        keep = None  # [B, K] visible patches of the student
        if self.mask_ratio > 0:
            noise = torch.rand(
                len(inputs), self.num_patches, device=inputs.device)
            keep = noise.argsort(dim=1)[:, :self.num_keep]
        tokens = self.student_tokens(inputs, keep)  # [B, extra + K, D_s]
        # name -> (CLS [B, D_k], patches [B, L, D_k]): fp32, no grad
        feats = list(self.multi(inputs).values())
        losses = {}
        if self.tfd is not None:
            losses.update(self.tfd(tokens[:, 0], [c for c, _ in feats]))
        if self.sfd is not None:
            targets = [p for _, p in feats]
            if keep is not None:  # the visible positions only
                index = keep.unsqueeze(-1)  # [B, K, 1]
                targets = [
                    t.gather(1, index.expand(-1, -1, t.shape[-1]))
                    for t in targets
                ]
            extra = self.student.num_extra_tokens
            losses.update(self.sfd(tokens[:, extra:], targets))
        return losses

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.student(inputs)
        raise RuntimeError(f'DMT pre-trains a backbone, it has no {mode!r} '
                           'mode: fine-tune the exported student')
