r"""The plan of one forward of a sequence aggregation: the packed layout
to read (cached per graph, or traced through the :obj:`pack` operator
under :func:`torch.compile`), the input row of every packed row, and the
random orders, subsets and dropped elements of the order options, drawn
anew per call."""
from typing import Any, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru.layout.grouping import index_of
from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.layout.plan import random_plan
from torch_geometric_gru.layout.registry import LayoutParts
from torch_geometric_gru.ops.pack import pack_layout


class Call(NamedTuple):
    r"""The arguments of one aggregation call that its plan reads."""
    x: Tensor
    index: Optional[Tensor]
    ptr: Optional[Tensor]
    dim_size: Optional[int]
    max_num_elements: Optional[int]
    x_index: Optional[Tensor]
    validate: bool
    order: Optional[Tensor]


def plan(aggr: Any, call: Call) -> Tuple[PackedLayout, Tensor, int]:
    r"""Returns the layout to read, the row of :obj:`x` that each packed
    row reads, and the number of copies of every node (random orders to
    average over)."""
    x, index, ptr, dim_size, max_num_elements, x_index, _, order = call
    num_elements = x.size(0) if x_index is None else x_index.numel()
    copies = 1 if aggr.training else aggr.num_permutations
    if torch.compiler.is_compiling() and max_num_elements is None and \
            aggr.max_length is None and copies == 1 and not (
                aggr.training and (aggr.shuffle or aggr.edge_dropout > 0)):
        # Traced: the layout is the output of the `pack` operator,
        # which sorts and checks inside; no cache across calls.
        if dim_size is None:
            raise ValueError(
                f"'{aggr.__class__.__name__}' needs 'dim_size' under "
                f"torch.compile (the number of nodes cannot be read "
                f"from the values of 'index' while tracing)")
        if index is None:
            index = index_of(ptr, num_elements)
        parts, src = pack_layout(index, dim_size, order, x_index,
                                 x.size(0))
        return LayoutParts(*parts), src, 1
    return _eager_plan(aggr, call)


@torch.compiler.disable
def _eager_plan(aggr: Any, call: Call) -> Tuple[PackedLayout, Tensor, int]:
    # Cached layouts, truncation and random orders and subsets: built
    # eagerly (a graph break under torch.compile).
    x, index, ptr, dim_size, max_num_elements, x_index, validate, order = \
        call
    num_elements = x.size(0) if x_index is None else x_index.numel()
    layout, src = aggr._layouts.get(num_elements, index, ptr, dim_size,
                                    max_num_elements, x_index, x.size(0),
                                    validate, order)
    copies = 1 if aggr.training else aggr.num_permutations
    shuffle = (aggr.shuffle and aggr.training) or copies > 1
    subset = (aggr.max_length is not None
              and layout.num_steps > aggr.max_length)
    drop = aggr.edge_dropout if aggr.training else 0.0
    if not shuffle and not subset and not drop:
        return layout, src, 1

    # A random plan: built anew at every call, from the checked input.
    if index is None:
        index = index_of(ptr, num_elements)
    layout, src = random_plan(index, layout.num_nodes, copies, order,
                              max_num_elements,
                              aggr.max_length if subset else None,
                              shuffle, aggr.generator, drop)
    if x_index is not None:
        src = x_index.long().index_select(0, src)
    return layout, src, copies
