from .feature_loss import NormalizedFeatureLoss
from .kd_loss import KDLoss
from .mi_loss import MILoss
from .multi_teacher_kd_loss import MultiTeacherKDLoss, topk_to_probs
from .relation_loss import RelationKDLoss
from .smooth_l1_loss import SmoothL1FeatureLoss

__all__ = [
    'KDLoss', 'MILoss', 'NormalizedFeatureLoss', 'RelationKDLoss',
    'SmoothL1FeatureLoss', 'MultiTeacherKDLoss', 'topk_to_probs'
]
