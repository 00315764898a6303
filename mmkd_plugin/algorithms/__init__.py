from .base import BaseDistiller
from .dmae import DMAE
from .dmt import DMT
from .libkd import LIBKD
from .logit_kd import LogitKD
from .tinymim import TinyMIM

__all__ = ['BaseDistiller', 'DMAE', 'DMT', 'LIBKD', 'LogitKD', 'TinyMIM']
