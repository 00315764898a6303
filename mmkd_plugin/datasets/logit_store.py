"""Precomputed teacher labels per view (FKD, Shen & Xing, ECCV 2022), the
LIB-KD way: on disk, validated before use.

A store is a folder written by ``tools/precompute_logits.py``::

    index.json           what the store holds and for what (below)
    shard-00000.npy      records of images [0, shard_size), in dataset order
    shard-00000.json     that shard's sidecar, written after it: finished
    shard-00001.npy ...

Every file is written to a temporary name in the folder and renamed, so a
name on disk is always a whole file; an interrupted run leaves finished
shards (``.npy`` with its sidecar) and ``.tmp`` debris, which the next run
removes, and redoes the rest.

**Shards** are NumPy ``.npy`` files (no pickles) of one structured array,
one fixed-size record per image (``N`` views, ``T`` teachers, top ``k``)::

    index   int64              the image's dataset index (checked on read)
    boxes   float32 [N, 4]     crop (x0, y0, x1, y1), divided by the image
                               width / height; x1, y1 exclusive
    flips   uint8 [N]          1: flipped horizontally after the crop
    labels  int16 [T, N, k]    each teacher's top-k classes on each view,
                               by decreasing probability (int32 if C>32767)
    probs   float16 [T, N, k]  their probabilities (softmax at
                               temperature 1; a loss at another temperature
                               tempers them itself); the remaining mass is
                               spread uniformly over the other classes

**index.json**: ``format`` (``'mmkd-logit-store'``), ``version`` (1),
``spec`` (what the store must match: ``dataset`` ``{length, sha256}`` from
:func:`dataset_fingerprint`; ``teachers`` ``[{name, sha256}]`` in the order
of the T axis, sha256 of each checkpoint; ``num_classes``, ``num_views``,
``topk``, ``seed``; ``crop``: the replay transform's
parameters), ``layout`` (``shard_size``, ``num_shards``, ``dtype``: the
record's NumPy descr), ``shards`` (``[{file, first, records, bytes,
sha256}]``, once complete) and ``complete``.

:class:`LogitStore` refuses a store that is incomplete, whose spec differs
from the one expected (the error lists every differing field), or whose
shard is missing, of the wrong size, dtype or sha256.
"""
import glob
import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from mmkd_plugin.utils import sha256sum

FORMAT, VERSION = 'mmkd-logit-store', 1
INDEX = 'index.json'


class LogitStoreError(RuntimeError):
    """A logit store is missing, incomplete, corrupt or does not match."""


def record_dtype(num_views: int, num_teachers: int, topk: int,
                 num_classes: int) -> np.dtype:
    """The fixed-size record of one image."""
    label = np.int16 if num_classes <= np.iinfo(np.int16).max else np.int32
    vtk = (num_teachers, num_views, topk)
    return np.dtype([('index', '<i8'), ('boxes', '<f4', (num_views, 4)),
                     ('flips', 'u1', (num_views, )),
                     ('labels', np.dtype(label).newbyteorder('<'), vtk),
                     ('probs', '<f2', vtk)])


def dataset_fingerprint(dataset) -> dict:
    """``{length, sha256}``: sha256 over each item's image (its path
    relative to the image folder, or the pixels of an in-memory image) and
    label, in dataset order."""
    root = (getattr(dataset, 'data_prefix', None) or {}).get('img_path') \
        or getattr(dataset, 'data_root', None) or ''
    digest = hashlib.sha256()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if info.get('img_path') is not None:
            path = info['img_path']
            digest.update((osp.relpath(path, root) if root else path).encode())
        elif info.get('img') is not None:
            img = np.ascontiguousarray(info['img'])
            digest.update(f'{img.shape}{img.dtype}'.encode())
            digest.update(img.tobytes())
        else:
            raise LogitStoreError(f'item {i} has neither img_path nor img')
        label = info.get('gt_label')
        digest.update(json.dumps(np.asarray(label).tolist()).encode())
    return dict(length=len(dataset), sha256=digest.hexdigest())


