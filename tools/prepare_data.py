"""Lay Fashion-MNIST out where MMPretrain's ``FashionMNIST`` reads it.

MMPretrain's dataset (``download=False``) wants the four un-gzipped IDX
files in ``data_root``. By default they come from Debian's
``dataset-fashion-mnist`` package (``apt-get install dataset-fashion-mnist``);
``--src`` takes any folder holding the four ``*-ubyte.gz`` files instead.

    python tools/prepare_data.py [--src DIR] [--out data/fashion_mnist]
"""
import argparse
import gzip
import hashlib
import os
import os.path as osp
import subprocess
import sys

# md5 of the un-gzipped IDX files (the gzip containers differ between
# sources, e.g. Debian recompresses them; the contents do not)
FILES = {
    'train-images-idx3-ubyte.gz': 'f4a8712d7a061bf5bd6d2ca38dc4d50a',
    'train-labels-idx1-ubyte.gz': '9018921c3c673c538a1fc5bad174d6f9',
    't10k-images-idx3-ubyte.gz': '8181f5470baa50b63fa0f6fddb340f0a',
    't10k-labels-idx1-ubyte.gz': '15d484375f8d13e6eb1aabb0c3f46965',
}


def debian_folder() -> str:
    """The folder of the Debian package's gz files, or exit with advice."""
    try:
        listing = subprocess.run(['dpkg', '-L', 'dataset-fashion-mnist'],
                                 capture_output=True,
                                 text=True,
                                 check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        sys.exit('prepare_data: Debian package dataset-fashion-mnist is not '
                 'installed; run `apt-get install dataset-fashion-mnist` or '
                 'pass --src DIR with the four *-ubyte.gz files')
    for path in listing:
        if path.endswith('train-images-idx3-ubyte.gz'):
            return osp.dirname(path)
    sys.exit('prepare_data: dataset-fashion-mnist lists no '
             'train-images-idx3-ubyte.gz')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', help='folder with the four *-ubyte.gz')
    parser.add_argument('--out', default='data/fashion_mnist')
    args = parser.parse_args()
    src = args.src or debian_folder()
    os.makedirs(args.out, exist_ok=True)
    for name, want in FILES.items():
        gz = osp.join(src, name)
        if not osp.isfile(gz):
            sys.exit(f'prepare_data: {gz} not found')
        dst = osp.join(args.out, name[:-3])
        if osp.isfile(dst):
            continue
        with gzip.open(gz, 'rb') as fin:
            data = fin.read()
        got = hashlib.md5(data).hexdigest()
        if got != want:
            sys.exit(f'prepare_data: {gz} holds md5 {got}, expected {want}'
                     ' (not the official Fashion-MNIST file)')
        with open(dst + '.tmp', 'wb') as fout:
            fout.write(data)
        os.replace(dst + '.tmp', dst)  # atomic: no half-written file
    print(f'prepare_data: Fashion-MNIST ready in {args.out}')


if __name__ == '__main__':
    main()
