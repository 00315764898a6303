from .base import BaseDistiller
from .dmae import DMAE
from .dmt import DMT
from .logit_kd import LogitKD
from .tinymim import TinyMIM

__all__ = ['BaseDistiller', 'DMAE', 'DMT', 'LogitKD', 'TinyMIM']
