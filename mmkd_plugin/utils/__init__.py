from .checkpoint import (CheckpointError, load_checkpoint_file,
                         load_weights_strict, mmengine_safe_globals,
                         register_safe_globals, save_checkpoint, sha256sum,
                         state_dict_of)
from .convert import LAYOUTS, TARGETS, convert_checkpoint, detect_layout

__all__ = [
    'CheckpointError', 'load_checkpoint_file', 'load_weights_strict',
    'save_checkpoint', 'mmengine_safe_globals', 'register_safe_globals',
    'sha256sum', 'state_dict_of', 'LAYOUTS', 'TARGETS', 'convert_checkpoint',
    'detect_layout'
]
