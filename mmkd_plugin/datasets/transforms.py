"""View transforms for distillation: the teacher and the student see
differently augmented copies of one sample."""
from typing import Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.datasets.transforms import ColorJitter
from mmpretrain.registry import TRANSFORMS

Range = Union[float, Sequence[float]]


@TRANSFORMS.register_module()
class TwoViewColorJitter(BaseTransform):
    """TinyMIM (CVPR 2023) views: a clean image and a colour-jittered copy.

    Put it after the transforms both views share (``RandomResizedCrop``,
    ``RandomFlip``) and before ``PackInputs``: ``results['img']`` becomes
    ``[clean, jittered]`` (view 0 for the teacher, view 1 for the student),
    which ``PackInputs`` ships as a list of two tensors. Batch them with
    ``collate_fn=dict(type='default_collate')`` and MMPretrain's
    ``SelfSupDataPreprocessor`` (as for MoCo's views): the model receives
    ``inputs = [clean [B, C, H, W], jittered [B, C, H, W]]``.

    The copy is jittered by MMPretrain's :class:`ColorJitter` on a copy of
    the results dict. Grey images (``[H, W]`` or ``[H, W, 1]``) get only
    brightness and contrast (saturation and hue do nothing to grey); they
    are jittered as three equal channels, since MMCV's photometric ops need
    three, and returned in their own shape.

    Args:
        brightness, contrast, saturation, hue: as :class:`ColorJitter`.
        backend: as :class:`ColorJitter`.
    """

    def __init__(self,
                 brightness: Range = 0.4,
                 contrast: Range = 0.4,
                 saturation: Range = 0.4,
                 hue: Range = 0.,
                 backend: str = 'pillow'):
        self.jitter = ColorJitter(
            brightness, contrast, saturation, hue, backend=backend)
        self.grey_jitter = ColorJitter(brightness, contrast, backend=backend)

    def transform(self, results: dict) -> dict:
        img = results['img']  # [H, W] or [H, W, C]
        view = dict(results)  # the jitter replaces the copy's 'img' only
        if img.ndim == 2 or img.shape[2] == 1:
            view['img'] = np.repeat(img.reshape(*img.shape[:2], 1), 3, 2)
            jittered = self.grey_jitter(view)['img'][..., :1]
            jittered = np.ascontiguousarray(jittered.reshape(img.shape))
        else:
            jittered = self.jitter(view)['img']
        results['img'] = [img, jittered]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(student={self.jitter!r})'
