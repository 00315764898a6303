"""tools/data/make_toy_coco_ade.py: exact boxes and masks, recomputed from
the Fashion-MNIST items, the written label maps and pycocotools."""
import json
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest
from conftest import DATA_ROOT, ROOT
from mmpretrain.datasets.mnist import read_image_file, read_label_file
from pycocotools import mask as mask_utils

MAKE = runpy.run_path(osp.join(ROOT, 'tools/data/make_toy_coco_ade.py'))
ARGS = ['--train', '3', '--val', '2', '--size', '64', '--min-area', '1']


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    MAKE['main']([str(root), '--fashion-root', DATA_ROOT, '--seed', '3'] +
                 ARGS)
    return root


@pytest.mark.parametrize('split, prefix, ade', [('train', 'train', 'training'),
                                                ('val', 't10k', 'validation')])
def test_masks_and_boxes_are_exact(toy, split, prefix, ade):
    with open(toy / f'coco/annotations/instances_{split}.json') as f:
        coco = json.load(f)
    count = 3 if split == 'train' else 2
    assert len(coco['images']) == count
    assert len(os.listdir(toy / 'coco' / split)) == count
    assert len(os.listdir(toy / 'ade/images' / ade)) == count
    assert [c['id'] for c in coco['categories']] == list(range(1, 11))
    assert coco['categories'][9]['name'] == 'Ankle boot'
    items = read_image_file(osp.join(DATA_ROOT, f'{prefix}-images-idx3-ubyte'))
    labels = read_label_file(
        osp.join(DATA_ROOT, f'{prefix}-labels-idx1-ubyte'))
    assert coco['annotations']
    for image in coco['images']:
        name = image['file_name'][:-4]
        label = cv2.imread(
            str(toy / 'ade/annotations' / ade / f'{name}.png'),
            cv2.IMREAD_UNCHANGED)
        assert label.shape == (64, 64) and label.max() <= 10
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        full = []  # each item's own foreground where it was pasted
        for ann in anns:
            x, y, s, _ = ann['paste_xywh']
            item = cv2.resize(items[ann['fashion_index']].numpy(), (s, s))
            mask = np.zeros((64, 64), bool)
            mask[y:y + s, x:x + s] = item >= 64
            full.append(mask)
            assert ann['category_id'] == int(labels[ann['fashion_index']]) + 1
        seen = np.zeros((64, 64), bool)
        for ann, mask in reversed(list(zip(anns, full))):
            visible = mask & ~seen  # later items cover earlier ones
            seen |= mask
            decoded = mask_utils.decode(ann['segmentation']).astype(bool)
            assert np.array_equal(decoded, visible)
            assert ann['area'] == visible.sum() > 0
            ys, xs = np.nonzero(visible)
            box = [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1]
            assert ann['bbox'] == box
            assert ann['bbox'] == mask_utils.toBbox(
                ann['segmentation']).tolist()
            assert np.all(label[visible] == ann['category_id'])
        assert np.array_equal(label > 0, seen)


def test_seeded_output_is_deterministic(toy, tmp_path):
    MAKE['main']([str(tmp_path), '--fashion-root', DATA_ROOT, '--seed', '3'] +
                 ARGS)
    for path in ('coco/annotations/instances_val.json',
                 'ade/annotations/validation/val_000001.png',
                 'coco/train/train_000002.jpg'):
        assert (toy / path).read_bytes() == (tmp_path / path).read_bytes()
    other = tmp_path / 'other'
    MAKE['main']([str(other), '--fashion-root', DATA_ROOT, '--seed', '4'] +
                 ARGS)
    assert (other / path).read_bytes() != (toy / path).read_bytes()


@pytest.mark.parametrize('args, message',
                         [(['--size', '16'], '--size must be >= 32'),
                          (['--threshold', '300'], '--threshold must be <='),
                          (['--fashion-root', '/nowhere'], 'not found')])
def test_bad_arguments_are_refused(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as err:
        MAKE['main']([str(tmp_path / 'out'), '--fashion-root', DATA_ROOT] +
                     args)
    assert message in str(err.value) + capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
