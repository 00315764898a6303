from .base import BaseDistiller
from .logit_kd import LogitKD

__all__ = ['BaseDistiller', 'LogitKD']
