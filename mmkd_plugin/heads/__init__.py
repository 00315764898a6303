from .fusion_head import SpatialFusionHead, TokenFusionHead
from .multi_token_head import MultiTokenClsHead, in_token_order

__all__ = [
    'SpatialFusionHead', 'TokenFusionHead', 'MultiTokenClsHead',
    'in_token_order'
]
