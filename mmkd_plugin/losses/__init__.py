from .feature_loss import NormalizedFeatureLoss
from .kd_loss import KDLoss
from .relation_loss import RelationKDLoss

__all__ = ['KDLoss', 'NormalizedFeatureLoss', 'RelationKDLoss']
