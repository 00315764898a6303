"""Mixup / CutMix mix the stored teacher labels with the lambda and the
permutation they used for the images and the labels."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from mmkd_plugin.models import SoftTargetClsDataPreprocessor

B, C, T = 6, 10, 2


@pytest.fixture(autouse=True, scope='module')
def scope():
    init_default_scope('mmpretrain')


def _batch(seed):
    rng = np.random.RandomState(seed)
    labels = rng.permutation(C)[:B]  # distinct: a mixed row names its pair
    images = torch.from_numpy(rng.rand(B, 1, 8, 8).astype(np.float32))
    scores = torch.from_numpy(rng.dirichlet(np.ones(C), (B, T))).float()
    samples = [DataSample().set_gt_label(int(lab)) for lab in labels]
    for sample, score in zip(samples, scores):
        sample.set_field(score, 'teacher_scores')
    return dict(inputs=images, data_samples=samples), labels, scores


def _lam_and_perm(mixed_gt, labels):
    """Recover lambda and the permutation from the mixed one-hot labels."""
    perm, lams = np.arange(B), []
    for i, row in enumerate(mixed_gt):
        lam = row[labels[i]]
        others = [c for c in np.flatnonzero(row > 1e-7) if c != labels[i]]
        if others:
            assert len(others) == 1
            perm[i] = int(np.flatnonzero(labels == others[0])[0])
            lams.append(lam)
    assert lams and np.allclose(lams, lams[0], atol=1e-6)
    return float(lams[0]), perm


def _run(augment, seed):
    pre = SoftTargetClsDataPreprocessor(
        num_classes=C, batch_augments=dict(augments=[augment]))
    data, labels, scores = _batch(seed)
    images = data['inputs'].clone()
    torch.manual_seed(seed)
    np.random.seed(seed)
    out = pre(data, training=True)
    gt = torch.stack([s.gt_score for s in out['data_samples']]).numpy()
    mixed = torch.stack([s.teacher_scores for s in out['data_samples']])
    return images, labels, scores, out['inputs'], gt, mixed


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_mixup_mixes_targets_like_images(seed):
    images, labels, scores, x, gt, mixed = _run(
        dict(type='Mixup', alpha=1.0), seed)
    lam, perm = _lam_and_perm(gt, labels)
    expected = lam * scores + (1 - lam) * scores[perm]
    torch.testing.assert_close(mixed, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        x, lam * images + (1 - lam) * images[perm], rtol=1e-5, atol=1e-6)
    assert mixed.shape == (B, T, C)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(B, T))


@pytest.mark.parametrize('seed', [0, 3])
def test_cutmix_mixes_targets_with_area_lambda(seed):
    images, labels, scores, x, gt, mixed = _run(
        dict(type='CutMix', alpha=1.0), seed)
    lam, perm = _lam_and_perm(gt, labels)
    torch.testing.assert_close(
        mixed, lam * scores + (1 - lam) * scores[perm], rtol=1e-5, atol=1e-6)
    # every pixel is the sample's own or its partner's; the partner's
    # share of the area is 1 - lambda
    for i in range(B):
        if perm[i] == i:
            continue
        own = (x[i] == images[i])
        other = (x[i] == images[perm[i]])
        assert bool((own | other).all())
        assert (~own).float().mean().item() == pytest.approx(1 - lam)


def test_targets_unchanged_outside_training():
    pre = SoftTargetClsDataPreprocessor(
        num_classes=C,
        batch_augments=dict(augments=[dict(type='Mixup', alpha=1.0)]))
    data, _, scores = _batch(4)
    out = pre(data, training=False)
    got = torch.stack([s.teacher_scores for s in out['data_samples']])
    assert torch.equal(got, scores)
