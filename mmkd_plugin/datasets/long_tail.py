"""ReMem ("Mutual Information-Aware Fine-tuning of Pretrained ViTs for
Effective KD") on highly imbalanced downstream sets: a long-tailed subset
of a labelled dataset, as in the CIFAR-LT protocol (Cui et al., CVPR 2019)."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmpretrain.registry import DATASETS


def long_tail_indices(labels: Sequence[int],
                      imbalance_ratio: float,
                      max_per_class: Optional[int] = None) -> List[int]:
    """Indices keeping ``n_c = floor(n_max * ratio^(-c / (C - 1)))`` images
    of the c-th class (classes in sorted order, the first images of each in
    dataset order), returned in dataset order.

    Args:
        labels: [N] class of each image.
        imbalance_ratio: n_max / n_min, >= 1.
        max_per_class: n_max; default the smallest class count.
    """
    if not imbalance_ratio >= 1:
        raise ValueError(f'imbalance_ratio must be >= 1, got '
                         f'{imbalance_ratio}')
    labels = np.asarray(labels)
    classes = np.unique(labels)
    rows = [np.flatnonzero(labels == c) for c in classes]
    n_max = max_per_class or min(len(r) for r in rows)
    if n_max > min(len(r) for r in rows):
        raise ValueError(f'max_per_class={n_max} exceeds the smallest class '
                         f'({min(len(r) for r in rows)} images)')
    steps = max(len(classes) - 1, 1)
    keep = [
        r[:max(1, int(n_max * imbalance_ratio**(-c / steps)))]
        for c, r in enumerate(rows)
    ]
    return sorted(int(i) for i in np.concatenate(keep))


@DATASETS.register_module()
class LongTailDataset:
    """A long-tailed subset of ``dataset`` (see :func:`long_tail_indices`);
    everything else (pipeline, metainfo, ``get_gt_labels``...) is the
    wrapped dataset's.

    Args:
        dataset: config (or instance) of an MMPretrain dataset.
        imbalance_ratio: images of the largest over the smallest class.
        max_per_class: images of the largest class.
        indices: then keep only these (an int: the first ones) of the
            long-tailed subset, as ``BaseDataset``'s ``indices`` does.
    """

    def __init__(self,
                 dataset: Union[dict, object],
                 imbalance_ratio: float = 100.,
                 max_per_class: Optional[int] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        keep = long_tail_indices(dataset.get_gt_labels(), imbalance_ratio,
                                 max_per_class)
        if isinstance(indices, int):
            keep = keep[:indices]
        elif indices is not None:
            keep = [keep[i] for i in indices]
        self.dataset = dataset.get_subset(keep)
        self.imbalance_ratio = imbalance_ratio

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[idx]

    def __getattr__(self, name: str):
        if name == 'dataset':  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)
