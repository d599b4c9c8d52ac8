r"""Positional encodings of each element's rank in its sequence, added to
the messages before a recurrence reads them."""
from typing import Any, Optional, Union

import torch
from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.layout.registry import LayoutParts, as_layout


def sinusoidal_encoding(length: int, channels: int,
                        dtype: torch.dtype = torch.float,
                        device: Optional[torch.device] = None) -> Tensor:
    r"""The transformer's sinusoidal encoding of positions
    :math:`t = 0, \ldots, \text{length} - 1`:

    .. math::
        \mathrm{pe}[t, 2k] = \sin\left(t / 10000^{2k / d}\right), \qquad
        \mathrm{pe}[t, 2k + 1] = \cos\left(t / 10000^{2k / d}\right)

    with :math:`d` = :obj:`channels`. Computed in float64, then cast."""
    t = torch.arange(length, dtype=torch.float64).view(-1, 1)
    k2 = torch.arange(0, channels, 2, dtype=torch.float64)
    angle = t / torch.pow(10000.0, k2 / channels)
    pe = torch.zeros(length, channels, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, :channels // 2])
    return pe.to(dtype=dtype, device=device)


@torch.compiler.disable
def rank_encoding(aggr: Any, layout: Union[PackedLayout, LayoutParts],
                  x: Tensor) -> Tensor:
    r"""The positional encoding of every packed row's rank."""
    layout = as_layout(layout)
    if aggr.pos_embedding is not None:
        return aggr.pos_embedding(layout.step)
    table = sinusoidal_encoding(layout.num_steps, aggr.in_channels,
                                x.dtype, x.device)
    return table.index_select(0, layout.step)
