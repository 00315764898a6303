"""Every public class of the plugin resolves by name in mmpretrain."""
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine import Config
from mmengine.registry import Registry
from mmengine.utils import import_modules_from_strings
from mmpretrain import registry as mmpretrain_registry

import mmkd_plugin

ROOT = Path(__file__).parents[1]

# public classes that are deliberately not registered, and why
NOT_REGISTERED = {
    'BaseDistiller': 'abstract base of the distillers, never built',
    'CheckpointError': 'an exception type, not a component',
    'LogitStore': 'a reader the PrecomputedViewDataset opens, not built',
    'LogitStoreError': 'an exception type, not a component',
    'StoreWriter': 'used by tools/precompute_logits.py, not built',
}


def _subpackages():
    return sorted(
        info.name for info in pkgutil.iter_modules(mmkd_plugin.__path__)
        if info.ispkg)


def _public_classes():
    """(qualified name, class) for every class in a subpackage's
    ``__all__`` that the plugin itself defines."""
    found = []
    for name in _subpackages():
        package = importlib.import_module(f'mmkd_plugin.{name}')
        for attr in getattr(package, '__all__', []):
            obj = getattr(package, attr)
            if inspect.isclass(obj) and obj.__module__.startswith(
                    'mmkd_plugin.'):
                found.append((f'mmkd_plugin.{name}.{attr}', obj))
    return found


def _registries():
    return {
        name: reg
        for name, reg in vars(mmpretrain_registry).items()
        if isinstance(reg, Registry)
    }


def test_subpackages_are_found():
    names = _subpackages()
    for expected in ('algorithms', 'engine', 'losses', 'teachers', 'utils'):
        assert expected in names


PUBLIC = _public_classes()


@pytest.mark.parametrize('qualname,cls', PUBLIC, ids=[q for q, _ in PUBLIC])
def test_public_class_is_registered(qualname, cls):
    if cls.__name__ in NOT_REGISTERED:
        for reg in _registries().values():
            assert reg.get(cls.__name__) is not cls, (
                f'{qualname} is registered: drop it from NOT_REGISTERED')
        return
    hits = [
        name for name, reg in _registries().items()
        if reg.get(cls.__name__) is cls
    ]
    assert hits, f'{qualname} is not in any mmpretrain registry'


def test_exceptions_list_is_current():
    names = {cls.__name__ for _, cls in PUBLIC}
    stale = set(NOT_REGISTERED) - names
    assert not stale, f'NOT_REGISTERED names no public class: {stale}'


def test_known_components_resolve():
    from mmpretrain.registry import HOOKS, MODELS

    from mmkd_plugin.algorithms import LogitKD
    from mmkd_plugin.engine import TeacherRecordHook
    from mmkd_plugin.losses import KDLoss
    from mmkd_plugin.teachers import FrozenTeacher
    assert MODELS.get('LogitKD') is LogitKD
    assert MODELS.get('KDLoss') is KDLoss
    assert MODELS.get('FrozenTeacher') is FrozenTeacher
    assert HOOKS.get('TeacherRecordHook') is TeacherRecordHook
    # scoped names, as configs in other repos would write them
    assert MODELS.get('mmpretrain.LogitKD') is LogitKD


def test_libkd_components_resolve():
    from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS

    from mmkd_plugin.datasets import PrecomputedViewDataset, ReplayResizedCrop
    from mmkd_plugin.heads import MultiTokenClsHead
    from mmkd_plugin.losses import MultiTeacherKDLoss
    from mmkd_plugin.models import MultiTokenViT, SoftTargetClsDataPreprocessor
    assert MODELS.get('MultiTokenViT') is MultiTokenViT
    assert MODELS.get('MultiTokenClsHead') is MultiTokenClsHead
    assert MODELS.get('MultiTeacherKDLoss') is MultiTeacherKDLoss
    assert MODELS.get('SoftTargetClsDataPreprocessor') is \
        SoftTargetClsDataPreprocessor
    assert DATASETS.get('PrecomputedViewDataset') is PrecomputedViewDataset
    assert TRANSFORMS.get('ReplayResizedCrop') is ReplayResizedCrop


def test_default_runtime_imports_plugin():
    cfg = Config.fromfile(str(ROOT / 'configs/_base_/default_runtime.py'))
    assert 'mmkd_plugin' in cfg.custom_imports['imports']
    assert cfg.custom_imports.get('allow_failed_imports', False) is False
    modules = import_modules_from_strings(**cfg.custom_imports)
    assert mmkd_plugin in modules


def test_default_runtime_registers_in_fresh_process():
    """Only the config's ``custom_imports`` imports the plugin."""
    runtime = str(ROOT / 'configs/_base_/default_runtime.py')
    code = ('import sys\n'
            'from mmengine import Config\n'
            'from mmpretrain.registry import HOOKS, MODELS\n'
            'assert "mmkd_plugin" not in sys.modules\n'
            'assert MODELS.get("LogitKD") is None\n'
            f'Config.fromfile({runtime!r})\n'
            'assert "mmkd_plugin" in sys.modules\n'
            'assert MODELS.get("LogitKD") is not None\n'
            'assert HOOKS.get("TeacherRecordHook") is not None\n'
            'print("ok")\n')
    result = subprocess.run([sys.executable, '-c', code],
                            cwd=str(ROOT),
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith('ok')
