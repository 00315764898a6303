from .sam_optim_wrapper import AmpSAMOptimWrapper, SAMOptimWrapper
from .teacher_record_hook import TeacherRecordHook

__all__ = ['AmpSAMOptimWrapper', 'SAMOptimWrapper', 'TeacherRecordHook']
