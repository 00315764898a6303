from .mi_classifier import MIRegularisedClassifier
from .mlp_reweight import ReweightedVisionTransformer, reweight_mlp
from .vit_taps import (block_qkv, check_blocks, check_vit, embed_tokens,
                       run_blocks)

__all__ = [
    'MIRegularisedClassifier', 'ReweightedVisionTransformer', 'reweight_mlp',
    'block_qkv', 'check_blocks', 'check_vit', 'embed_tokens', 'run_blocks'
]
