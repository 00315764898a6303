from .logit_store import (LogitStore, LogitStoreError, StoreWriter,
                          dataset_fingerprint, record_dtype)
from .long_tail import LongTailDataset, long_tail_indices
from .precomputed_views import (PrecomputedViewDataset, find_replay,
                                store_spec, with_subset)
from .transforms import TwoViewColorJitter
from .view_replay import ReplayResizedCrop, box_of, pixels_of

__all__ = [
    'LongTailDataset', 'TwoViewColorJitter', 'long_tail_indices', 'LogitStore',
    'LogitStoreError', 'StoreWriter', 'dataset_fingerprint', 'record_dtype',
    'PrecomputedViewDataset', 'find_replay', 'store_spec', 'with_subset',
    'ReplayResizedCrop', 'box_of', 'pixels_of'
]
