"""TinyMIM: relations equal independent computations from full models (via
forward hooks), last_heads regroups the same weights, the student's last
block is never run, the views and the export are right, training learns."""
import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.dataset import default_collate
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS, TRANSFORMS

from mmkd_plugin.algorithms import TinyMIM
from mmkd_plugin.losses import RelationKDLoss
from mmkd_plugin.models.vit_taps import block_qkv, embed_tokens, run_blocks
from mmkd_plugin.utils import save_checkpoint

ROOT = Path(__file__).parents[2]
MMLogger.get_current_instance().setLevel('WARNING')


def _vit(dims, layers, heads, type='VisionTransformer', img=16, patch=4):
    cfg = dict(
        type=type,
        arch=dict(
            embed_dims=dims,
            num_layers=layers,
            num_heads=heads,
            feedforward_channels=2 * dims),
        img_size=img,
        patch_size=patch)
    if type == 'MAEViT':
        cfg['patch_cfg'] = dict(in_channels=1)
    else:
        cfg['in_channels'] = 1
    return cfg


TEACHER = _vit(32, 3, 4, type='MAEViT')  # d_h 8
STUDENT = _vit(24, 2, 3)  # d_h 8; last_heads 4 -> 6
PRE = dict(mean=[100.], std=[50.], to_rgb=False)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny models: one thread is faster than two on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomise(model, seed):
    """Seeded non-trivial weights (cls_token, pos_embed start at 0)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.fixture(scope='module')
def source_teacher():
    model = _randomise(MODELS.build(copy.deepcopy(TEACHER)), 100)
    model.eval()
    return model


@pytest.fixture(scope='module')
def teacher_ckpt(source_teacher, tmp_path_factory):
    """An MMPretrain MAE-style checkpoint: the encoder under backbone."""
    path = tmp_path_factory.mktemp('tinymim') / 'mae.pth'
    state = {
        f'backbone.{k}': v
        for k, v in source_teacher.state_dict().items()
    }
    state['neck.decoder_embed.weight'] = torch.zeros(2, 2)
    torch.save(dict(state_dict=state), path)
    return str(path)


def _build(teacher_ckpt, student=STUDENT, seed=0, **kwargs):
    torch.manual_seed(seed)
    teacher = dict(
        type='FrozenTeacher',
        model=copy.deepcopy(TEACHER),
        checkpoint=teacher_ckpt,
        prefix='backbone.')
    kwargs.setdefault('data_preprocessor', PRE)
    model = TinyMIM(copy.deepcopy(student), teacher, **kwargs)
    _randomise(model.student, seed + 1)
    return model.train()


def _images(seed, batch=3, size=16):
    return torch.randn(
        batch, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _capture(module):
    """Forward hook storing the module's output in the returned list."""
    out = []
    module.register_forward_hook(lambda m, i, o: out.append(o.detach()))
    return out


def _split(qkv_out, heads):
    """qkv projection output [B, N, 3D] -> q, k, v [B, heads, N, D/heads]:
    each head a contiguous slice of the D channels."""
    B, N, three_d = qkv_out.shape
    d = three_d // 3
    return tuple(qkv_out[..., i * d:(i + 1) *
                         d].reshape(B, N, heads, -1).transpose(1, 2)
                 for i in range(3))


def test_relation_is_zero_when_student_is_teacher(teacher_ckpt,
                                                  source_teacher):
    same = _vit(32, 3, 4)  # the teacher's architecture as a student
    model = _build(teacher_ckpt, student=same)
    model.student.load_state_dict(source_teacher.state_dict())
    x = _images(0)
    assert abs(model.loss(x)['loss_relation'].item()) < 1e-6
    # different views: a positive loss
    assert model.loss([x, 1.5 * x])['loss_relation'].item() > 1e-3


@pytest.mark.parametrize('block', [0, 1, 2])
def test_teacher_relation_equals_full_model(teacher_ckpt, source_teacher,
                                            block):
    model = _build(teacher_ckpt, teacher_block=block)
    vit = model.teacher.vit
    assert len(vit.layers) == block + 1 and not vit.final_norm
    full = copy.deepcopy(source_teacher)  # untruncated, all 3 blocks
    ln_in = []
    full.layers[block].ln1.register_forward_hook(
        lambda m, i, o: ln_in.append(i[0].detach()))
    qkv_out = _capture(full.layers[block].attn.qkv)
    x = _images(1)
    with torch.no_grad():
        full(x, mask=None)  # the full forward: every block, final norm
    expected = _split(qkv_out[0], heads=4)
    got = model.teacher.qkv(x, block)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if block > 0:  # the input of the pre-attention norm: block b-1's output
        before = model.teacher.block_outputs(x, [block - 1])[0]
        torch.testing.assert_close(before, ln_in[0], rtol=1e-5, atol=1e-5)


