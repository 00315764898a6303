"""Make small COCO-instance and ADE20K-format sets from real images.

Each scene is a crop of a real photo (scikit-image's astronaut, coffee,
chelsea, rocket; scikit-learn's china, flower) with 1 to ``--max-objects``
Fashion-MNIST items pasted on it, scaled up and tinted; an item's mask is
its own foreground (pixels >= ``--threshold``) minus what later items
cover, so boxes and masks are exact. Train scenes use Fashion-MNIST's train
items, val scenes its test items.

    python tools/data/make_toy_coco_ade.py data/toy [--train 64] [--val 16]
        [--size 128] [--seed 0]

writes

    OUT/coco/{train,val}/*.jpg
    OUT/coco/annotations/instances_{train,val}.json   masks as RLE
    OUT/ade/images/{training,validation}/*.jpg        the same scenes
    OUT/ade/annotations/{training,validation}/*.png

COCO category ids are 1..10 (Fashion-MNIST's classes in order). ADE label
maps follow ADE20K's convention: 0 is the background ("other", ignored
with ``reduce_zero_label=True``), ``k + 1`` is Fashion-MNIST class ``k``;
read them with MMSegmentation's ``BaseSegDataset`` and the Fashion-MNIST
class names (``ADE20KDataset`` pins ADE's 150 names). Each annotation also
records where it came from (``fashion_index``, ``paste_xywh``).
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
           'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
SPLITS = (('train', 'train', 'training'), ('val', 't10k', 'validation'))


def read_fashion_mnist(root: str, prefix: str) -> tuple:
    """The raw idx files -> ``([N, 28, 28] uint8, [N] uint8)``."""
    arrays = []
    for name, magic, offset in (('images-idx3-ubyte', 2051, 16),
                                ('labels-idx1-ubyte', 2049, 8)):
        path = osp.join(root, f'{prefix}-{name}')
        if not osp.isfile(path):
            sys.exit(f'make_toy_coco_ade.py: error: {path} not found (lay '
                     'out Fashion-MNIST with tools/prepare_data.py)')
        with open(path, 'rb') as f:
            raw = f.read()
        if int.from_bytes(raw[:4], 'big') != magic:
            sys.exit(f'make_toy_coco_ade.py: error: {path} is not an idx '
                     'file (un-gzip it)')
        arrays.append(np.frombuffer(raw, np.uint8, offset=offset))
    return arrays[0].reshape(-1, 28, 28), arrays[1]


def photos() -> list:
    """Real RGB photos bundled with scikit-image and scikit-learn."""
    from skimage import data
    from sklearn.datasets import load_sample_images
    names = ('astronaut', 'coffee', 'chelsea', 'rocket')
    return [getattr(data, n)()
            for n in names] + list(load_sample_images().images)


def paste_mask(item: np.ndarray, size: int, threshold: int) -> tuple:
    """A 28x28 item scaled to ``size`` px -> (grey values, foreground)."""
    grey = cv2.resize(item, (size, size), interpolation=cv2.INTER_LINEAR)
    return grey, grey >= threshold


def make_scene(rng: np.random.Generator, backgrounds: list, items: tuple,
               args: argparse.Namespace) -> tuple:
    """One scene: (RGB image, label map, [(index, class, x, y, s, mask)]).

    Masks are the visible pixels, each item drawn over the earlier ones.
    """
    photo = backgrounds[rng.integers(len(backgrounds))]
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
    img = cv2.resize(
        photo[y:y + side, x:x + side], (args.size, args.size),
        interpolation=cv2.INTER_AREA)
    label = np.zeros((args.size, args.size), np.uint8)
    objects = []
    for _ in range(int(rng.integers(1, args.max_objects + 1))):
        index = int(rng.integers(len(items[0])))
        s = int(rng.integers(args.size // 4, args.size * 3 // 5 + 1))
        x, y = (int(v) for v in rng.integers(args.size - s + 1, size=2))
        grey, fg = paste_mask(items[0][index], s, args.threshold)
        colour = rng.integers(96, 256, size=3)
        region = img[y:y + s, x:x + s]  # a view: [s, s, 3]
        region[fg] = (grey[fg, None] / 255 * colour).astype(np.uint8)
        label[y:y + s, x:x + s][fg] = items[1][index] + 1
        mask = np.zeros_like(label, dtype=bool)
        mask[y:y + s, x:x + s] = fg
        for obj in objects:  # the new item covers the earlier ones
            obj[-1][mask] = False
        objects.append((index, int(items[1][index]), x, y, s, mask))
    return img, label, [o for o in objects if o[-1].sum() >= args.min_area]


def coco_annotation(obj: tuple, ann_id: int, image_id: int) -> dict:
    """An instance -> a COCO annotation with an RLE mask and exact box."""
    from pycocotools import mask as mask_utils
    index, cls, x, y, s, mask = obj
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    ys, xs = np.nonzero(mask)
    box = [int(xs.min()), int(ys.min())]
    box += [int(xs.max()) + 1 - box[0], int(ys.max()) + 1 - box[1]]
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=cls + 1,
        segmentation=rle,
        area=int(mask.sum()),
        bbox=box,
        iscrowd=0,
        fashion_index=index,
        paste_xywh=[x, y, s, s])


def write_split(out: str, split: str, ade_split: str, count: int,
                rng: np.random.Generator, backgrounds: list, items: tuple,
                args: argparse.Namespace) -> None:
    """Write ``count`` scenes as COCO and ADE20K files."""
    dirs = dict(
        coco=osp.join(out, 'coco', split),
        ann=osp.join(out, 'coco', 'annotations'),
        img=osp.join(out, 'ade', 'images', ade_split),
        seg=osp.join(out, 'ade', 'annotations', ade_split))
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        img, label, objects = make_scene(rng, backgrounds, items, args)
        name = f'{split}_{i:06d}'
        bgr = np.ascontiguousarray(img[..., ::-1])
        for d in ('coco', 'img'):
            cv2.imwrite(
                osp.join(dirs[d], name + '.jpg'), bgr,
                [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(osp.join(dirs['seg'], name + '.png'), label)
        images.append(
            dict(
                id=i + 1,
                file_name=name + '.jpg',
                height=args.size,
                width=args.size))
        for obj in objects:
            annotations.append(
                coco_annotation(obj,
                                len(annotations) + 1, i + 1))
        if (i + 1) % 50 == 0 or i + 1 == count:
            print(
                f'{split}: {i + 1}/{count} scenes, '
                f'{len(annotations)} instances',
                flush=True)
    categories = [
        dict(id=k + 1, name=name, supercategory='fashion')
        for k, name in enumerate(CLASSES)
    ]
    with open(osp.join(dirs['ann'], f'instances_{split}.json'), 'w') as f:
        json.dump(
            dict(
                images=images, annotations=annotations, categories=categories),
            f)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output folder')
    parser.add_argument(
        '--fashion-root',
        default='data/fashion_mnist',
        help='folder with the un-gzipped Fashion-MNIST idx files')
    parser.add_argument('--train', type=int, default=64, help='train scenes')
    parser.add_argument('--val', type=int, default=16, help='val scenes')
    parser.add_argument('--size', type=int, default=128, help='scene side')
    parser.add_argument('--max-objects', type=int, default=3)
    parser.add_argument(
        '--threshold',
        type=int,
        default=64,
        help='an item pixel (0-255, after scaling) is foreground from here')
    parser.add_argument(
        '--min-area',
        type=int,
        default=16,
        help='drop instances with fewer visible pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name, low in (('train', 1), ('val', 1), ('size', 32),
                      ('max_objects', 1), ('threshold', 1), ('min_area', 1)):
        if getattr(args, name) < low:
            parser.error(f'--{name.replace("_", "-")} must be >= {low}')
    if args.threshold > 255:
        parser.error('--threshold must be <= 255')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    backgrounds = photos()
    for split, prefix, ade_split in SPLITS:
        items = read_fashion_mnist(args.fashion_root, prefix)
        write_split(args.out, split, ade_split, getattr(args, split), rng,
                    backgrounds, items, args)
    print(f'make_toy_coco_ade.py: wrote {args.out}/coco and {args.out}/ade')


if __name__ == '__main__':
    main()