def plain(obj):
    """JSON's view of ``obj`` (tuples -> lists, numpy -> Python)."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist()))


def spec_diff(expected: dict, found: dict, prefix: str = '') -> List[str]:
    """``'key: store X, expected Y'`` for every differing leaf."""
    out = []
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            out += spec_diff(
                expected.get(key), found.get(key), f'{prefix}{key}.')
        return out
    if isinstance(expected, list) and isinstance(found, list) and \
            len(expected) == len(found):
        for i, (e, f) in enumerate(zip(expected, found)):
            out += spec_diff(e, f, f'{prefix}{i}.')
        return out
    if expected != found:
        out.append(f'{prefix[:-1]}: store {found!r}, expected {expected!r}')
    return out


def atomic_write(path: str, write: Callable) -> None:
    """``write(file)`` to a temporary file next to ``path``, then rename."""
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, obj: dict) -> None:
    text = json.dumps(obj, indent=1, sort_keys=True).encode()
    atomic_write(path, lambda f: f.write(text))


def read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise LogitStoreError(f'cannot read {path}: {err}') from err


def shard_name(shard: int) -> str:
    return f'shard-{shard:05d}.npy'


def check_shard(path: str,
                dtype: np.dtype,
                records: int,
                sha256: Optional[str] = None) -> None:
    """Raise unless ``path`` is a whole ``.npy`` of ``records`` records of
    ``dtype`` (and, if given, has this sha256)."""
    if not osp.isfile(path):
        raise LogitStoreError(f'shard {path} is missing')
    try:
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (
                1, 0) else np.lib.format.read_array_header_2_0
            shape, _, found = read(f)
            offset = f.tell()
    except (OSError, ValueError) as err:
        raise LogitStoreError(f'shard {path} is corrupt: {err}') from err
    if found != dtype or shape != (records, ):
        raise LogitStoreError(
            f'shard {path} holds {shape} of {found}, expected '
            f'({records},) records of {dtype}')
    size, want = osp.getsize(path), offset + records * dtype.itemsize
    if size != want:
        raise LogitStoreError(f'shard {path} is {size} bytes, expected '
                              f'{want}: truncated or corrupt')
    if sha256 is not None and sha256sum(path) != sha256:
        raise LogitStoreError(f'shard {path} is corrupt: its sha256 differs '
                              'from the one in the index')


class StoreWriter:
    """Writes a store shard by shard; finished shards survive a crash.

    Args:
        root: the store folder.
        spec: what the store holds (see the module docstring).
        shard_size: images per shard.
    """

    def __init__(self, root: str, spec: dict, shard_size: int):
        self.root, self.spec = root, plain(spec)
        length = self.spec['dataset']['length']
        self.dtype = record_dtype(spec['num_views'], len(spec['teachers']),
                                  spec['topk'], spec['num_classes'])
        self.layout = dict(
            shard_size=shard_size,
            num_shards=-(-length // shard_size),
            dtype=plain(self.dtype.descr))

    def shard_range(self, shard: int) -> Tuple[int, int]:
        size, length = self.layout['shard_size'], self.spec['dataset'][
            'length']
        return shard * size, min((shard + 1) * size, length)

    def open(self) -> None:
        """Create the index, or check that the existing one is for the
        same spec and layout (a resumed run); remove ``.tmp`` debris."""
        os.makedirs(self.root, exist_ok=True)
        path = osp.join(self.root, INDEX)
        if not osp.exists(path):
            write_json(
                path,
                dict(
                    format=FORMAT,
                    version=VERSION,
                    spec=self.spec,
                    layout=self.layout,
                    shards=None,
                    complete=False))
        else:
            index = read_json(path)
            diff = spec_diff(
                dict(spec=self.spec, layout=self.layout),
                dict(spec=index.get('spec'), layout=index.get('layout')))
            if diff:
                raise LogitStoreError(
                    f'{self.root} holds a store for something else; use '
                    'another folder or delete it. Differences: ' +
                    '; '.join(diff))
        for tmp in glob.glob(osp.join(self.root, '.*.tmp')):
            os.remove(tmp)

    def finished(self, shard: int) -> bool:
        """Whether ``shard`` has a sidecar and a whole file matching it."""
        side = osp.join(self.root, shard_name(shard)[:-4] + '.json')
        if not osp.exists(side):
            return False
        try:
            entry = read_json(side)
            check_shard(
                osp.join(self.root, entry['file']), self.dtype,
                entry['records'], entry['sha256'])
        except (LogitStoreError, KeyError, TypeError):
            return False
        return True

    def write_shard(self, shard: int, records: np.ndarray) -> None:
        """Write a shard's records, then its sidecar (both atomically)."""
        first, stop = self.shard_range(shard)
        if records.dtype != self.dtype or len(records) != stop - first or \
                not np.array_equal(records['index'], np.arange(first, stop)):
            raise ValueError(f'shard {shard}: wrong records')
        path = osp.join(self.root, shard_name(shard))
        atomic_write(path, lambda f: np.save(f, records, allow_pickle=False))
        entry = dict(
            file=shard_name(shard),
            first=first,
            records=len(records),
            bytes=osp.getsize(path),
            sha256=sha256sum(path))
        write_json(path[:-4] + '.json', entry)

    def finalise(self) -> None:
        """Write the complete index, once every shard is finished."""
        shards = []
        for shard in range(self.layout['num_shards']):
            if not self.finished(shard):
                raise LogitStoreError(f'shard {shard} is not finished')
            shards.append(
                read_json(
                    osp.join(self.root,
                             shard_name(shard)[:-4] + '.json')))
        write_json(
            osp.join(self.root, INDEX),
            dict(
                format=FORMAT,
                version=VERSION,
                spec=self.spec,
                layout=self.layout,
                shards=shards,
                complete=True))


