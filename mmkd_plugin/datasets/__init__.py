from .long_tail import LongTailDataset, long_tail_indices
from .transforms import TwoViewColorJitter

__all__ = ['LongTailDataset', 'TwoViewColorJitter', 'long_tail_indices']
