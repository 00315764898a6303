"""SimpleFPN against its layers applied by hand; the downstream configs'
layer-wise LR decay against the numbers it must give."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.models import VisionTransformer

import mmkd_plugin  # noqa: F401

DOWNSTREAM = osp.join(ROOT, 'configs/downstream')
DET = sorted(glob.glob(osp.join(DOWNSTREAM, 'mmdet/*.py')))
SEG = sorted(glob.glob(osp.join(DOWNSTREAM, 'mmseg/*.py')))


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmdet')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ln2d(x, norm):
    """Channel LayerNorm of [B, C, H, W], by hand."""
    x = F.layer_norm(
        x.permute(0, 2, 3, 1), (x.shape[1], ), norm.weight, norm.bias, 1e-6)
    return x.permute(0, 3, 1, 2)


def test_levels_equal_their_layers_applied_by_hand():
    torch.manual_seed(0)
    fpn = MODELS.build(dict(type='SimpleFPN', in_channels=32, out_channels=8))
    with torch.no_grad():  # non-trivial norms and biases
        for p in fpn.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(2, 32, 6, 8)  # a 96 x 128 image at stride 16
    with torch.no_grad():
        outs = fpn((x, ))
    assert [o.shape[2:] for o in outs] == [(24, 32), (12, 16), (6, 8), (3, 4),
                                           (2, 2)]
    assert all(o.shape[:2] == (2, 8) for o in outs)

    def head(y, level):
        lateral, out = fpn.lateral_convs[level], fpn.fpn_convs[level]
        y = _ln2d(F.conv2d(y, lateral.conv.weight), lateral.norm)
        y = F.conv2d(y, out.conv.weight, padding=1)
        return _ln2d(y, out.norm)

    up1, norm, _, up2 = fpn.rescales[0]
    with torch.no_grad():
        y = F.conv_transpose2d(x, up1.weight, up1.bias, stride=2)
        y = F.gelu(_ln2d(y, norm))
        y = F.conv_transpose2d(y, up2.weight, up2.bias, stride=2)
        p2 = head(y, 0)
        p5 = head(F.max_pool2d(x, 2), 3)
    assert torch.allclose(outs[0], p2, atol=1e-5)
    assert torch.allclose(outs[3], p5, atol=1e-5)
    assert torch.equal(outs[4], p5[:, :, ::2, ::2])  # P6: stride-2 subsample


def test_stride_4_map_is_pooled_to_strides_4_to_32():
    """A 4x4-patch ViT's stride-4 map: factors (1, 0.5, 0.25, 0.125)."""
    torch.manual_seed(0)
    fpn = MODELS.build(
        dict(
            type='SimpleFPN',
            in_channels=16,
            out_channels=8,
            scale_factors=(1, 0.5, 0.25, 0.125)))
    with torch.no_grad():
        for p in fpn.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(2, 16, 16, 24)  # a 64 x 96 image at stride 4
    with torch.no_grad():
        outs = fpn((x, ))
    assert [o.shape[2:] for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3),
                                           (1, 2)]
    assert [lat.conv.in_channels for lat in fpn.lateral_convs] == [16] * 4
    for level, k in enumerate((1, 2, 4, 8)):
        lateral, out = fpn.lateral_convs[level], fpn.fpn_convs[level]
        with torch.no_grad():
            # a k x k max-pool by hand: the max over each k x k block
            y = x.unflatten(2, (-1, k)).unflatten(4, (-1, k))
            y = y.amax(dim=(3, 5))
            y = _ln2d(F.conv2d(y, lateral.conv.weight), lateral.norm)
            y = _ln2d(F.conv2d(y, out.conv.weight, padding=1), out.norm)
        assert torch.allclose(outs[level], y, atol=1e-5), level
    assert torch.equal(outs[4], outs[3][:, :, ::2, ::2])
    with pytest.raises(ValueError, match='scale factor 3'):
        MODELS.build(
            dict(
                type='SimpleFPN',
                in_channels=16,
                out_channels=8,
                scale_factors=(3, 1, 0.5, 0.25)))


def test_norm_is_configurable_and_one_map_is_required():
    fpn = MODELS.build(
        dict(
            type='SimpleFPN',
            in_channels=16,
            out_channels=8,
            num_outs=4,
            norm_cfg=dict(type='GN', num_groups=2)))
    assert isinstance(fpn.fpn_convs[0].norm, torch.nn.GroupNorm)
    x = torch.randn(1, 16, 4, 4)
    assert len(fpn((x, ))) == 4
    with pytest.raises(ValueError, match='last map only'):
        fpn((x, x))


def test_vit_t_config_decays_the_backbone_lr_by_depth():
    cfg = Config.fromfile(
        osp.join(DOWNSTREAM, 'mmdet/'
                 'mask-rcnn_vit-t16_simplefpn_8xb2-1x_coco.py'))
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {g['param_name']: g for g in wrapper.optimizer.param_groups}
    assert set(groups) == {n for n, _ in model.named_parameters()}
    # ViTDet's ViT-B settings: base lr 1e-4, decay 0.7 over 12 blocks;
    # block i gets 0.7 ** (12 - i), the embeddings 0.7 ** 13
    expected = {
        'backbone.layers.3.attn.qkv.weight': (1e-4 * 0.7**9, 0.1),
        'backbone.layers.11.ffn.layers.1.bias': (1e-4 * 0.7, 0.),
        'backbone.layers.0.ln1.weight': (1e-4 * 0.7**12, 0.),
        'backbone.patch_embed.projection.weight': (1e-4 * 0.7**13, 0.1),
        'backbone.pos_embed': (1e-4 * 0.7**13, 0.),
        'backbone.ln1.weight': (1e-4, 0.),
        'neck.lateral_convs.0.conv.weight': (1e-4, 0.1),
        'roi_head.mask_head.conv_logits.weight': (1e-4, 0.1),
    }
    for name, (lr, decay) in expected.items():
        assert groups[name]['lr'] == pytest.approx(lr, rel=1e-9), name
        assert groups[name]['weight_decay'] == pytest.approx(decay), name


def test_mmdet_configs_match_their_backbones():
    assert len(DET) == 3
    for path in DET:
        cfg = Config.fromfile(path)
        assert cfg.default_scope == 'mmdet'
        assert cfg.custom_imports.imports == [
            'mmkd_plugin', 'mmpretrain.models'
        ]
        backbone = cfg.model.backbone
        width = VisionTransformer.arch_zoo[backbone.arch]['embed_dims']
        assert cfg.model.neck.in_channels == width
        assert backbone.init_cfg.prefix == 'backbone.'
        assert backbone.init_cfg.checkpoint.endswith('_student_mmdet.pth')
        assert cfg.model.data_preprocessor.pad_size_divisor == 32
        assert cfg.model.roi_head.bbox_head.num_classes == 80  # COCO, as is


@pytest.mark.parametrize('path', SEG, ids=[osp.basename(p) for p in SEG])
def test_mmseg_configs_build_with_their_checkpoint(path):
    from mmseg.registry import MODELS as SEG_MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(path)
    assert cfg.model.pretrained.endswith('_student_mmseg.pth')
    width = cfg.model.backbone.embed_dims
    assert cfg.model.decode_head.in_channels == [width] * 4
    assert cfg.model.auxiliary_head.in_channels == width
    if 'vit-t16' in path:  # the small one also builds
        model = SEG_MODELS.build(cfg.model)
        assert model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint=cfg.model.pretrained)
        assert model.backbone.layers[0].attn.attn.embed_dim == 192
        assert model.backbone.layers[0].attn.attn.num_heads == 3
