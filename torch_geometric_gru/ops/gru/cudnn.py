r"""The cuDNN kernel (:obj:`kernel="cudnn"`): :class:`torch.nn.GRU` on a
:class:`~torch.nn.utils.rnn.PackedSequence` of the layout's packed rows
(cuDNN on CUDA, PyTorch's own packed GRU elsewhere). Run eagerly, outside
the operators: cuDNN keeps its own states for the backward."""
from typing import Optional

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from torch_geometric_gru.layout.packed import PackedLayout


@torch.compiler.disable
def cudnn_gru(gru: torch.nn.RNNBase, layout: PackedLayout, x: Tensor,
              src: Optional[Tensor]) -> Tensor:
    r"""Runs :obj:`gru` over every sequence of :obj:`layout` (packed row
    :obj:`p` reads :obj:`x[src[p]]`) and returns the top layer's final
    states of shape :obj:`[num_nodes, D * H]`, zeros for empty nodes."""
    num_dirs = 2 if gru.bidirectional else 1
    if layout.num_packed == 0:
        return x.new_zeros(layout.num_nodes, num_dirs * gru.hidden_size)
    data = x if src is None else x.index_select(0, src)
    _, h_n = gru(PackedSequence(data, layout.batch_sizes))
    final = h_n[-num_dirs:].transpose(0, 1).reshape(
        -1, num_dirs * gru.hidden_size)
    return layout.unpack_final(final)