def test_loss_equals_relations_from_full_models(teacher_ckpt, source_teacher):
    model = _build(teacher_ckpt, teacher_block=1, last_heads=4)
    clean, jittered = _images(2), _images(3)
    t_out = _capture(source_teacher.layers[1].attn.qkv)
    student = copy.deepcopy(model.student)
    s_out = _capture(student.layers[-1].attn.qkv)
    with torch.no_grad():
        source_teacher(clean, mask=None)
        student(jittered)  # the student's own full forward
    expected = RelationKDLoss()(_split(s_out[0], heads=4),
                                _split(t_out[0], heads=4))
    got = model.loss([clean, jittered])['loss_relation']
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() > 1e-3


def test_last_heads_regroups_the_same_qkv(teacher_ckpt):
    model = _build(teacher_ckpt, last_heads=4)
    x = _images(4)
    out = _capture(model.student.layers[-1].attn.qkv)
    model.eval()
    with torch.no_grad():
        model.student(x)
        q, k, v = model.student_qkv(x)  # [B, 4, N, 6]
    assert q.shape == (3, 4, 17, 6)
    for got, expected in zip((q, k, v), _split(out[0], heads=4)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the block's own 3 heads of 8 are the same channels, grouped apart
    own = _split(out[0], heads=3)
    merge = lambda t: t.transpose(1, 2).flatten(2)  # noqa: E731
    torch.testing.assert_close(merge(q), merge(own[0]))
    assert not torch.allclose(q[:, 1], own[0][:, 1, :, :6])


def test_student_last_block_never_runs_nor_learns(teacher_ckpt):
    model = _build(teacher_ckpt)
    last = model.student.layers[-1]
    called = []
    for m in (last.attn.proj, last.ln2, last.ffn, model.student.ln1):
        m.register_forward_hook(lambda m, i, o: called.append(m))
    model.loss([_images(5), _images(6)])['loss_relation'].backward()
    assert not called
    for m in (last.attn.proj, last.ln2, last.ffn, model.student.ln1):
        for p in m.parameters():
            assert p.grad is None and not p.requires_grad
    for p in (last.attn.qkv.weight, last.ln1.weight,
              model.student.layers[0].ffn.layers[1].weight,
              model.student.patch_embed.projection.weight,
              model.student.pos_embed, model.student.cls_token):
        assert p.requires_grad and p.grad.abs().sum() > 0
    assert not {id(p)
                for p in model.parameters()
                } & {id(p)
                     for p in model.teacher.parameters()}


def test_views_go_to_the_right_model(teacher_ckpt):
    model = _build(teacher_ckpt)
    seen = {}
    teacher_qkv = model.teacher.qkv

    def spy(x, block):
        seen['t'] = x
        return teacher_qkv(x, block)

    model.teacher.qkv = spy
    model.student.patch_embed.register_forward_pre_hook(
        lambda m, i: seen.update(s=i[0]))
    clean, jittered = _images(7), _images(8)
    model.loss([clean, jittered])
    assert seen['t'] is clean and seen['s'] is jittered


@pytest.mark.parametrize('target,name', [('feature', 'loss_feature'),
                                         ('cls', 'loss_cls_token')])
def test_feature_targets(teacher_ckpt, source_teacher, target, name):
    model = _build(teacher_ckpt, teacher_block=1, target=target)
    clean, jittered = _images(9), _images(10)
    t_out = _capture(source_teacher.layers[1])
    student = copy.deepcopy(model.student)
    s_out = _capture(student.layers[-1])
    with torch.no_grad():
        source_teacher(clean, mask=None)
        student(jittered)
        pred, tgt = model.proj(s_out[0]), t_out[0]
    if target == 'cls':
        pred, tgt = pred[:, :1], tgt[:, :1]
    # NormalizedFeatureLoss: mean |unit(student) - unit(teacher)| per token
    expected = (F.normalize(pred, dim=-1) -
                F.normalize(tgt, dim=-1)).abs().mean()
    loss = model.loss([clean, jittered])[name]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    last = model.student.layers[-1]
    assert last.ffn.layers[1].weight.grad.abs().sum() > 0
    assert model.student.ln1.weight.grad is None


def test_bad_configs_are_errors(teacher_ckpt):
    with pytest.raises(IndexError, match=r'blocks 0\.\.2'):
        _build(teacher_ckpt, teacher_block=3)
    with pytest.raises(
            ValueError, match='does not divide the student '
            'width 24'):
        _build(teacher_ckpt, last_heads=5)
    with pytest.raises(ValueError, match='patch grid'):
        _build(teacher_ckpt, student=_vit(24, 2, 3, patch=8))
    with pytest.raises(ValueError, match='target must be one of'):
        _build(teacher_ckpt, target='logits')
    model = _build(teacher_ckpt)
    with pytest.raises(ValueError, match='views'):
        model.loss([_images(0)] * 3)
    with pytest.raises(RuntimeError, match='fine-tune'):
        model(_images(0), mode='predict')


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exported_student_is_a_classifier_backbone(teacher_ckpt, tmp_path):
    """extract_student: backbone. keys that a ViT classifier with the
    normal head count loads exactly (last_heads only regroups)."""
    model = _build(teacher_ckpt, last_heads=4, seed=3)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), ckpt)
    tool = _tool('extract_student')
    exported = tool.extract(str(ckpt))
    assert all(k.startswith('backbone.') for k in exported['state_dict'])
    path = tmp_path / 'student.pth'
    save_checkpoint(exported, str(path))
    backbone = dict(
        copy.deepcopy(STUDENT),  # 3 heads, as the distilled student
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    classifier = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            head=dict(
                type='VisionTransformerClsHead',
                num_classes=10,
                in_channels=24)))
    classifier.init_weights()
    classifier.eval()
    model.eval()
    x = _images(11)
    with torch.no_grad():
        assert torch.equal(classifier.extract_feat(x)[0], model.student(x)[0])
        vit = classifier.backbone  # relations regrouped from its weights
        tokens = run_blocks(vit, embed_tokens(vit, x), [0])[0]
        regrouped = block_qkv(vit.layers[1], tokens, num_heads=4)
        for a, b in zip(regrouped, model.student_qkv(x)):
            assert torch.equal(a, b)


