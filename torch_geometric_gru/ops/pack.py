r"""The :obj:`torch_geometric_gru::pack` operator: the packed layout of an
index vector as three fixed-shape index tensors, and the lookup that turns
them back into a :class:`~torch_geometric_gru.PackedLayout` inside the
kernels' operators.

Everything that depends on the *values* of the index (the sort, the range
checks, the number of steps) happens inside the operator, so that
:func:`torch.compile` and :func:`torch.export` see one opaque call whose
outputs have static shapes: :obj:`[E]`, :obj:`[N]`, :obj:`[N]`, :obj:`[E]`.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru._checks import check_index_range
from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.layout.registry import register


@torch.library.custom_op('torch_geometric_gru::pack', mutates_args=())
def pack(index: Tensor, dim_size: int, order: Optional[Tensor],
         x_index: Optional[Tensor], num_rows: int,
         ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Builds the packed layout of :obj:`index` (the node of every
    element, in :obj:`[0, dim_size)`), each node reading its elements in
    their order in :obj:`index` or sorted by :obj:`order`, and checks the
    ranges. Returns :obj:`perm` (the element of every packed row),
    :obj:`node_perm` (nodes by descending sequence length), :obj:`degree`
    and :obj:`src`: the row of the input that every packed row reads,
    :obj:`x_index[perm]` (or :obj:`perm` without :obj:`x_index`), checked
    against :obj:`num_rows`."""
    layout = PackedLayout(index, dim_size, order=order)
    return _outputs(layout, x_index, num_rows, clone=True)


@pack.register_fake
def _(index, dim_size, order, x_index, num_rows):
    torch._check(index.dim() == 1, lambda: "'index' must be 1-D")
    num = index.numel()
    if order is not None:
        torch._check(order.shape == index.shape,
                     lambda: "'order' needs one key per element")
    if x_index is not None:
        torch._check(x_index.shape == index.shape,
                     lambda: "'x_index' needs one row per element")
    long = dict(dtype=torch.long, device=index.device)
    return (torch.empty(num, **long), torch.empty(dim_size, **long),
            torch.empty(dim_size, **long), torch.empty(num, **long))


def _outputs(layout: PackedLayout, x_index: Optional[Tensor], num_rows: int,
             clone: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    src = layout.perm
    if x_index is not None:
        check_index_range('x_index', x_index, num_rows, 'x.size(0)')
        src = x_index.long().index_select(0, src)
    elif clone:
        src = src.clone()  # Outputs of an operator never alias.
    return layout.perm, layout.node_perm, layout.degree, src


def pack_layout(index: Tensor, dim_size: int, order: Optional[Tensor] = None,
                x_index: Optional[Tensor] = None, num_rows: int = 0,
                ) -> Tuple[Tuple[Tensor, Tensor, Tensor], Tensor]:
    r"""The packed layout of :obj:`index` as :obj:`((perm, node_perm,
    degree), src)`: through the :obj:`pack` operator when traced by
    :func:`torch.compile`/:func:`torch.export`; in eager mode directly,
    with the layout registered, so that the GRU operators find it and its
    plans again."""
    if torch.compiler.is_compiling():
        perm, node_perm, degree, src = pack(index, dim_size, order, x_index,
                                            num_rows)
        return (perm, node_perm, degree), src
    layout = register(PackedLayout(index, dim_size, order=order))
    perm, node_perm, degree, src = _outputs(layout, x_index, num_rows,
                                            clone=False)
    return (perm, node_perm, degree), src


@torch.library.custom_op('torch_geometric_gru::check_edges', mutates_args=())
def check_edges(src: Tensor, dst: Tensor, num_src: int, num_dst: int,
                ) -> Tensor:
    r"""Checks that the sources :obj:`src` of the edges lie in
    :obj:`[0, num_src)` and their destinations :obj:`dst` in
    :obj:`[0, num_dst)`, with errors that name :obj:`edge_index`, and
    returns a copy of :obj:`dst`: read by what follows, so that a compiled
    graph keeps the check before the layout is built."""
    check_index_range('edge_index[0]', src, num_src, 'num_src_nodes')
    check_index_range('edge_index[1]', dst, num_dst, 'num_dst_nodes')
    return dst.clone()


@check_edges.register_fake
def _(src, dst, num_src, num_dst):
    torch._check(src.shape == dst.shape,
                 lambda: "'edge_index' needs a source and a destination per "
                         "edge")
    return torch.empty_like(dst)
