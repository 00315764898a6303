from .vit_taps import (block_qkv, check_blocks, check_vit, embed_tokens,
                       run_blocks)

__all__ = [
    'block_qkv', 'check_blocks', 'check_vit', 'embed_tokens', 'run_blocks'
]
