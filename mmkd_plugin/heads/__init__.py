from .fusion_head import SpatialFusionHead, TokenFusionHead

__all__ = ['SpatialFusionHead', 'TokenFusionHead']
