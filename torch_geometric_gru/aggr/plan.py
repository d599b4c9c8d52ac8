r"""The plan of one forward of a sequence aggregation: the packed layout
to read (cached per graph, or traced through the :obj:`pack` operator
under :func:`torch.compile`), the input row of every packed row, and the
random orders, subsets and dropped elements of the order options, drawn
anew per call."""
from typing import Any, NamedTuple, Optional, Union

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


class Plan(NamedTuple):
    r"""What one forward reads: the layout, the row of :obj:`x` that each
    packed row reads, the number of copies of every node (random orders to
    average over), and the number of leading nodes of the layout that are
    the output (the rest read dropped elements; :obj:`None`: all)."""
    layout: Union[PackedLayout, LayoutParts]
    src: Tensor
    copies: int = 1
    num_out: Optional[int] = None


def plan(aggr: Any, call: Call) -> Plan:
    r"""Returns the :class:`Plan` of :obj:`call`."""
    x, index, ptr, dim_size, max_num_elements, x_index, _, order = call
    num_elements = x.size(0) if x_index is None else x_index.numel()
    copies = 1 if aggr.training else aggr.num_permutations
    drop = aggr.edge_dropout if aggr.training else 0.0
    if torch.compiler.is_compiling() and max_num_elements is None and \
            aggr.max_length is None and copies == 1 and not (
                aggr.training and aggr.shuffle) and not (
                    drop > 0 and aggr.generator is not None):
        # Traced: the layout is the output of the `pack` operator,
        # which sorts and checks inside; no cache across calls.
        if dim_size is None:
            raise ValueError(
                f"'{aggr.__class__.__name__}' needs 'dim_size' under "
                f"torch.compile (the number of nodes cannot be read "
                f"from the values of 'index' while tracing)")
        if index is None:
            index = index_of(ptr, num_elements)
        num_out = None
        if drop > 0:
            # Static shapes: every dropped element becomes the only
            # element of a node of its own, after the real ones, whose
            # state is not returned.
            keep = torch.rand(num_elements, device=index.device) >= drop
            extra = torch.arange(num_elements, device=index.device)
            index = torch.where(keep, index.long(), dim_size + extra)
            dim_size, num_out = dim_size + num_elements, dim_size
        parts, src = pack_layout(index, dim_size, order, x_index,
                                 x.size(0))
        return Plan(LayoutParts(*parts), src, 1, num_out)
    return _eager_plan(aggr, call)


@torch.compiler.disable
def _eager_plan(aggr: Any, call: Call) -> Plan:
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
        return Plan(layout, src)

    # A random plan: built anew at every call, from the checked input.
    if index is None:
        index = index_of(ptr, num_elements)
    layout, src = random_plan(index, layout.num_nodes, copies, order,
                              max_num_elements,
                              aggr.max_length if subset else None,
                              shuffle, aggr.generator, drop)
    if x_index is not None:
        src = x_index.long().index_select(0, src)
    return Plan(layout, src, copies)
