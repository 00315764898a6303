"""A student and frozen teachers, wired for MMEngine's runner."""
from typing import Dict, List, Optional

import torch
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.teachers import FrozenTeacher, build_teacher


class BaseDistiller(BaseModel):
    """Holds a student classifier and named frozen teachers.

    Teachers live outside the module tree (not children), so they are not
    in ``parameters()`` (optimiser, DDP) nor in ``state_dict()`` (saved
    checkpoints), and ``init_weights()`` never touches them; ``_apply``
    still moves them with the model (``.to``, ``.cuda``, ``.half``).
    ``mode='predict'`` and ``'tensor'`` are the student's.

    Args:
        student: config of an MMPretrain classifier.
        teachers: name -> :class:`FrozenTeacher` config.
        data_preprocessor: shared by student and teachers; teachers with
            their own mean/std convert from its normalisation.
    """

    def __init__(self,
                 student: dict,
                 teachers: Dict[str, dict],
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'mmpretrain.ClsDataPreprocessor')
        super().__init__(data_preprocessor, init_cfg)
        student = dict(student)
        student.pop('data_preprocessor', None)
        self.student = MODELS.build(student)
        if not teachers:
            raise ValueError('a distiller needs at least one teacher')
        built = {name: build_teacher(cfg) for name, cfg in teachers.items()}
        pre = self.data_preprocessor
        for teacher in built.values():
            teacher.set_input_space(
                getattr(pre, 'mean', None), getattr(pre, 'std', None))
        object.__setattr__(self, 'teachers', built)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for teacher in self.teachers.values():
            teacher._apply(fn, recurse)
        return self

    @property
    def teacher(self) -> FrozenTeacher:
        """The only teacher of a single-teacher method."""
        if len(self.teachers) != 1:
            raise AttributeError(
                f'{len(self.teachers)} teachers: use .teachers[name]')
        return next(iter(self.teachers.values()))

    def teacher_records(self) -> Dict[str, dict]:
        """Where each teacher came from, for the checkpoint meta."""
        return {name: t.record for name, t in self.teachers.items()}

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError
