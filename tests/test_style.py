"""The host's style (MMPretrain's flake8 / isort / yapf settings in
setup.cfg) holds for everything in the repository."""
import subprocess
import sys

import pytest
from conftest import ROOT

CHECKS = {
    'flake8': ['flake8', 'mmkd_plugin', 'tools', 'tests', 'configs'],
    'isort':
    ['isort', '--check-only', '--diff', 'mmkd_plugin', 'tools', 'tests'],
    'yapf': ['yapf', '-r', '-d', 'mmkd_plugin', 'tools', 'tests'],
}


@pytest.mark.parametrize('tool', sorted(CHECKS))
def test_style(tool):
    res = subprocess.run(
        [sys.executable, '-m'] + CHECKS[tool],
        cwd=ROOT,
        capture_output=True,
        text=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
