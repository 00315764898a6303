"""LIB-KD student: the multi-token ViT against MMPretrain's DeiT, the loss
against an independent float64 computation, the exported classifier."""
import numpy as np
import pytest
import torch
from mmpretrain.models import DistilledVisionTransformer, VisionTransformer
from mmpretrain.models.heads import DeiTClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmkd_plugin.heads import MultiTokenClsHead
from mmkd_plugin.losses import MultiTeacherKDLoss, topk_to_probs
from mmkd_plugin.models import MultiTokenViT

ARCH = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32)
VIT = dict(arch=ARCH, img_size=28, patch_size=7, in_channels=1)

pytestmark = pytest.mark.usefixtures('one_thread_mmpretrain')


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def reference_loss(student, teacher, tau, weights, target, mode='soft'):
    """sum_k w_k * mean_b KD_k in float64 numpy; [B, T, C] inputs."""
    s = np.asarray(student, np.float64)
    t = np.asarray(teacher, np.float64)
    if mode == 'hard':
        lab = t.argmax(-1)  # [B, T]
        logp = _log_softmax(s)
        ce = -np.take_along_axis(logp, lab[..., None], -1)[..., 0]
        return float((ce.mean(0) * weights).sum())
    if target == 'logits':
        p = np.exp(_log_softmax(t / tau))
    else:
        p = t**(1 / tau) / (t**(1 / tau)).sum(-1, keepdims=True)
    logq = _log_softmax(s / tau)
    with np.errstate(divide='ignore', invalid='ignore'):
        plogp = np.where(p > 0, p * np.log(p), 0.)
    kl = (plogp - p * logq).sum(-1)  # [B, T]
    return float(tau**2 * (kl.mean(0) * weights).sum())


def _scores(seed, shape=(6, 3, 10)):
    rng = np.random.RandomState(seed)
    return (rng.randn(*shape) * 3).astype(np.float32)


@pytest.mark.parametrize('tau', [1.0, 2.0, 4.0])
@pytest.mark.parametrize('target', ['logits', 'probs'])
def test_soft_loss_matches_reference(tau, target):
    s, z = _scores(0), _scores(1)
    t = z if target == 'logits' else np.exp(_log_softmax(z))
    w = np.array([1.0, 0.5, 2.0])
    loss = MultiTeacherKDLoss(3, tau=tau, weights=list(w))
    got = loss(torch.from_numpy(s), torch.from_numpy(t), target)
    assert got.item() == pytest.approx(
        reference_loss(s, t, tau, w, target), rel=1e-5)


def test_probs_of_full_softmax_equal_logits():
    """p^(1/tau), renormalised, is softmax(z / tau) exactly."""
    s, z = torch.from_numpy(_scores(2)), torch.from_numpy(_scores(3))
    loss = MultiTeacherKDLoss(3, tau=3.0)
    assert loss(s, z.softmax(-1), 'probs').item() == pytest.approx(
        loss(s, z, 'logits').item(), rel=1e-5)


def test_hard_loss_matches_reference():
    s, t = _scores(4), _scores(5)
    w = np.array([1.0, 1.0, 0.25])
    loss = MultiTeacherKDLoss(3, mode='hard', weights=list(w))
    got = loss(torch.from_numpy(s), torch.from_numpy(t))
    assert got.item() == pytest.approx(
        reference_loss(s, t, 1.0, w, 'logits', 'hard'), rel=1e-5)


def test_topk_targets_and_loss_with_zero_mass():
    rng = np.random.RandomState(6)
    probs = rng.dirichlet(np.ones(10), size=(4, 2)).astype(np.float32)
    idx = np.argsort(-probs, -1)[..., :3]  # [4, 2, 3]
    top = np.take_along_axis(probs, idx, -1)
    dense = topk_to_probs(torch.from_numpy(idx), torch.from_numpy(top),
                          10).numpy()
    ref = np.empty_like(probs)
    for b in range(4):
        for k in range(2):
            rest = (1 - top[b, k].sum()) / 7
            ref[b, k] = rest
            ref[b, k, idx[b, k]] = top[b, k]
    np.testing.assert_allclose(dense, ref, rtol=1e-5, atol=1e-7)
    # a one-hot top-1 label leaves zeros: 0 log 0 counts as 0
    onehot = topk_to_probs(torch.tensor([[[2]]]), torch.tensor([[[1.]]]), 5)
    s = torch.from_numpy(_scores(7, (1, 1, 5)))
    got = MultiTeacherKDLoss(1)(s, onehot, 'probs')
    assert got.item() == pytest.approx(-torch.log_softmax(s, -1)[0, 0, 2])


def test_loss_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r'\[B, 2, C\]'):
        MultiTeacherKDLoss(2)(torch.zeros(4, 3, 5), torch.zeros(4, 3, 5))
    with pytest.raises(ValueError, match='2 weights for 3'):
        MultiTeacherKDLoss(3, weights=[1, 1])


def _deit_pair():
    """DeiT (MMPretrain) and a one-token MultiTokenViT, same weights."""
    torch.manual_seed(0)
    deit = DistilledVisionTransformer(**VIT)
    deit.init_weights()
    ours = MultiTokenViT(**VIT, num_dist_tokens=1)
    ours.load_state_dict(deit.state_dict(), strict=True)
    return deit, ours


