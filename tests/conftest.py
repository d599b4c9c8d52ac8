r"""Runs the Triton kernels in Triton's CPU interpreter where there is no
GPU, so that the CUDA kernels' logic is tested on every machine (the switch
must be set before :mod:`triton` decorates the kernels, i.e. before the
package is imported); checks that the suite leaves no temporary folders."""
import glob
import os
import sys
import tempfile

import pytest
import torch

# The tests mirror the package in folders; they share `reference.py` here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')


@pytest.fixture(scope='session', autouse=True)
def no_leaked_temporary_folders():
    r"""Nothing the suite runs leaves a tggru-* folder behind."""
    pattern = os.path.join(tempfile.gettempdir(), 'tggru-*')
    before = set(glob.glob(pattern))
    yield
    leaked = set(glob.glob(pattern)) - before
    assert not leaked, f'temporary folders left behind: {sorted(leaked)}'
