from . import simple_fpn  # noqa: F401  registers in MMDetection's registries
from .mi_classifier import MIRegularisedClassifier
from .mlp_reweight import ReweightedVisionTransformer, reweight_mlp
from .multi_token_vit import MultiTokenViT
from .rednet import Involution, RedNet
from .regnety import RegNetY
from .soft_target_preprocessor import SoftTargetClsDataPreprocessor
from .vit_taps import (block_qkv, check_blocks, check_vit, embed_tokens,
                       run_blocks)

__all__ = [
    'MIRegularisedClassifier', 'ReweightedVisionTransformer', 'reweight_mlp',
    'block_qkv', 'check_blocks', 'check_vit', 'embed_tokens', 'run_blocks',
    'MultiTokenViT', 'SoftTargetClsDataPreprocessor', 'Involution', 'RedNet',
    'RegNetY'
]
