r"""Running a :class:`torch.nn.GRU` over a :class:`PackedLayout`: layers,
directions and the choice of kernel (cuDNN on CUDA, the hand-written
:mod:`torch_geometric_gru.cpu_gru` elsewhere)."""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from torch_geometric_gru.cpu_gru import run_layer
from torch_geometric_gru.packing import PackedLayout
from torch_geometric_gru.workspace import Workspace


def gru_parameters(gru: torch.nn.GRU, layer: int, direction: int,
                   ) -> Tuple[Tensor, Tensor, Optional[Tensor],
                              Optional[Tensor]]:
    r"""Returns :obj:`(w_ih, w_hh, b_ih, b_hh)` of one layer and direction
    of :obj:`gru`."""
    suffix = f'_l{layer}' + ('_reverse' if direction == 1 else '')
    return (getattr(gru, f'weight_ih{suffix}'),
            getattr(gru, f'weight_hh{suffix}'),
            getattr(gru, f'bias_ih{suffix}', None),
            getattr(gru, f'bias_hh{suffix}', None))


def use_cudnn(x: Tensor) -> bool:
    r"""Whether the GRU on :obj:`x` runs through cuDNN."""
    return x.is_cuda and torch.backends.cudnn.enabled


def packed_gru(
    gru: torch.nn.GRU,
    layout: PackedLayout,
    x: Tensor,
    src: Optional[Tensor] = None,
    cudnn: Optional[bool] = None,
    workspace: Optional[Workspace] = None,
) -> Tensor:
    r"""Runs :obj:`gru` over every sequence of :obj:`layout` and returns the
    top layer's final states of shape :obj:`[num_sequences, D * H]` in
    packed order (forward direction first when bidirectional), exactly as
    :obj:`gru` run on each sequence alone.

    Args:
        gru (torch.nn.GRU): The GRU, whose weights are used as they are.
        layout (PackedLayout): The layout of the sequences.
        x (torch.Tensor): The input rows, of shape
            :obj:`[num_rows, gru.input_size]`.
        src (torch.Tensor, optional): The row of :obj:`x` that each packed
            row reads, of shape :obj:`[layout.num_packed]`; if :obj:`None`,
            :obj:`x` is already packed. When :obj:`x` has fewer rows than
            the packing (node features read by every out-edge), the input
            projection is computed once per row of :obj:`x`.
            (default: :obj:`None`)
        cudnn (bool, optional): Whether to run cuDNN's packed GRU; by
            default whenever :obj:`x` is on a CUDA device.
            (default: :obj:`None`)
        workspace (Workspace, optional): A pool for the scratch buffers of
            the CPU kernel. (default: :obj:`None`)
    """
    num_dirs = 2 if gru.bidirectional else 1
    hidden = gru.hidden_size
    if layout.num_packed == 0:  # Still part of the graph (of x):
        return x[:0, :1].expand(0, num_dirs * hidden) * 0

    if use_cudnn(x) if cudnn is None else cudnn:
        data = x if src is None else x.index_select(0, src)
        _, h_n = gru(PackedSequence(data, layout.batch_sizes))
        return h_n[-num_dirs:].transpose(0, 1).reshape(-1, num_dirs * hidden)

    for layer in range(gru.num_layers):
        top = layer == gru.num_layers - 1
        outputs: List[Tensor] = []
        for direction in range(num_dirs):
            rows = src
            if direction == 1:  # Read every sequence reversed.
                rev = layout.reverse_perm
                rows = rev if rows is None else rows.index_select(0, rev)
            out = run_layer(x, rows, gru_parameters(gru, layer, direction),
                            layout, not top, workspace)
            if direction == 1 and not top:
                out = out.index_select(0, layout.reverse_perm)
            outputs.append(out)
        x = torch.cat(outputs, dim=-1) if num_dirs > 1 else outputs[0]
        src = None
        if not top and gru.dropout > 0 and gru.training:
            x = F.dropout(x, p=gru.dropout, training=True)
    return x
