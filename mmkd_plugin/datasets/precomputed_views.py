"""LIB-KD's offline mode: stored teacher labels per view (FKD, Shen & Xing,
ECCV 2022) ride with the images, so training runs no teacher."""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import RandomFlip
from mmpretrain.datasets.transforms import RandomCrop, RandomResizedCrop
from mmpretrain.registry import DATASETS

from mmkd_plugin.losses import topk_to_probs
from mmkd_plugin.teachers import teachers_by_name
from mmkd_plugin.utils import sha256sum
from .logit_store import LogitStore, dataset_fingerprint
from .view_replay import ReplayResizedCrop

_GEOMETRIC = (RandomResizedCrop, RandomCrop, RandomFlip)


def find_replay(dataset) -> int:
    """Position of the one :class:`ReplayResizedCrop` in the dataset's
    pipeline; no other random crop or flip may be there (the student's
    view would no longer be the teacher's)."""
    steps = dataset.pipeline.transforms
    found = [i for i, t in enumerate(steps) if type(t) is ReplayResizedCrop]
    other = [
        type(t).__name__ for t in steps
        if isinstance(t, _GEOMETRIC) and type(t) is not ReplayResizedCrop
    ]
    if len(found) != 1 or other:
        raise ValueError(
            'a pipeline replaying stored views needs exactly one '
            f'ReplayResizedCrop (found {len(found)}) and no other random '
            f'crop or flip (found {other})')
    return found[0]


def store_spec(dataset, teachers: Dict[str, dict], num_views: int, topk: int,
               seed: int) -> dict:
    """What a store for this dataset, these teachers and this config holds
    (see :mod:`~mmkd_plugin.datasets.logit_store`); teachers in token
    order (:func:`~mmkd_plugin.teachers.teachers_by_name`)."""
    replay = dataset.pipeline.transforms[find_replay(dataset)]
    teachers = teachers_by_name(teachers)
    classes = {
        name: cfg['model'].get('head', {}).get('num_classes')
        for name, cfg in teachers.items()
    }
    if len(set(classes.values())) != 1 or None in classes.values():
        raise ValueError(f'teachers must share one head.num_classes, got '
                         f'{classes}')
    if not 1 <= topk <= min(classes.values()):
        raise ValueError(f'topk must be in [1, num_classes], got {topk}')
    return dict(
        dataset=dataset_fingerprint(dataset),
        teachers=[
            dict(
                name=name,
                sha256=sha256sum(cfg['checkpoint'])
                if cfg.get('checkpoint') else None)
            for name, cfg in teachers.items()
        ],
        num_classes=next(iter(classes.values())),
        num_views=num_views,
        topk=topk,
        seed=seed,
        crop=replay.crop_spec())


def with_subset(dataset: Union[dict, object],
                indices: Optional[Union[int, Sequence[int]]] = None):
    """The wrapped dataset (config) with the wrapper's ``indices``, as both
    the wrapper and ``tools/precompute_logits.py`` build it."""
    if indices is None:
        return dataset
    if not isinstance(dataset, dict):
        raise ValueError('indices needs the dataset as a config')
    return dict(dataset, indices=indices)


@DATASETS.register_module()
class PrecomputedViewDataset:
    """A dataset whose items carry stored teacher labels of a stored view.

    Each item picks one of the image's ``num_views`` stored views at
    random, puts it in ``results['kd_view']`` for the pipeline's
    :class:`~mmkd_plugin.datasets.ReplayResizedCrop` (and its index in the
    data sample's ``kd_view`` meta), and sets the data sample's
    ``teacher_scores``: ``[T, C]`` float32 probabilities (each
    teacher's top-k, the rest of the mass spread uniformly), teachers in
    token order (by name:
    :func:`~mmkd_plugin.teachers.teachers_by_name`). A store that does not
    match the dataset, the teachers' checkpoints or this config is refused
    (the error lists what differs).

    Args:
        dataset: config (or instance) of an MMPretrain dataset whose
            pipeline holds a ``ReplayResizedCrop``.
        store: folder written by ``tools/precompute_logits.py``.
        teachers: name -> teacher config (``FrozenTeacher``), as the tool
            ran them; their checkpoints' sha256 must match the store's.
        num_views, topk, seed: as the tool ran with.
        verify: ``'sha256'`` (check every shard's checksum when opening)
            or ``'size'``.
        indices: a subset, given to the wrapped ``dataset`` config (as
            MMEngine's ``BaseDataset`` takes it), so the options that take
            a subset of a plain dataset take one of a wrapped one too.
    """

    def __init__(self,
                 dataset: Union[dict, object],
                 store: str,
                 teachers: Dict[str, dict],
                 num_views: int,
                 topk: int = 5,
                 seed: int = 0,
                 verify: str = 'sha256',
                 indices: Optional[Union[int, Sequence[int]]] = None):
        dataset = with_subset(dataset, indices)
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if hasattr(dataset, 'full_init'):  # MMEngine's lazy init
            dataset.full_init()
        self.dataset = dataset
        self.spec = store_spec(dataset, dict(teachers), num_views, topk, seed)
        self.store = LogitStore(store, self.spec, verify)
        self.num_views = num_views
        self.num_classes = self.spec['num_classes']

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        rec = self.store.record(idx)
        view = np.random.randint(self.num_views)
        info = self.dataset.get_data_info(idx)
        info['kd_view'] = dict(
            index=view,
            box=np.array(rec['boxes'][view]),
            flip=bool(rec['flips'][view]))
        out = self.dataset.pipeline(info)
        out['data_samples'].set_metainfo(dict(kd_view=view))
        labels = torch.from_numpy(rec['labels'][:, view].astype(np.int64))
        probs = torch.from_numpy(rec['probs'][:, view].astype(np.float32))
        out['data_samples'].set_field(
            topk_to_probs(labels, probs, self.num_classes), 'teacher_scores')
        return out

    def __getattr__(self, name: str):
        if name == 'dataset':  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)
