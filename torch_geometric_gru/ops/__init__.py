r"""The package's operators, registered with :mod:`torch.library` in the
namespace :obj:`torch_geometric_gru` (:obj:`torch.ops.torch_geometric_gru`):

* :func:`pack`: the packed layout of an index vector (sort, range checks);
* :func:`gru_layer`: one direction of one GRU layer over a layout, with
  its backward :func:`gru_layer_backward` wired by
  :func:`torch.library.register_autograd`.

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
