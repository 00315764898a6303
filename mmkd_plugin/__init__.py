"""mmkd_plugin: knowledge distillation for ViTs as an MMPretrain plugin.

Importing the package registers every component in MMPretrain's
registries and allowlists the types MMEngine checkpoints hold, so that
``load_from`` and ``--resume`` work with torch's ``weights_only=True``.
"""
from .utils import register_safe_globals

register_safe_globals()

# registration happens on import; allowlisting must come first
# isort: off
from . import algorithms, datasets, engine, losses, models  # noqa: E402,F401
from . import evaluation, heads, teachers, utils  # noqa: E402,F401
# isort: on
from .version import __version__  # noqa: E402

__all__ = ['__version__']
