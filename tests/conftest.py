r"""Runs the Triton kernels in Triton's CPU interpreter where there is no
GPU, so that the CUDA kernels' logic is tested on every machine (the switch
must be set before :mod:`triton` decorates the kernels, i.e. before the
package is imported); checks that the suite leaves no temporary folders;
gives :class:`GRUConv`'s learned scale nonzero values in every test."""
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

from torch_geometric_gru import GRUConv  # noqa: E402  (after the switch)


@pytest.fixture(autouse=True)
def nonzero_gru_scale(request, monkeypatch):
    r""":class:`GRUConv` scales its GRU's state by a learned factor that
    starts at zero, which would hide the GRU from every test that compares
    outputs (a wrong GRU would pass them). So in every test its
    :meth:`reset_parameters` sets the factor to distinct values in [0.5,
    1.5] (no random draw: the global generator is left as it was), except
    in tests marked :obj:`zero_gru_scale`, which check the zero start."""
    if request.node.get_closest_marker('zero_gru_scale') is not None:
        return
    reset_parameters = GRUConv.reset_parameters

    def reset_with_nonzero_scale(self):
        reset_parameters(self)
        if self.gru_scale is not None:
            with torch.no_grad():
                self.gru_scale.copy_(
                    torch.linspace(0.5, 1.5, self.gru_scale.numel()))

    monkeypatch.setattr(GRUConv, 'reset_parameters',
                        reset_with_nonzero_scale)


@pytest.fixture(scope='session', autouse=True)
def no_leaked_temporary_folders():
    r"""Nothing the suite runs leaves a tggru-* folder behind."""
    pattern = os.path.join(tempfile.gettempdir(), 'tggru-*')
    before = set(glob.glob(pattern))
    yield
    leaked = set(glob.glob(pattern)) - before
    assert not leaked, f'temporary folders left behind: {sorted(leaked)}'