def _pipeline(*transforms):
    return Compose([TRANSFORMS.build(t) for t in transforms])


def _digits(n, scale=1):
    """n sklearn digits as uint8 [8 * scale, 8 * scale] images."""
    from sklearn.datasets import load_digits
    images = (load_digits().images[:n] * 255 / 16).astype(np.uint8)
    return np.kron(images, np.ones((1, scale, scale), np.uint8))


CROP = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]


@pytest.mark.parametrize('seed', range(4))
def test_transform_shares_the_crop_and_jitters_only_the_student(seed):
    img = _digits(seed + 1, scale=4)[seed]  # [32, 32] grey
    np.random.seed(seed)
    views = _pipeline(*CROP, dict(type='TwoViewColorJitter'))(
        dict(img=img.copy()))['img']
    np.random.seed(seed)
    crop = _pipeline(*CROP)(dict(img=img.copy()))['img']  # [28, 28]
    clean, jittered = views
    assert np.array_equal(clean, crop)
    assert jittered.shape == crop.shape and jittered.dtype == np.uint8
    assert not np.array_equal(jittered, crop)
    # photometric only: an affine map of the same pixels (up to rounding)
    x, y = crop.ravel().astype(float), jittered.ravel().astype(float)
    inside = (y > 0) & (y < 255)
    slope, offset = np.polyfit(x[inside], y[inside], 1)
    assert np.abs(slope * x[inside] + offset - y[inside]).max() <= 2.0


@pytest.mark.parametrize('shape', [(12, 12), (12, 12, 1), (12, 12, 3)])
def test_transform_keeps_the_image_layout(shape):
    img = np.random.RandomState(0).randint(0, 256, shape).astype(np.uint8)
    np.random.seed(1)
    clean, jittered = _pipeline(dict(type='TwoViewColorJitter'))(
        dict(img=img.copy()))['img']
    assert np.array_equal(clean, img)
    assert jittered.shape == shape and not np.array_equal(jittered, img)


def test_views_reach_the_model_as_two_batches(teacher_ckpt):
    """PackInputs -> default_collate -> SelfSupDataPreprocessor."""
    pack = _pipeline(dict(type='TwoViewColorJitter'), dict(type='PackInputs'))
    np.random.seed(0)
    batch = default_collate(
        [pack(dict(img=img)) for img in _digits(4, scale=2)])
    model = _build(teacher_ckpt)
    inputs = model.data_preprocessor(batch, True)['inputs']
    assert len(inputs) == 2 and inputs[0].shape == (4, 1, 16, 16)
    expected = (torch.from_numpy(_digits(4, scale=2)).float() - 100) / 50
    torch.testing.assert_close(inputs[0][:, 0], expected)
    assert not torch.allclose(inputs[1], inputs[0])
    assert torch.isfinite(model.loss(inputs)['loss_relation'])


def _digit_views(n=256):
    """sklearn digits [8, 8] -> (clean, jittered) [n, 1, 8, 8] uint8."""
    images = _digits(n)
    np.random.seed(0)
    jitter = _pipeline(
        dict(type='TwoViewColorJitter', brightness=0.4, contrast=0.4),
        dict(type='PackInputs'))
    packed = [jitter(dict(img=img))['inputs'] for img in images]
    return default_collate(packed)  # [clean, jittered], [n, 1, 8, 8] each


def test_short_training_on_digits_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    teacher = _randomise(
        MODELS.build(_vit(32, 3, 4, type='MAEViT', img=8, patch=2)), 1)
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), path)
    model = TinyMIM(
        _vit(24, 2, 3, img=8, patch=2),
        dict(
            type='FrozenTeacher',
            model=_vit(32, 3, 4, 'MAEViT', 8, 2),
            checkpoint=str(path)),
        data_preprocessor=dict(mean=[60.], std=[90.], to_rgb=False))
    model.init_weights()
    model.train()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    clean, jittered = _digit_views()
    losses = []
    for step in range(40):
        i = torch.arange(64) + 64 * (step % 4)
        data = dict(inputs=[clean[i], jittered[i]], data_samples=None)
        losses.append(model.train_step(data, optim)['loss'].item())
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.3 * first, losses
