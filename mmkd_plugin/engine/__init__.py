from .teacher_record_hook import TeacherRecordHook

__all__ = ['TeacherRecordHook']
