import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_python_files_follow_the_house_style():
    # PyG's flake8 conventions (the house style), over every Python file of
    # the repository: the package, its tests, the benchmarks, the examples.
    pytest.importorskip('flake8', reason="needs flake8: pip install -e "
                        "'.[test]'")
    folders = ['torch_geometric_gru', 'tests', 'benchmarks', 'examples']
    result = subprocess.run([sys.executable, '-m', 'flake8', *folders],
                            cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
