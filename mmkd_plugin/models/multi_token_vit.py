"""Co-advise (Ren et al., CVPR 2022): a ViT with one distillation token per
teacher next to CLS, as in DeiT (Touvron et al., ICML 2021) for one."""
import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class MultiTokenViT(VisionTransformer):
    """MMPretrain's ViT with ``num_dist_tokens`` learned tokens after CLS.

    The sequence is ``[CLS, dist_1 .. dist_T, patches]`` and the position
    embedding has a row for each of the ``1 + T`` extra tokens. With
    ``out_type='cls_token'`` each output is the final CLS and distillation
    tokens, ``[B, 1 + T, D]``; ``'featmap'`` / ``'avg_featmap'`` skip all
    extra tokens, so downstream necks see only patches.

    A checkpoint with fewer extra tokens (a plain ViT: CLS only; DeiT: CLS
    and one ``dist_token``) loads through ``init_cfg`` (non-strictly): its
    extra position rows are kept, the missing ones copied from its last
    extra row, and the patch grid is resized as MMPretrain's ViT does.

    Args:
        num_dist_tokens: number of distillation tokens (teachers), >= 1.
        *args, **kwargs: as :class:`mmpretrain.models.VisionTransformer`
            (``with_cls_token`` must stay True).
    """

    def __init__(self, *args, num_dist_tokens: int = 1, **kwargs):
        if num_dist_tokens < 1:
            raise ValueError(f'num_dist_tokens must be >= 1, got '
                             f'{num_dist_tokens}')
        if not kwargs.get('with_cls_token', True):
            raise ValueError('MultiTokenViT needs with_cls_token=True')
        self.num_extra_tokens = 1 + num_dist_tokens  # read by the base init
        super().__init__(*args, **kwargs)
        self.num_dist_tokens = num_dist_tokens
        self.dist_token = nn.Parameter(
            torch.zeros(1, num_dist_tokens, self.embed_dims))

    def init_weights(self):
        super().init_weights()
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg['type'] == 'Pretrained'):
            trunc_normal_(self.dist_token, std=0.02)

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer-wise decay: distillation tokens sit with CLS (depth 0)."""
        if param_name == prefix + 'dist_token':
            param_name = prefix + 'cls_token'
        return super().get_layer_depth(param_name, prefix)

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        name = prefix + 'pos_embed'
        if name in state_dict:
            dist = state_dict.get(prefix + 'dist_token')
            extra = 1 + (0 if dist is None else dist.shape[1])
            pos = state_dict[name]  # [1, extra + L, D]
            if extra != self.num_extra_tokens:
                rows = [pos[:, :extra]]
                rows += [pos[:, extra - 1:extra]] * max(
                    self.num_extra_tokens - extra, 0)
                head = torch.cat(rows, dim=1)[:, :self.num_extra_tokens]
                state_dict[name] = torch.cat([head, pos[:, extra:]], dim=1)
        super()._prepare_pos_embed(state_dict, prefix, *args, **kwargs)

    def forward(self, x):
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)  # [B, L, D]
        # each token expanded on its own: its gradient is then contiguous,
        # as DDP's buckets expect (a slice of a cat's gradient is not)
        extra = [
            t.expand(B, -1, -1) for t in (self.cls_token, self.dist_token)
        ]
        x = torch.cat([*extra, x], dim=1)  # [B, 1 + T + L, D]
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))

        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs)

    def _format_output(self, x, hw):
        if self.out_type == 'cls_token':
            return x[:, :self.num_extra_tokens]  # [B, 1 + T, D]
        return super()._format_output(x, hw)