class LogitStore:
    """Reads a complete store after checking it against ``spec``.

    Args:
        root: the store folder.
        spec: what the training config expects (see the module docstring);
            any difference is an error naming each differing field.
        verify: ``'sha256'`` checks every shard's checksum on opening
            (reads the whole store once); ``'size'`` only its header and
            size.
    """

    def __init__(self, root: str, spec: dict, verify: str = 'sha256'):
        if verify not in ('sha256', 'size'):
            raise ValueError(f"verify must be 'sha256' or 'size', got "
                             f'{verify!r}')
        index = read_json(osp.join(root, INDEX))
        if index.get('format') != FORMAT or index.get('version') != VERSION:
            raise LogitStoreError(
                f'{root} is not a version {VERSION} {FORMAT} store')
        if not index.get('complete'):
            raise LogitStoreError(
                f'{root} is incomplete: run tools/precompute_logits.py '
                'again to finish it')
        diff = spec_diff(plain(spec), index['spec'])
        if diff:
            raise LogitStoreError(
                f'{root} does not match this dataset / teachers / config: ' +
                '; '.join(diff))
        self.root, self.spec = root, index['spec']
        self.dtype = record_dtype(spec['num_views'], len(spec['teachers']),
                                  spec['topk'], spec['num_classes'])
        if plain(self.dtype.descr) != index['layout']['dtype']:
            raise LogitStoreError(f'{root}: record dtype differs')
        self.shard_size = index['layout']['shard_size']
        self.shards = index['shards']
        for entry in self.shards:
            check_shard(
                osp.join(root, entry['file']), self.dtype, entry['records'],
                entry['sha256'] if verify == 'sha256' else None)
        self._maps: Dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict:  # memory maps are opened per process
        return dict(self.__dict__, _maps={})

    def record(self, idx: int) -> np.void:
        """The record of image ``idx``."""
        shard = idx // self.shard_size
        if not 0 <= idx < self.spec['dataset']['length']:
            raise IndexError(f'image {idx} is not in the store')
        if shard not in self._maps:
            self._maps[shard] = np.load(
                osp.join(self.root, self.shards[shard]['file']),
                mmap_mode='r',
                allow_pickle=False)
        rec = self._maps[shard][idx - self.shards[shard]['first']]
        if int(rec['index']) != idx:
            raise LogitStoreError(f'{self.shards[shard]["file"]}: record '
                                  f'for image {idx} holds {rec["index"]}')
        return rec
