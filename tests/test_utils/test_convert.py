"""Official ViT checkpoints (MAE, DeiT / timm, DINO, MMPretrain) and timm
RegNets (DeiT's RegNetY-16GF teacher) load into MMPretrain models, every key
landing, outputs equal to the source model.

The ViT layouts are made here from seeded MMPretrain models by a reverse
mapping written in this file, and checked against a timm ViT forward
written here from timm's definition; the RegNet ones are timm's own model,
names and forward.
"""
import copy
import hashlib
import importlib.util
import os.path as osp
import re

import pytest
import timm
import torch
import torch.nn.functional as F
from conftest import ROOT
from mmpretrain.registry import MODELS

import mmkd_plugin  # noqa: F401  registers the models
from mmkd_plugin.models.vit_taps import embed_tokens, run_blocks
from mmkd_plugin.teachers import FrozenTeacher, build_teacher
from mmkd_plugin.utils import (CheckpointError, convert_checkpoint,
                               detect_layout, load_weights_strict)

HEADS, DEPTH = 4, 4
ARCH = dict(
    embed_dims=64, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=256)
RAW_VIT = dict(
    type='VisionTransformer',
    arch=ARCH,
    img_size=32,
    patch_size=8,
    out_type='raw')
MAE_VIT = dict(type='MAEViT', arch=ARCH, img_size=32, patch_size=8)
MAE = dict(
    type='MAE',
    backbone=MAE_VIT,
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=16,
        patch_size=8,
        in_chans=3,
        embed_dim=64,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=4),
    head=dict(
        type='MAEPretrainHead',
        patch_size=8,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))
DECODER = {
    'mask_token': (1, 1, 32),
    'decoder_embed.weight': (32, 64),
    'decoder_pos_embed': (1, 17, 32),
    'decoder_blocks.0.norm1.weight': (32, ),
    'decoder_norm.weight': (32, ),
    'decoder_pred.weight': (192, 32),
}


def _classifier(pool: str = 'token', distilled: bool = False) -> dict:
    backbone = dict(RAW_VIT, out_type='cls_token')
    head = dict(
        type='VisionTransformerClsHead', num_classes=10, in_channels=64)
    if pool == 'avg':  # timm's global pool: no final norm, fc_norm
        backbone.update(out_type='avg_featmap', final_norm=False)
    if distilled:
        backbone['type'], head['type'] = 'DistilledVisionTransformer', \
            'DeiTClsHead'
    return dict(type='ImageClassifier', backbone=backbone, head=head)


def _seeded(cfg: dict, seed: int) -> torch.nn.Module:
    """The model with every weight seeded and non-trivial (mmpretrain
    zero-initialises cls_token, pos_embed and heads)."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    model.eval()
    return model


# the official layouts, from MMPretrain names (independent of the converter)
def to_timm(backbone: dict) -> dict:
    """Unprefixed MMPretrain ViT keys -> timm / MAE / DeiT names."""
    out = {}
    for key, value in backbone.items():
        key = re.sub(r'^layers\.', 'blocks.', key)
        key = key.replace('patch_embed.projection.', 'patch_embed.proj.')
        key = key.replace('.ffn.layers.0.0.', '.mlp.fc1.')
        key = key.replace('.ffn.layers.1.', '.mlp.fc2.')
        key = key.replace('.ln1.', '.norm1.').replace('.ln2.', '.norm2.')
        key = re.sub(r'^ln1\.', 'norm.', key)
        key = re.sub(r'^ln2\.', 'fc_norm.', key)
        out[key] = value.clone()
    return out


def to_timm_classifier(state: dict) -> dict:
    """MMPretrain ImageClassifier keys -> a timm / DeiT classifier's."""
    out = to_timm({
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    })
    for key, value in state.items():
        if key.startswith('head.layers.'):
            out[key[len('head.layers.'):]] = value.clone()
    return out


def _ln(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[f'{name}.weight'],
                        sd[f'{name}.bias'], 1e-6)


def _linear(x: torch.Tensor, sd: dict, name: str) -> torch.Tensor:
    return F.linear(x, sd[f'{name}.weight'], sd[f'{name}.bias'])