def test_one_token_equals_mmpretrain_deit():
    deit, ours = _deit_pair()
    x = torch.randn(3, 1, 28, 28)
    cls, dist = deit(x)[0]
    tokens = ours(x)[0]  # [B, 2, D]
    torch.testing.assert_close(tokens, torch.stack([cls, dist], 1))
    head = DeiTClsHead(num_classes=5, in_channels=16)
    ours_head = MultiTokenClsHead(5, 16, num_dist_tokens=1)
    with torch.no_grad():
        ours_head.heads[0].load_state_dict(head.layers.head.state_dict())
        ours_head.heads[1].load_state_dict(head.layers.head_dist.state_dict())
    head.eval()  # DeiTClsHead warns when asked to train
    torch.testing.assert_close(
        ours_head((tokens, )), head(((cls, dist), )), rtol=1e-6, atol=1e-6)


def test_plain_vit_checkpoint_fills_extra_positions():
    torch.manual_seed(1)
    plain = VisionTransformer(**VIT)
    plain.init_weights()
    ours = MultiTokenViT(**VIT, num_dist_tokens=3)
    missing, unexpected = ours.load_state_dict(
        plain.state_dict(), strict=False)
    assert missing == ['dist_token'] and not unexpected
    pos, src = ours.pos_embed.detach(), plain.pos_embed.detach()
    assert pos.shape[1] == src.shape[1] + 3
    for row in range(4):  # CLS and the 3 new rows: the CLS position
        torch.testing.assert_close(pos[:, row], src[:, 0])
    torch.testing.assert_close(pos[:, 4:], src[:, 1:])


def _head_with_weights(num_dist, mode='mean', kd=None):
    torch.manual_seed(2)
    head = MultiTokenClsHead(
        7,
        16,
        num_dist,
        predict_mode=mode,
        kd_loss=kd or dict(type='MultiTeacherKDLoss'))
    head.init_weights()
    return head


def test_head_loss_and_predict_match_reference():
    head = _head_with_weights(2, kd=dict(type='MultiTeacherKDLoss', tau=2.0))
    tokens = torch.randn(5, 3, 16)
    labels = [1, 0, 6, 3, 3]
    t_logits = torch.randn(5, 2, 7)
    samples = [DataSample().set_gt_label(lab) for lab in labels]
    for sample, t in zip(samples, t_logits):
        sample.set_field(t, 'teacher_logits')
    losses = head.loss((tokens, ), samples)
    w = [(h.weight.detach().double().numpy(), h.bias.detach().double().numpy())
         for h in head.heads]
    x = tokens.double().numpy()
    logits = np.stack([x[:, i] @ w[i][0].T + w[i][1] for i in range(3)], 1)
    ce = -_log_softmax(logits[:, 0])[np.arange(5), labels].mean()
    kd = reference_loss(logits[:, 1:], t_logits.numpy(), 2.0, np.ones(2),
                        'logits')
    assert losses['loss_cls'].item() == pytest.approx(ce, rel=1e-5)
    assert losses['loss_kd'].item() == pytest.approx(kd, rel=1e-5)
    pred = head.predict((tokens, ))
    mean = np.exp(_log_softmax(logits.mean(1)))
    np.testing.assert_allclose(
        torch.stack([p.pred_score for p in pred]).detach().numpy(),
        mean,
        rtol=1e-5)
    cls_only = _head_with_weights(2, mode='cls')
    np.testing.assert_allclose(
        cls_only((tokens, )).detach().numpy(), logits[:, 0], rtol=1e-5)


def test_head_without_teacher_targets_says_how():
    head = _head_with_weights(1)
    with pytest.raises(KeyError, match='PrecomputedViewDataset'):
        head.loss((torch.randn(2, 2, 16), ),
                  [DataSample().set_gt_label(0)] * 2)


def student_cfg(num_dist=2):
    """A registered-types ImageClassifier, as a config would build it."""
    return dict(
        type='ImageClassifier',
        backbone=dict(type='MultiTokenViT', num_dist_tokens=num_dist, **VIT),
        head=dict(
            type='MultiTokenClsHead',
            num_classes=10,
            in_channels=16,
            num_dist_tokens=num_dist),
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=[72.94], std=[90.02]))


def test_exported_student_loads_as_mmpretrain_classifier(tmp_path):
    from mmengine.config import Config
    from mmpretrain.apis import init_model

    from mmkd_plugin.utils import save_checkpoint
    torch.manual_seed(3)
    model = MODELS.build(student_cfg())
    model.init_weights()
    path = str(tmp_path / 'student.pth')
    save_checkpoint(dict(state_dict=model.state_dict()), path)
    loaded = init_model(Config(dict(model=student_cfg())), path)
    x = torch.rand(4, 1, 28, 28) * 255
    model.eval()
    with torch.no_grad():
        a = model(model.data_preprocessor(dict(inputs=x))['inputs'])
        b = loaded(loaded.data_preprocessor(dict(inputs=x))['inputs'])
    assert type(loaded).__name__ == 'ImageClassifier'
    torch.testing.assert_close(a, b, rtol=0, atol=0)
