r"""The package's operators, registered with :mod:`torch.library` in the
namespace :obj:`torch_geometric_gru` (:obj:`torch.ops.torch_geometric_gru`):

* :func:`pack` (:mod:`~torch_geometric_gru.ops.pack`): the packed layout
  of an index vector (sort, range checks), and :obj:`check_edges`;
* :func:`gru_layer` (:mod:`~torch_geometric_gru.ops.gru`, one folder per
  recurrence): one direction of one GRU layer over a layout, with its
  backward :func:`gru_layer_backward` wired by
  :func:`torch.library.register_autograd`.

The C++ kernels of every recurrence are built by
:mod:`~torch_geometric_gru.ops.cpp` (ahead of time:
:obj:`python -m torch_geometric_gru.ops.build`).

Each has a fake (meta) implementation, so that :func:`torch.compile`
(:obj:`fullgraph=True`, dynamic shapes) and :func:`torch.export` trace
through the layers without a graph break; the kernels behind them live in
:mod:`torch_geometric_gru.ops.gru`.
"""
from torch_geometric_gru.ops.pack import pack, pack_layout
from torch_geometric_gru.layout.registry import lookup, register
from torch_geometric_gru.ops.gru.op import (
    gru_layer,
    gru_layer_backward,
    run_gru_layer,
)

__all__ = [
    'pack',
    'pack_layout',
    'gru_layer',
    'gru_layer_backward',
    'run_gru_layer',
    'lookup',
    'register',
]
