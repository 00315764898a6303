from .frozen import FrozenTeacher, build_teacher
from .order import teachers_by_name

__all__ = ['FrozenTeacher', 'build_teacher', 'teachers_by_name']
