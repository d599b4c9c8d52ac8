r"""The segments of the minGRU scan from a packed layout: the sequences
in rank order (longest first), each a contiguous run of elements in its
own order, as a CSR pointer vector and the packed row of every run
element."""
from typing import Tuple

import torch
from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout


def _build(layout: PackedLayout) -> Tuple[Tensor, Tensor]:
    device = layout.device
    lengths = layout.degree.index_select(0, layout.nodes)
    ptr = torch.zeros(lengths.numel() + 1, dtype=torch.long, device=device)
    torch.cumsum(lengths, 0, out=ptr[1:])
    num = layout.num_packed
    seq = torch.repeat_interleave(
        torch.arange(lengths.numel(), device=device), lengths,
        output_size=num)
    step = torch.arange(num, device=device) - ptr[seq]
    # Step t of the sequence of rank k is packed row offsets[t] + k.
    offsets = torch.tensor(layout.offsets, device=device)
    return offsets[step] + seq, ptr


def segments(layout: PackedLayout) -> Tuple[Tensor, Tensor]:
    r"""Returns :obj:`(packed_row, ptr)`: segment :obj:`k` is the sequence
    of rank :obj:`k` (:obj:`layout.nodes[k]`), its elements are
    :obj:`packed_row[ptr[k]:ptr[k + 1]]` in sequence order. Built once per
    layout and kept with it (:meth:`PackedLayout.plan`)."""
    return layout.plan('mingru_segments', _build)