def timm_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """timm's ViT on timm-named weights: tokens after the final norm
    [B, N, D], or logits [B, classes] when ``sd`` has a head."""
    w = sd['patch_embed.proj.weight']
    x = F.conv2d(x, w, sd['patch_embed.proj.bias'], stride=w.shape[-1])
    x = x.flatten(2).transpose(1, 2)  # [B, L, D]
    prefix = [
        sd[k].expand(len(x), -1, -1) for k in ('cls_token', 'dist_token')
        if k in sd
    ]
    x = torch.cat(prefix + [x], dim=1) + sd['pos_embed']  # [B, N, D]
    B, N, D = x.shape
    for i in range(DEPTH):
        b = f'blocks.{i}.'
        qkv = _linear(_ln(x, sd, b + 'norm1'), sd, b + 'attn.qkv')
        q, k, v = qkv.reshape(B, N, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
        attn = (q * (D // HEADS)**-0.5) @ k.transpose(-2, -1)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, D)
        x = x + _linear(out, sd, b + 'attn.proj')
        hidden = F.gelu(_linear(_ln(x, sd, b + 'norm2'), sd, b + 'mlp.fc1'))
        x = x + _linear(hidden, sd, b + 'mlp.fc2')
    if 'norm.weight' in sd:
        x = _ln(x, sd, 'norm')
    if 'head.weight' not in sd:
        return x
    if 'head_dist.weight' in sd:  # DeiT distilled, at inference
        return (_linear(x[:, 0], sd, 'head') +
                _linear(x[:, 1], sd, 'head_dist')) / 2
    if 'fc_norm.weight' in sd:  # global average pool over patches
        return _linear(_ln(x[:, 1:].mean(1), sd, 'fc_norm'), sd, 'head')
    return _linear(x[:, 0], sd, 'head')


@pytest.fixture(scope='module')
def x():
    return torch.randn(
        2, 3, 32, 32, generator=torch.Generator().manual_seed(9))


def _save(obj: dict, path) -> str:
    torch.save(obj, path)
    return str(path)


def _assert_same(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def _taps(vit: torch.nn.Module, x: torch.Tensor) -> tuple:
    """Raw block outputs 1 and 3 of an MMPretrain ViT."""
    with torch.no_grad():
        return run_blocks(vit, embed_tokens(vit, x), [1, DEPTH - 1])


def _assert_taps_equal(teacher: FrozenTeacher, source: torch.nn.Module,
                       x: torch.Tensor) -> None:
    got = teacher.block_outputs(x, [1, DEPTH - 1])
    for a, b in zip(got, _taps(source, x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('pool', ['token', 'avg'])
def test_round_trip_every_key(pool):
    source = _seeded(_classifier(pool), seed=1)
    state = source.state_dict()
    official = to_timm_classifier(state)
    assert detect_layout(official) == 'timm'
    assert detect_layout({'model': official}) == 'timm'
    assert ('fc_norm.weight' in official) == (pool == 'avg')
    got, dropped = convert_checkpoint({'model': official}, target='classifier')
    _assert_same(got, state)
    assert dropped == []
    backbone = {k[9:]: v for k, v in state.items() if k[:9] == 'backbone.'}
    got, dropped = convert_checkpoint(official, 'timm', target='backbone')
    _assert_same(got, backbone)
    assert dropped == ['head.bias', 'head.weight']
    # MMPretrain names pass through
    assert detect_layout(state) == 'mmpretrain'
    _assert_same(convert_checkpoint(state, target='classifier')[0], state)
    _assert_same(convert_checkpoint(state)[0], backbone)
    _assert_same(convert_checkpoint(backbone)[0], backbone)


@pytest.mark.parametrize('pool', ['token', 'avg'])
def test_deit_classifier_logits(pool, x, tmp_path):
    """A DeiT / timm classifier file -> a classifier teacher whose logits
    equal the source's, and timm's forward written here."""
    source = _seeded(_classifier(pool), seed=2)
    official = to_timm_classifier(source.state_dict())
    path = _save({'model': official, 'epoch': 299}, tmp_path / 'deit.pth')
    teacher = FrozenTeacher(_classifier(pool), path, layout='auto')
    assert teacher.record['layout'] == 'timm'
    assert teacher.record['dropped'] == []
    with torch.no_grad():
        expected = source(x, mode='tensor')  # [B, 10]
        reference = timm_forward(official, x)
    got = teacher.logits(x)
    assert torch.equal(got, expected)
    # explicit softmax here, F.scaled_dot_product_attention in MMPretrain:
    # float32 rounding only (measured <= 1.2e-6 on outputs of size ~3)
    assert (got - reference).abs().max() < 1e-5
    assert expected.std() > 1e-2
    # the same file as a bare backbone: the classifier head is reported
    vit_cfg = _classifier(pool)['backbone']
    backbone = FrozenTeacher(vit_cfg, path, layout='timm')
    assert backbone.record['dropped'] == ['head.bias', 'head.weight']
    _assert_taps_equal(backbone, source.backbone, x)


def test_distilled_deit_needs_a_distilled_target(x, tmp_path):
    source = _seeded(_classifier(distilled=True), seed=3)
    official = to_timm_classifier(source.state_dict())
    assert {'dist_token', 'head_dist.weight'} <= set(official)
    path = _save({'model': official}, tmp_path / 'deit_distilled.pth')
    with pytest.raises(CheckpointError, match='dist_token'):
        convert_checkpoint(official, target='classifier')
    with pytest.raises(CheckpointError, match='deit_distilled.pth'):
        FrozenTeacher(_classifier(), path, layout='auto')
    teacher = FrozenTeacher(_classifier(distilled=True), path, layout='auto')
    with torch.no_grad():
        expected = source(x, mode='tensor')
    got = teacher.logits(x)
    assert torch.equal(got, expected)
    assert (got - timm_forward(official, x)).abs().max() < 1e-5


@pytest.fixture(scope='module')
def mae_file(tmp_path_factory):
    """MAE's ``mae_pretrain_vit_*.pth`` layout, with decoder keys."""
    source = _seeded(MAE_VIT, seed=4)
    official = to_timm(source.state_dict())
    g = torch.Generator().manual_seed(5)
    for key, shape in DECODER.items():
        official[key] = torch.randn(shape, generator=g)
    path = tmp_path_factory.mktemp('mae') / 'mae_pretrain_vit_tiny.pth'
    return source, official, _save({'model': official}, path)


def test_mae_pretrain_decoder_dropped(mae_file, x):
    source, official, path = mae_file
    assert detect_layout(official) == 'timm'
    weights, dropped = convert_checkpoint({'model': official})
    assert dropped == sorted(DECODER)
    assert not any('decoder' in k or 'mask' in k for k in weights)
    teacher = FrozenTeacher(MAE_VIT, path, layout='auto')
    assert teacher.record['layout'] == 'timm'
    assert teacher.record['dropped'] == sorted(DECODER)
    _assert_taps_equal(teacher, source, x)
    # the final norm too, against timm's forward on the encoder weights
    encoder = {k: v for k, v in official.items() if k not in DECODER}
    with torch.no_grad():
        tokens = teacher.vit.ln1(teacher.block_outputs(x, [DEPTH - 1])[0])
        reference = timm_forward(encoder, x)  # [B, 17, 64]
    assert (tokens - reference).abs().max() < 1e-5
    # an unknown official key is refused, by name, never skipped
    extra = dict(official, **{'blocks.0.ls1.gamma': torch.ones(64)})
    with pytest.raises(CheckpointError, match=r'blocks\.0\.ls1\.gamma'):
        convert_checkpoint(extra)


@pytest.mark.parametrize('prefix', ['backbone.', 'module.backbone.'])
def test_dino_full_checkpoint(prefix, x, tmp_path):
    """``{'teacher', 'student'}`` with prefixes and a DINO head: the
    teacher's backbone by default, the head dropped and reported."""
    nets = {'teacher': _seeded(RAW_VIT, 6), 'student': _seeded(RAW_VIT, 7)}
    g = torch.Generator().manual_seed(8)
    dino_head = {
        'head.mlp.0.weight': torch.randn(128, 64, generator=g),
        'head.mlp.0.bias': torch.randn(128, generator=g),
        'head.last_layer.weight_g': torch.ones(1, 32),
        'head.last_layer.weight_v': torch.randn(32, 128, generator=g),
    }
    ckpt = {'epoch': 100}
    for name, net in nets.items():
        pre = prefix if name == 'teacher' else 'module.backbone.'
        entry = {pre + k: v for k, v in to_timm(net.state_dict()).items()}
        entry.update({
            pre[:-len('backbone.')] + k: v
            for k, v in dino_head.items()
        })
        ckpt[name] = entry
    assert detect_layout(ckpt) == 'dino-full'
    assert detect_layout(ckpt['student']) == 'dino'
    path = _save(ckpt, tmp_path / 'checkpoint.pth')
    teacher = FrozenTeacher(RAW_VIT, path, layout='auto')
    assert teacher.record['layout'] == 'dino-full'
    head_keys = sorted(prefix[:-len('backbone.')] + k for k in dino_head)
    assert teacher.record['dropped'] == head_keys
    _assert_taps_equal(teacher, nets['teacher'], x)
    got, _ = convert_checkpoint(ckpt, entry='student')
    _assert_same(got, nets['student'].state_dict())
    with pytest.raises(CheckpointError, match="no 'ema' entry"):
        convert_checkpoint(ckpt, entry='ema')


def test_mmpretrain_classifier_and_backbone(x, tmp_path):
    source = _seeded(_classifier(), seed=10)
    state = source.state_dict()
    ckpt = dict(state_dict=state, meta=dict(epoch=3))
    path = _save(ckpt, tmp_path / 'epoch_3.pth')
    teacher = FrozenTeacher(_classifier(), path, layout='auto')
    assert teacher.record['layout'] == 'mmpretrain'
    with torch.no_grad():
        assert torch.equal(teacher.logits(x), source(x, mode='tensor'))
    backbone = FrozenTeacher(RAW_VIT, path, layout='auto')
    assert backbone.record['dropped'] == [
        'head.layers.head.bias', 'head.layers.head.weight'
    ]
    _assert_taps_equal(backbone, source.backbone, x)
    bare = _save(source.backbone.state_dict(), tmp_path / 'bare.pth')
    teacher = FrozenTeacher(RAW_VIT, bare, layout='auto')
    assert teacher.record['dropped'] == []
    _assert_taps_equal(teacher, source.backbone, x)


def test_mmpretrain_selfsup_mae(x, tmp_path):
    source = _seeded(MAE, seed=11)
    state = source.state_dict()
    assert detect_layout(state) == 'mmpretrain-selfsup'
    path = _save({'state_dict': state}, tmp_path / 'mae_selfsup.pth')
    teacher = FrozenTeacher(MAE_VIT, path, layout='auto')
    assert teacher.record['layout'] == 'mmpretrain-selfsup'
    neck = sorted(k for k in state if not k.startswith('backbone.'))
    assert neck and all(k.startswith('neck.') for k in neck)
    assert teacher.record['dropped'] == neck
    _assert_taps_equal(teacher, source.backbone, x)
    with pytest.raises(CheckpointError, match='no classification head'):
        convert_checkpoint(state, target='classifier')


def test_unknown_layout_is_refused(tmp_path):
    resnet = {
        'conv1.weight': torch.zeros(8, 3, 3, 3),
        'bn1.weight': torch.ones(8),
        'fc.weight': torch.zeros(10, 8),
    }
    with pytest.raises(CheckpointError, match='unknown checkpoint layout') \
            as err:
        detect_layout(resnet)
    assert 'conv1.weight' in str(err.value)
    with pytest.raises(CheckpointError, match='conv1.weight'):
        convert_checkpoint({'state_dict': resnet})
    path = _save(resnet, tmp_path / 'resnet.pth')
    with pytest.raises(CheckpointError, match='resnet.pth'):
        FrozenTeacher(RAW_VIT, path, layout='auto')
    with pytest.raises(CheckpointError, match="layout 'mae'"):
        convert_checkpoint(resnet, layout='mae')
    with pytest.raises(ValueError, match='prefix'):
        FrozenTeacher(RAW_VIT, path, prefix='student.', layout='auto')


@pytest.fixture(scope='module')
def tool():
    path = osp.join(ROOT, 'tools', 'convert_teacher.py')
    spec = importlib.util.spec_from_file_location('convert_teacher', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_writes_converted_weights(tool, mae_file, x, tmp_path, capsys):
    source, _, src = mae_file
    out = tmp_path / 'out' / 'mae_vit.pth'
    tool.main([src, str(out)])
    line = capsys.readouterr().out
    assert 'timm -> backbone' in line and '6 keys dropped' in line
    assert str(out) in line
    saved = torch.load(out, map_location='cpu', weights_only=True)
    with open(src, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert saved['meta'] == dict(
        source=src,
        source_sha256=digest,
        layout='timm',
        target='backbone',
        dropped=sorted(DECODER))
    _assert_same(saved['state_dict'], source.state_dict())
    # the default strict loader reads it as it is
    _assert_taps_equal(FrozenTeacher(MAE_VIT, str(out)), source, x)
    assert sorted(p.name for p in out.parent.iterdir()) == ['mae_vit.pth']


@pytest.mark.parametrize('bad', ['unknown', 'garbage', 'missing'])
def test_tool_writes_nothing_on_error(tool, bad, tmp_path):
    src = tmp_path / 'src.pth'
    if bad == 'unknown':
        torch.save({'fc.weight': torch.zeros(2, 2)}, src)
    elif bad == 'garbage':
        src.write_bytes(b'not a checkpoint')
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    with pytest.raises(SystemExit) as exc:
        tool.main([str(src), str(out_dir / 'converted.pth')])
    message = str(exc.value.code)
    assert message.startswith('convert_teacher.py: error:')
    assert '\n' not in message and str(src) in message
    assert list(out_dir.iterdir()) == []


# timm's RegNet (DeiT's RegNetY-16GF teacher, ``regnety_160-a5fe301d.pth``):
# timm's own model, its own names and forward
TIMM_SMALL, ARCH_SMALL, WIDTH_SMALL = 'regnety_004', 'regnety_400mf', 440
one_thread = pytest.mark.usefixtures('one_thread_mmpretrain')


def _regnety(arch: str, width: int, classes: int = 10) -> dict:
    return dict(
        type='ImageClassifier',
        backbone=dict(type='RegNetY', arch=arch),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead', num_classes=classes, in_channels=width))


@pytest.fixture(scope='module')
def photos() -> torch.Tensor:
    """Four real photos (scikit-image), 128 px, ImageNet-normalised,
    [4, 3, 128, 128]."""
    from skimage import data
    images = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    x = torch.cat([
        F.interpolate(
            torch.from_numpy(img).permute(2, 0, 1)[None].float(),
            size=(128, 128),
            mode='bilinear',
            antialias=True) for img in images
    ])
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope='module')
def timm_regnety(tmp_path_factory):
    """timm's RegNetY-400MF, 10 classes, every BN's statistics and affine
    parameters random (timm starts them at 0 / 1 and zeroes each block's
    last BN weight), SE and head biases too; eval mode. Saved bare and as
    DeiT's teacher file is (``{'model': state_dict}``)."""
    torch.manual_seed(12)
    model = timm.create_model(TIMM_SMALL, pretrained=False, num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(31250)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and \
                    m.bias is not None:
                m.bias.normal_(0, 0.1)
    model.eval()
    state = model.state_dict()
    root = tmp_path_factory.mktemp('timm_regnet')
    paths = dict(
        bare=_save(state, root / 'regnety_004.pth'),
        deit=_save({'model': state}, root / 'regnety_004-deit.pth'))
    return model, state, paths


def test_timm_regnet_layout_every_key(timm_regnety):
    _, state, _ = timm_regnety
    assert 'stem.conv.weight' in state and 's1.b1.se.fc1.weight' in state
    module = {f'module.{k}': v for k, v in state.items()}  # DDP
    for ckpt in (state, {'model': state}, {'model': module}):
        assert detect_layout(ckpt) == 'timm-regnet'
    got, dropped = convert_checkpoint({'model': state}, target='classifier')
    own = MODELS.build(_regnety(ARCH_SMALL, WIDTH_SMALL)).state_dict()
    assert sorted(got) == sorted(own) and dropped == []
    assert all(got[k].shape == own[k].shape for k in own)
    # every source tensor lands once, unchanged
    assert sorted(id(v) for v in got.values()) == sorted(
        id(v) for v in state.values())
    assert torch.equal(got['backbone.layer2.0.se.conv1.conv.bias'],
                       state['s2.b1.se.fc1.bias'])
    assert torch.equal(got['backbone.layer4.5.bn3.running_var'],
                       state['s4.b6.conv3.bn.running_var'])
    backbone, dropped = convert_checkpoint(state, 'timm-regnet')
    assert dropped == ['head.fc.bias', 'head.fc.weight']
    assert sorted(backbone) == sorted(k[len('backbone.'):] for k in own
                                      if k.startswith('backbone.'))


@one_thread
@pytest.mark.parametrize('file,layout', [('bare', 'auto'), ('deit', 'auto'),
                                         ('deit', 'timm-regnet')])
def test_timm_regnet_teacher_logits(timm_regnety, photos, file, layout):
    """The timm file itself as a LIB-KD teacher's checkpoint: logits equal
    timm's own forward on real photos."""
    model, _, paths = timm_regnety
    teacher = build_teacher(
        dict(
            type='FrozenTeacher',
            model=_regnety(ARCH_SMALL, WIDTH_SMALL),
            checkpoint=paths[file],
            layout=layout))
    assert teacher.record['layout'] == 'timm-regnet'
    assert teacher.record['dropped'] == []
    with torch.no_grad():
        expected = model(photos)  # [4, 10]
    got = teacher.logits(photos)
    # the same layers in the same order: measured 0.0
    assert (got - expected).abs().max() < 1e-5
    assert expected.std(0).mean() > 0.1  # the photos' logits differ


@one_thread
def test_tool_converts_timm_regnet(tool, timm_regnety, photos, tmp_path,
                                   capsys):
    model, _, paths = timm_regnety
    out = str(tmp_path / 'regnety_400mf.pth')
    tool.main([paths['deit'], out, '--target', 'classifier'])
    line = capsys.readouterr().out
    assert 'timm-regnet -> classifier' in line and '0 keys dropped' in line
    saved = torch.load(out, map_location='cpu', weights_only=True)
    assert saved['meta']['layout'] == 'timm-regnet'
    assert detect_layout(saved) == 'mmpretrain'
    with torch.no_grad():
        expected = model(photos)
    for layout in ('mmpretrain', 'auto'):  # as written, or detected
        teacher = FrozenTeacher(
            _regnety(ARCH_SMALL, WIDTH_SMALL), out, layout=layout)
        assert (teacher.logits(photos) - expected).abs().max() < 1e-5
    # a bare backbone: the head is dropped and reported
    bare = str(tmp_path / 'regnety_400mf_backbone.pth')
    tool.main([paths['bare'], bare])
    assert '2 keys dropped [head.fc.bias, head.fc.weight]' in \
        capsys.readouterr().out
    FrozenTeacher(dict(type='RegNetY', arch=ARCH_SMALL), bare)


def test_timm_regnety_160_loads_strictly():
    """DeiT's teacher, timm's ``regnety_160``, into the plugin's
    ``regnety_16gf`` classifier: every key and shape (on the meta device:
    names and shapes only, no 84 M values)."""
    with torch.device('meta'):
        source = timm.create_model('regnety_160', pretrained=False)
        target = MODELS.build(_regnety('regnety_16gf', 3024, 1000))
    assert round(sum(p.numel() for p in source.parameters()) / 1e6, 1) == 83.6
    weights, dropped = convert_checkpoint({'model': source.state_dict()},
                                          target='classifier')
    assert dropped == []
    load_weights_strict(target, weights, 'regnety_160')
    assert target.backbone.stage_widths == [224, 448, 1232, 3024]


def test_mismatched_regnet_refused(timm_regnety):
    _, state, paths = timm_regnety

    def teacher(cfg, layout='auto'):
        return FrozenTeacher(cfg, paths['deit'], layout=layout)

    # another RegNetY arch: its stages, and the file, are named
    with pytest.raises(CheckpointError) as err:
        teacher(_regnety('regnety_800mf', 768))
    message = str(err.value)
    assert 'regnety_004-deit.pth' in message
    assert 'stages (blocks x width): 1x48 3x104 6x208 6x440 in the ' \
        'checkpoint, 1x64 3x128 8x320 2x768 in the model' in message
    with pytest.raises(
            CheckpointError,
            match=r'head\.fc\.weight: \(10, 440\) vs \(1000, 440'):
        teacher(_regnety(ARCH_SMALL, WIDTH_SMALL, classes=1000))
    with pytest.raises(CheckpointError, match='does not fit Vision'):
        teacher(RAW_VIT)
    # ViT names asked of a RegNet file, and a timm key the table lacks
    with pytest.raises(CheckpointError, match=r'no MMPretrain name: \[stem'):
        teacher(_regnety(ARCH_SMALL, WIDTH_SMALL), layout='timm')
    extra = dict(state, **{'final_conv.conv.weight': torch.ones(8, 440)})
    with pytest.raises(CheckpointError, match=r'final_conv\.conv\.weight'):
        convert_checkpoint(extra)
