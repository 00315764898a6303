from .fusion_head import SpatialFusionHead, TokenFusionHead
from .multi_token_head import MultiTokenClsHead

__all__ = ['SpatialFusionHead', 'TokenFusionHead', 'MultiTokenClsHead']
