"""Record where the teachers came from in every saved checkpoint."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class TeacherRecordHook(Hook):
    """Put each teacher's source path and sha256 in ``meta['teachers']``.

    Teacher weights are never saved with the student; this record is what
    ties a student checkpoint to the exact teacher that produced it.
    """

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        if hasattr(model, 'teacher_records'):
            checkpoint.setdefault('meta', {})['teachers'] = \
                model.teacher_records()
