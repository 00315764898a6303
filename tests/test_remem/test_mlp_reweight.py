"""MLP reweighting: alpha = 1 is the plain ViT bit for bit, alpha = 0.5
equals a block-by-block computation, alpha lives in checkpoints."""
import copy

import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from mmkd_plugin.models import ReweightedVisionTransformer, reweight_mlp
from mmkd_plugin.teachers import FrozenTeacher
from mmkd_plugin.utils import load_checkpoint_file, load_weights_strict

ARCH = dict(embed_dims=16, num_layers=4, num_heads=2, feedforward_channels=32)
VIT = dict(arch=ARCH, img_size=8, patch_size=4, in_channels=1)

pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _pair(alpha, seed=0, **kwargs):
    """A plain ViT and a reweighted one holding the same weights."""
    torch.manual_seed(seed)
    plain = VisionTransformer(**VIT, **kwargs)
    plain.init_weights()
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(0.1 * torch.randn_like(p))
    rw = ReweightedVisionTransformer(**VIT, mlp_alpha=alpha, **kwargs)
    missing, unexpected = rw.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected
    assert sorted(missing) == [
        'layers.2.ffn.gamma2.alpha', 'layers.3.ffn.gamma2.alpha'
    ]  # top_k = 2 by default
    plain.eval()
    rw.eval()
    return plain, rw


def _images(seed=1):
    return torch.randn(
        3, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('layer_scale', [0.0, 0.1])
def test_alpha_one_is_bit_identical(layer_scale):
    plain, rw = _pair(1.0, layer_scale_init_value=layer_scale)
    x = _images()
    assert torch.equal(rw(x)[0], plain(x)[0])
    # the layer scale (if any) keeps its key
    assert set(rw.state_dict()) - set(plain.state_dict()) == {
        'layers.2.ffn.gamma2.alpha', 'layers.3.ffn.gamma2.alpha'
    }


def test_alpha_half_equals_blockwise_computation():
    plain, rw = _pair(0.5)
    x = _images()
    with torch.no_grad():
        tokens, _ = plain.patch_embed(x)  # [B, L, D]
        cls = plain.cls_token.expand(x.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], 1) + plain.pos_embed
        for i, layer in enumerate(plain.layers):
            tokens = tokens + layer.attn(layer.ln1(tokens))
            mlp = layer.ffn.layers(layer.ln2(tokens))  # [B, 1 + L, D]
            tokens = tokens + (0.5 if i >= 2 else 1.0) * mlp
        want = plain.ln1(tokens)[:, 0]  # final norm, CLS
        got = rw(x)[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, plain(x)[0])


def test_reweighted_checkpoint_round_trip(tmp_path):
    """A checkpoint restores alpha (into a model configured otherwise, and
    into a frozen teacher), and the outputs match."""
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(
            type='ReweightedVisionTransformer',
            mlp_alpha=0.5,
            mlp_blocks=[1, 3],
            **VIT),
        head=dict(
            type='VisionTransformerClsHead', num_classes=3, in_channels=16))
    torch.manual_seed(0)
    source = MODELS.build(copy.deepcopy(cfg))
    source.eval()
    path = str(tmp_path / 'rw.pth')
    torch.save(dict(state_dict=source.state_dict(), meta=dict()), path)
    other = copy.deepcopy(cfg)
    other['backbone']['mlp_alpha'] = 1.0
    torch.manual_seed(1)
    restored = MODELS.build(other)
    load_weights_strict(restored,
                        load_checkpoint_file(path)['state_dict'], path)
    restored.eval()
    alphas = [
        float(restored.backbone.layers[i].ffn.gamma2.alpha) for i in (1, 3)
    ]
    assert alphas == [0.5, 0.5]
    x = _images()
    assert torch.equal(restored(x), source(x))
    teacher = FrozenTeacher(other, path)
    assert torch.equal(teacher.logits(x), source(x))
    # the taps see the reweighted blocks too
    taps = teacher.block_outputs(x, [3])[0]
    assert float(teacher.vit.layers[3].ffn.gamma2.alpha) == 0.5
    assert taps.shape == (3, 5, 16)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(mlp_alpha=0.0), ValueError, r'in \(0, 1\], got 0.0'),
    (dict(mlp_alpha=1.5), ValueError, r'in \(0, 1\], got 1.5'),
    (dict(mlp_blocks=[1, 4]), IndexError, r'\[4\] out of range.*0\.\.3'),
    (dict(mlp_blocks=[-1]), IndexError, r'0\.\.3'),
    (dict(top_k=5), IndexError, r'top_k must be 1\.\.4'),
    (dict(top_k=0), IndexError, r'top_k must be 1\.\.4'),
    (dict(top_k=1, mlp_blocks=[0]), ValueError, 'not both'),
])
def test_bad_input_names_the_valid_range(kwargs, error, match):
    with pytest.raises(error, match=match):
        ReweightedVisionTransformer(**VIT, **kwargs)


def test_reweight_twice_is_refused():
    vit = VisionTransformer(**VIT)
    reweight_mlp(vit, [0], 0.5)
    with pytest.raises(ValueError, match='already reweighted'):
        reweight_mlp(vit, [0], 0.5)
