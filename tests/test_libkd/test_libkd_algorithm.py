"""Online LIB-KD: the losses against a computation from the parts, teachers
frozen and outside the student, fp32 teachers untouched by autocast."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import DATA_ROOT, ROOT
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS
from test_multi_token import _log_softmax, reference_loss

_BASE = Config.fromfile(
    osp.join(ROOT, 'configs/_base_/models/libkd_fashion_mnist.py'))
STUDENT = _BASE.libkd_student.to_dict()
STUDENT['backbone']['arch'] = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
STUDENT['head']['in_channels'] = 32
STUDENT['head']['kd_loss'] = dict(type='MultiTeacherKDLoss', tau=2.0)
TEACHERS = dict(
    resnet=_BASE.resnet_teacher.to_dict(),
    rednet=_BASE.rednet_teacher.to_dict())
PRE = dict(
    type='ClsDataPreprocessor', num_classes=10, mean=[72.94], std=[90.02])


@pytest.fixture(scope='module')
def parts(tmp_path_factory):
    init_default_scope('mmpretrain')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('libkd_online')
    ckpts = {}
    for seed, (name, cfg) in enumerate(TEACHERS.items()):
        torch.manual_seed(seed)
        model = MODELS.build(copy.deepcopy(cfg))
        model.init_weights()
        ckpts[name] = str(root / f'{name}.pth')
        torch.save(dict(state_dict=model.state_dict()), ckpts[name])
    data = DATASETS.build(
        dict(
            type='FashionMNIST',
            data_root=DATA_ROOT,
            test_mode=True,
            download=False,
            indices=6,
            pipeline=[dict(type='PackInputs')]))
    from mmengine.dataset import pseudo_collate
    batch = pseudo_collate([data[i] for i in range(6)])
    yield ckpts, batch
    torch.set_num_threads(threads)


def _build(ckpts, **kwargs):
    torch.manual_seed(3)
    model = MODELS.build(
        dict(
            type='LIBKD',
            student=copy.deepcopy(STUDENT),
            teachers={
                name:
                dict(
                    type='FrozenTeacher',
                    model=copy.deepcopy(TEACHERS[name]),
                    checkpoint=ckpts[name])
                for name in ckpts  # in the order given
            },
            data_preprocessor=PRE,
            **kwargs))
    model.init_weights()
    with torch.no_grad():  # mmpretrain zero-initialises tokens and pos
        for p in model.student.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_losses_equal_computation_from_parts(parts):
    ckpts, batch = parts
    model = _build(ckpts)
    data = model.data_preprocessor(copy.deepcopy(batch), training=True)
    x, samples = data['inputs'], data['data_samples']
    losses = model(x, samples, mode='loss')
    # apart: teachers as plain MMPretrain classifiers loaded from the
    # files, the student's tokens through its backbone, heads by hand
    teacher_logits = []
    for name, cfg in sorted(TEACHERS.items()):  # tokens follow the names
        teacher = MODELS.build(copy.deepcopy(cfg))
        teacher.load_state_dict(torch.load(ckpts[name])['state_dict'])
        teacher.eval()
        with torch.no_grad():
            teacher_logits.append(teacher(x).numpy())
    teacher_logits = np.stack(teacher_logits, 1)  # [B, 2, 10]
    with torch.no_grad():
        tokens = model.student.backbone(x)[-1].double().numpy()
    logits = np.stack([
        tokens[:, i] @ h.weight.detach().double().numpy().T +
        h.bias.detach().double().numpy()
        for i, h in enumerate(model.student.head.heads)
    ], 1)  # [B, 3, 10]
    labels = np.array([int(s.gt_label) for s in samples])
    ce = -_log_softmax(logits[:, 0])[np.arange(6), labels].mean()
    kd = reference_loss(logits[:, 1:], teacher_logits, 2.0, np.ones(2),
                        'logits')
    assert sorted(losses) == ['loss_cls', 'loss_kd']
    assert losses['loss_cls'].item() == pytest.approx(ce, rel=1e-5)
    assert losses['loss_kd'].item() == pytest.approx(kd, rel=1e-4)


def test_train_step_moves_student_only(parts):
    ckpts, batch = parts
    model = _build(ckpts)
    teachers = {
        n: copy.deepcopy(t.state_dict())
        for n, t in model.teachers.items()
    }
    assert not any(k.startswith('teacher') for k in model.state_dict())
    before = copy.deepcopy(model.student.state_dict())
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    losses = model.train_step(copy.deepcopy(batch), wrapper)
    assert set(losses) == {'loss', 'loss_cls', 'loss_kd'}
    after = model.student.state_dict()
    for key in ('backbone.dist_token', 'head.heads.1.weight',
                'head.heads.2.weight', 'head.heads.0.weight'):
        assert not torch.equal(before[key], after[key]), key
    for name, teacher in model.teachers.items():
        for key, value in teacher.state_dict().items():
            assert torch.equal(value, teachers[name][key]), key


def test_fp32_teachers_ignore_autocast(parts):
    ckpts, batch = parts
    model = _build(ckpts, fp32_teachers=['rednet'])
    x = model.data_preprocessor(copy.deepcopy(batch))['inputs']
    plain = model.teacher_logits(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = model.teacher_logits(x)
    assert mixed.dtype == torch.float32
    # tokens by teacher name: rednet (involution, fp32) first
    assert torch.equal(mixed[:, 0], plain[:, 0])
    assert not torch.equal(mixed[:, 1], plain[:, 1])  # resnet: bf16


def test_tokens_follow_teacher_names_not_config_order(parts, tmp_path):
    """A config written back by MMEngine (keys sorted) gives every token
    the teacher it had: the order is the names', whatever the config's."""
    ckpts, batch = parts
    model = _build(ckpts)
    assert list(TEACHERS) == ['resnet', 'rednet']
    assert list(model.teachers) == ['rednet', 'resnet']
    assert list(ckpts) == ['resnet', 'rednet']
    Config(dict(teachers=ckpts)).dump(str(tmp_path / 'cfg.py'))
    back = Config.fromfile(str(tmp_path / 'cfg.py')).teachers
    assert list(back) == ['rednet', 'resnet']  # what MMEngine does
    model_back = _build(dict(back))
    x = model.data_preprocessor(copy.deepcopy(batch))['inputs']
    assert torch.equal(model.teacher_logits(x), model_back.teacher_logits(x))


def test_token_count_must_match_teachers(parts):
    ckpts, _ = parts
    student = copy.deepcopy(STUDENT)
    student['backbone']['num_dist_tokens'] = 1
    student['head']['num_dist_tokens'] = 1
    with pytest.raises(
            ValueError, match='one distillation token per '
            r'teacher \(2\)'):
        MODELS.build(
            dict(
                type='LIBKD',
                student=student,
                teachers={
                    n:
                    dict(
                        type='FrozenTeacher',
                        model=TEACHERS[n],
                        checkpoint=ckpts[n])
                    for n in TEACHERS
                }))
    with pytest.raises(ValueError, match=r"\['inv'\] are not teachers"):
        _build(ckpts, fp32_teachers=['inv'])
