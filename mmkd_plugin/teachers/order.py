"""The order of named teachers, which every per-teacher position follows
(LIB-KD's distillation tokens and stored labels, DMT's fusion weights,
adapters and projectors)."""
from typing import Dict, TypeVar

T = TypeVar('T')


def teachers_by_name(teachers: Dict[str, T]) -> Dict[str, T]:
    """``teachers`` sorted by name, not as written.

    MMEngine sorts dict keys when it writes a config back
    (``Config.dump``: the copy a run leaves in its ``work_dir``, which
    ``--resume`` and ``tools/test.py`` reuse), so an order taken as written
    would change with the dump and pair each per-teacher position (a
    token, a weight in a list, an adapter, a checkpoint tensor) with
    another teacher, silently. Lists keep their order in a dump.
    """
    return dict(sorted(teachers.items()))
