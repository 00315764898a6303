from .base import BaseDistiller
from .dmae import DMAE
from .logit_kd import LogitKD
from .tinymim import TinyMIM

__all__ = ['BaseDistiller', 'DMAE', 'LogitKD', 'TinyMIM']
