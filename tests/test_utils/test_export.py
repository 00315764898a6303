"""Student export for MMSegmentation / MMDetection / MMPretrain: the target
library's own backbone, loaded through its own code, computes what the
student computes."""
import pytest
import torch
from conftest import run_tool
from mmengine.registry import init_default_scope
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmseg.models.backbones import VisionTransformer as SegViT

import mmkd_plugin  # noqa: F401
from mmkd_plugin.utils import CheckpointError, save_checkpoint
from mmkd_plugin.utils.export import export_vit, verify_loads

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmpretrain')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _student(img_size=28, patch_size=4, final_norm=False, **kwargs):
    """A seeded student ViT with non-zero biases and position embedding
    (no final norm by default, as the ADE20K ViT configs have it)."""
    torch.manual_seed(0)
    vit = VisionTransformer(
        arch=ARCH,
        img_size=img_size,
        patch_size=patch_size,
        in_channels=1,
        out_type='featmap',
        out_indices=(0, 1),
        final_norm=final_norm,
        **kwargs)
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    vit.eval()
    return vit


def _seg_vit(path):
    """MMSegmentation's ViT as its ADE20K configs have it (no final norm,
    no patch bias), at 224 px, loading ``path`` as ``pretrained``."""
    vit = SegViT(
        img_size=224,
        patch_size=4,
        in_channels=1,
        embed_dims=32,
        num_layers=2,
        num_heads=2,
        mlp_ratio=2,
        out_indices=(0, 1),
        norm_cfg=dict(type='LN', eps=1e-6),
        init_cfg=dict(type='Pretrained', checkpoint=path))
    vit.init_weights()
    vit.eval()
    return vit


def test_mmseg_export_computes_what_the_student_computes(tmp_path):
    student = _student()  # 28 px: a 7 x 7 grid
    weights = {'backbone.' + k: v for k, v in student.state_dict().items()}
    weights['head.fc.weight'] = torch.zeros(10, 32)
    state, dropped = export_vit(weights, 'mmseg')
    assert dropped == ['head.fc.weight']
    # the 224-px grid (56 x 56), patch bias folded into the patch rows
    folded = student.pos_embed.detach().clone()
    folded[:, 1:] += student.patch_embed.projection.bias.detach()
    expected = resize_pos_embed(folded, (7, 7), (56, 56))
    assert torch.allclose(state['pos_embed'], expected)
    assert 'patch_embed.projection.bias' not in state
    assert torch.equal(state['layers.1.attn.attn.in_proj_weight'],
                       student.layers[1].attn.qkv.weight)
    path = str(tmp_path / 'seg.pth')
    save_checkpoint(dict(state_dict=state), path)
    assert verify_loads(path, state, 'mmseg') == len(state)
    seg = _seg_vit(path)
    # a 224-px image: the student resizes its own 7 x 7 embedding on the fly
    x = torch.rand(2, 1, 224, 224)
    with torch.no_grad():
        ours, theirs = student(x), seg(x)
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape == (2, 32, 56, 56)
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_mmpretrain_export_loads_with_the_backbone_prefix(tmp_path):
    student = _student(img_size=224, patch_size=16)
    weights = {'backbone.' + k: v for k, v in student.state_dict().items()}
    state, dropped = export_vit(weights, 'mmdet')
    assert dropped == [] and set(state) == set(weights)
    assert torch.equal(state['backbone.pos_embed'], student.pos_embed)
    path = str(tmp_path / 'det.pth')
    save_checkpoint(dict(state_dict=state), path)
    assert verify_loads(path, state, 'mmdet') == len(state)


def test_extra_tokens_are_dropped_with_their_positions():
    student = _student()
    vit = dict(student.state_dict())
    dist = torch.randn(1, 2, 32)  # two distillation tokens after CLS
    pos = vit['pos_embed']
    vit['pos_embed'] = torch.cat(
        [pos[:, :1], torch.randn(1, 2, 32), pos[:, 1:]], 1)
    vit['dist_token'] = dist
    state, dropped = export_vit(vit, 'mmpretrain')
    assert 'dist_token' in dropped and 'backbone.dist_token' not in state
    assert torch.allclose(state['backbone.pos_embed'],
                          resize_pos_embed(pos, (7, 7), (56, 56)))


@pytest.mark.parametrize('kwargs, message',
                         [(dict(layer_scale_init_value=0.1), 'layer scale'),
                          (dict(with_cls_token=False), 'no cls_token')])
def test_inexpressible_students_are_refused(kwargs, message):
    vit = _student(**kwargs).state_dict()
    with pytest.raises(CheckpointError, match=message):
        export_vit(vit, 'mmseg')


def test_verify_catches_a_tensor_that_did_not_land(tmp_path):
    state, _ = export_vit(_student().state_dict(), 'mmseg')
    path = str(tmp_path / 'seg.pth')
    save_checkpoint(dict(state_dict=state), path)
    wrong = dict(state)
    wrong['layers.0.ln1.weight'] = wrong['layers.0.ln1.weight'] + 1
    with pytest.raises(CheckpointError, match='different.*layers.0.ln1'):
        verify_loads(path, wrong, 'mmseg')
    del state['layers.1.ln2.bias']
    save_checkpoint(dict(state_dict=state), path)
    with pytest.raises(CheckpointError, match='not in the file.*ln2.bias'):
        verify_loads(path, state, 'mmseg')


def test_tool_exports_a_distillation_checkpoint_and_refuses_others(tmp_path):
    student = _student(final_norm=True)
    ckpt = tmp_path / 'distill.pth'
    weights = {
        'student.backbone.' + k: v
        for k, v in student.state_dict().items()
    }
    save_checkpoint(dict(state_dict=weights, meta=dict(epoch=2)), str(ckpt))
    out = tmp_path / 'seg.pth'
    res = run_tool('tools/extract_student.py', str(ckpt), str(out), '--format',
                   'mmseg')
    assert res.returncode == 0, res.stderr[-2000:]
    n = len(
        SegViT(
            patch_size=4,
            in_channels=1,
            embed_dims=32,
            num_heads=2,
            num_layers=2,
            mlp_ratio=2).state_dict())
    assert f'loads all {n} tensors; left out: ln1' in res.stdout, res.stdout
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['format'] == 'mmseg'
    assert set(saved['state_dict']) == set(
        export_vit({
            k[len('student.'):]: v
            for k, v in weights.items()
        }, 'mmseg')[0])
    # an optimiser-only file: no student, no backbone; nothing written
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'fc.weight': torch.zeros(2, 2)}), other)
    bad = tmp_path / 'bad.pth'
    res = run_tool('tools/extract_student.py', str(other), str(bad),
                   '--format', 'mmdet')
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith(
        'extract_student.py: error: ')
    assert not bad.exists() and not (tmp_path / 'bad.pth.tmp').exists()
