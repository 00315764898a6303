"""FKD (Shen & Xing, ECCV 2022) view replay: the crop and flip a teacher
saw when its labels were precomputed, applied again at training time."""
from typing import Sequence, Tuple, Union

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS


def box_of(params: Tuple[int, int, int, int], height: int,
           width: int) -> np.ndarray:
    """``(offset_h, offset_w, target_h, target_w)`` pixels -> normalised
    ``(x0, y0, x1, y1)`` float32, x1 / y1 exclusive."""
    top, left, h, w = params
    return np.array(
        [left / width, top / height, (left + w) / width, (top + h) / height],
        dtype=np.float32)


def pixels_of(box: Sequence[float], height: int,
              width: int) -> Tuple[int, int, int, int]:
    """Inverse of :func:`box_of`: ``(offset_h, offset_w, target_h,
    target_w)`` on an image of this size (exact for any image under
    ~8 million pixels a side: float32 keeps 24 bits)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    left, top = round(x0 * width), round(y0 * height)
    right, bottom = round(x1 * width), round(y1 * height)
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise ValueError(f'box {tuple(box)} is not a crop of a '
                         f'{height}x{width} image')
    return top, left, bottom - top, right - left


@TRANSFORMS.register_module()
class ReplayResizedCrop(RandomResizedCrop):
    """Crop, resize and flip an image as a stored view says.

    In place of ``RandomResizedCrop`` + ``RandomFlip`` in a pipeline
    wrapped by :class:`~mmkd_plugin.datasets.PrecomputedViewDataset`, which
    puts the view in ``results['kd_view']`` (``box``: normalised
    ``(x0, y0, x1, y1)``, ``flip``). ``tools/precompute_logits.py`` samples
    the views with :meth:`sample_views` (``RandomResizedCrop``'s own
    sampler, seeded per image) and renders them with :meth:`render`, as
    this transform does, so the student sees the teacher's pixels. The
    parameters are part of the store's spec: a store made with others is
    refused.

    Args:
        scale, crop_ratio_range, aspect_ratio_range, max_attempts,
            interpolation, backend: as ``RandomResizedCrop``.
        flip_prob: probability that a sampled view is flipped horizontally.
    """

    def __init__(self,
                 scale: Union[Sequence, int],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2',
                 flip_prob: float = 0.5):
        super().__init__(scale, crop_ratio_range, aspect_ratio_range,
                         max_attempts, interpolation, backend)
        if not 0 <= flip_prob <= 1:
            raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob}')
        self.flip_prob = flip_prob

    def crop_spec(self) -> dict:
        """What a store records about its views."""
        return dict(
            scale=list(self.scale),
            crop_ratio_range=list(self.crop_ratio_range),
            aspect_ratio_range=list(self.aspect_ratio_range),
            max_attempts=self.max_attempts,
            interpolation=self.interpolation,
            backend=self.backend,
            flip_prob=self.flip_prob)

    def sample_views(self, shapes: Sequence[Tuple[int, int]], num_views: int,
                     seed: int,
                     indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """``num_views`` views of each image ``indices[i]`` (of size
        ``shapes[i]`` = (h, w)): boxes [I, N, 4] float32 and flips [I, N]
        uint8, drawn by ``RandomResizedCrop.rand_crop_params`` from NumPy's
        global generator seeded with ``(seed, index)`` per image (its state
        is restored after), so an image's views depend on nothing else."""
        boxes = np.empty((len(indices), num_views, 4), np.float32)
        flips = np.empty((len(indices), num_views), np.uint8)
        state = np.random.get_state()  # ~60 us: once for all the images
        try:
            for i, ((height, width), index) in enumerate(zip(shapes, indices)):
                blank = np.broadcast_to(np.uint8(0), (height, width))
                np.random.seed([seed, index])
                for v in range(num_views):
                    params = self.rand_crop_params(blank)
                    boxes[i, v] = box_of(params, height, width)
                    if pixels_of(boxes[i, v], height, width) != tuple(params):
                        raise ValueError(f'box {params} does not survive '
                                         'normalisation')
                    flips[i, v] = np.random.rand() < self.flip_prob
        finally:
            np.random.set_state(state)
        return boxes, flips

    def render(self, img: np.ndarray, box: Sequence[float],
               flip: bool) -> np.ndarray:
        """The view's pixels: ``img`` cropped to ``box``, resized to
        ``scale``, flipped horizontally if ``flip``."""
        top, left, h, w = pixels_of(box, *img.shape[:2])
        img = mmcv.imresize(
            img[top:top + h, left:left + w],  # = mmcv.imcrop of the box
            tuple(self.scale[::-1]),
            interpolation=self.interpolation,
            backend=self.backend)
        return mmcv.imflip(img, direction='horizontal') if flip else img

    def transform(self, results: dict) -> dict:
        view = results.get('kd_view')
        if view is None:
            raise KeyError('ReplayResizedCrop needs a stored view in '
                           "results['kd_view']: wrap the dataset in "
                           'PrecomputedViewDataset')
        flip = bool(view['flip'])
        img = self.render(results['img'], view['box'], flip)
        results.update(
            img=img,
            img_shape=img.shape[:2],
            flip=flip,
            flip_direction='horizontal' if flip else None)
        return results

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.crop_spec().items())
        return f'{type(self).__name__}({args})'
