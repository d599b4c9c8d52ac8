r"""The inputs of a :class:`~torch_geometric_gru.GRUConv`, normalised and
checked in one place (:func:`conv_inputs`): node features, edges in any of
PyG's adjacency types, sizes, edge features and weights, the edge ranges;
and the choice of its aggregation."""
import operator
from typing import Any, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric import EdgeIndex
from torch_geometric.typing import (
    Adj,
    OptPairTensor,
    OptTensor,
    Size,
    SparseTensor,
)
from torch_geometric.utils import is_sparse

from torch_geometric_gru._checks import (
    check_features,
    check_float,
    check_index_dtype,
    check_index_range,
    check_same_dtype,
)
from torch_geometric_gru.aggr.gru import GRUAggregation
from torch_geometric_gru.aggr.mingru import MinGRUAggregation
from torch_geometric_gru.ops.pack import check_edges
from torch_geometric_gru.aggr.sequence import SequenceAggregation
from torch_geometric_gru.layout.grouping import index_of


def conv_aggregation(cell: str, channels: int, num_layers: int,
                     bidirectional: bool, dropout: float, bias: bool,
                     kernel: str, checkpoint: bool,
                     **order) -> SequenceAggregation:
    r"""The aggregation of a :class:`~torch_geometric_gru.GRUConv`: a
    :class:`~torch_geometric_gru.GRUAggregation` for :obj:`cell="gru"`, a
    :class:`~torch_geometric_gru.MinGRUAggregation` for
    :obj:`cell="mingru"`, :obj:`channels` wide; :obj:`order` holds the
    order options."""
    if cell == 'gru':
        return GRUAggregation(channels, channels, num_layers=num_layers,
                              bidirectional=bidirectional, dropout=dropout,
                              bias=bias, kernel=kernel,
                              checkpoint=checkpoint, **order)
    if cell == 'mingru':
        if kernel != 'auto' or checkpoint:
            raise ValueError("'kernel' and 'checkpoint' are options of "
                             "cell='gru'; drop them for cell='mingru'")
        if num_layers != 1 or bidirectional:
            raise ValueError("cell='mingru' has one layer and one "
                             "direction; drop 'num_layers' and "
                             "'bidirectional'")
        return MinGRUAggregation(channels, channels, bias=bias, **order)
    raise ValueError(f"'cell' must be 'gru' or 'mingru' (got {cell!r})")


def edge_parts(edge_index: Adj) -> Tuple[Tensor, Tensor, OptTensor]:
    r"""Returns :obj:`(src, dst, value)` of every edge of :obj:`edge_index`
    in its storage order: a :obj:`[2, num_edges]` tensor (or
    :class:`~torch_geometric.EdgeIndex`) holds source and destination rows;
    a :class:`torch_sparse.SparseTensor` or :class:`torch.sparse.Tensor` is
    the transposed adjacency :obj:`adj_t` (rows are destinations), as
    everywhere in PyG. The caller's adjacency is only read: no flag of it
    changes (PyG's :func:`~torch_geometric.utils.to_edge_index` marks an
    uncoalesced COO tensor as coalesced)."""
    if is_sparse(edge_index):
        row, col, value = _sparse_entries(edge_index)
        return col, row, value
    if isinstance(edge_index, EdgeIndex):
        edge_index = edge_index.as_tensor()
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"'edge_index' must be a [2, num_edges] tensor, an "
                        f"EdgeIndex, a SparseTensor or a torch.sparse tensor "
                        f"(got {type(edge_index).__name__})")
    check_index_dtype('edge_index', edge_index)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'edge_index' must have shape [2, num_edges] (got "
                         f"{tuple(edge_index.shape)}); stack source and "
                         f"destination rows, e.g. "
                         f"'torch.stack([src, dst])'")
    return edge_index[0], edge_index[1], None


def _sparse_entries(adj: Adj) -> Tuple[Tensor, Tensor, OptTensor]:
    r"""The rows, columns and values of a sparse matrix in storage order:
    for a :class:`torch_sparse.SparseTensor`, a CSR or a coalesced COO
    tensor, row by row with ascending columns; for a CSC tensor, column by
    column; for an uncoalesced COO tensor, the order of its entries."""
    if isinstance(adj, SparseTensor):
        return adj.coo()
    if adj.layout == torch.sparse_coo:
        if adj.is_coalesced():
            indices, value = adj.indices(), adj.values()
        elif adj.requires_grad:
            raise ValueError(
                "'edge_index' is an uncoalesced sparse COO tensor whose "
                "values require grad, which PyTorch cannot read in entry "
                "order; pass 'edge_index.coalesce()' (each node then reads "
                "its neighbours by ascending index), or the edges as "
                "'edge_index' with 'edge_weight'/'edge_attr'")
        else:  # Entry order, without flagging the caller's tensor.
            indices, value = adj._indices(), adj._values()
        return indices[0], indices[1], value
    if adj.layout == torch.sparse_csr:
        row = index_of(adj.crow_indices(), adj.col_indices().numel())
        return row, adj.col_indices(), adj.values()
    if adj.layout == torch.sparse_csc:
        col = index_of(adj.ccol_indices(), adj.row_indices().numel())
        return adj.row_indices(), col, adj.values()
    raise TypeError(f"'edge_index' has the sparse layout {adj.layout}, "
                    f"which is not supported; convert it with "
                    f"'.to_sparse_coo()' or '.to_sparse_csr()'")


def node_sizes(x_src: Tensor, x_dst: OptTensor, edge_index: Adj,
               size: Size) -> Tuple[int, int]:
    r"""The numbers of source and destination nodes, from the features,
    the adjacency's own size and :obj:`size`, which must agree."""
    num_src = x_src.size(0)
    num_dst = num_src if x_dst is None else x_dst.size(0)
    if size is not None and (not isinstance(size, (tuple, list))
                             or len(size) != 2):
        raise TypeError(f"'size' must be a pair (num_src_nodes, "
                        f"num_dst_nodes) (got {size!r})")
    if size is not None:  # NumPy or 0-d tensor integers, as PyG takes.
        try:
            size = tuple(None if n is None else operator.index(n)
                         for n in size)
        except TypeError:
            raise TypeError(f"'size' must hold integers or None (got "
                            f"{size!r}); pass e.g. size=(num_src_nodes, "
                            f"num_dst_nodes)") from None
    if is_sparse(edge_index):  # adj_t is [num_dst, num_src].
        sparse_size = (edge_index.size(1), edge_index.size(0))
        if size is None:
            dst_rows = num_dst if x_dst is not None else sparse_size[1]
            if sparse_size != (num_src, dst_rows):
                raise ValueError(
                    f"'edge_index' is a sparse adjacency (adj_t) of "
                    f"shape [{sparse_size[1]}, {sparse_size[0]}] but "
                    f"'x' has {num_src} source and {dst_rows} "
                    f"destination nodes; build adj_t with shape "
                    f"[{dst_rows}, {num_src}] (num_dst_nodes, "
                    f"num_src_nodes)")
            size = sparse_size
        elif tuple(size) != sparse_size:
            raise ValueError(f"'size' {tuple(size)} does not match the "
                             f"sparse adjacency's (num_src, num_dst) = "
                             f"{sparse_size}")
    if isinstance(edge_index, EdgeIndex) and size is None:
        size = (edge_index.num_rows, edge_index.num_cols)
    if size is not None:
        if size[0] is not None and size[0] != num_src:
            raise ValueError(f"'size[0]' is {size[0]} but 'x' has "
                             f"{num_src} source nodes; pass "
                             f"size=({num_src}, ...)")
        if (size[1] is not None and x_dst is not None
                and size[1] != num_dst):
            raise ValueError(f"'size[1]' is {size[1]} but 'x' has "
                             f"{num_dst} destination nodes; pass "
                             f"size=(..., {num_dst})")
        if size[1] is not None:
            num_dst = size[1]
    return num_src, num_dst


def edge_inputs(edge_attr: OptTensor, edge_weight: OptTensor,
                value: OptTensor, num_edges: int, edge_dim: Optional[int],
                weight: OptTensor = None) -> Tuple[OptTensor, OptTensor]:
    r"""Checks the edge features and weights of a layer built with
    :obj:`edge_dim` (:obj:`None`: no edge features) and parameters like
    :obj:`weight` (their dtype); a sparse adjacency's values :obj:`value`
    are weights (1-D) or features (2-D)."""
    given = edge_attr is not None
    if value is not None and value.dim() == 1:
        if edge_weight is not None:
            raise ValueError("The sparse adjacency holds edge weights "
                             "and 'edge_weight' was given too; pass one")
        edge_weight = value
    elif value is not None:
        if edge_attr is not None:
            raise ValueError("The sparse adjacency holds edge features "
                             "and 'edge_attr' was given too; pass one")
        edge_attr = value
    if edge_dim is None:
        if edge_attr is not None:
            what = ("'edge_attr' was given" if given else
                    "The sparse adjacency holds edge features")
            raise ValueError(f"{what} but the layer has no edge "
                             f"features; build it with "
                             f"edge_dim={edge_attr.size(-1)}")
    elif edge_attr is None:
        raise ValueError(f"The layer was built with edge_dim="
                         f"{edge_dim} but got no 'edge_attr'")
    else:
        check_float('edge_attr', edge_attr)
        check_same_dtype('edge_attr', edge_attr, weight)
        if edge_attr.dim() == 1:
            edge_attr = edge_attr.view(-1, 1)
        check_features('edge_attr', edge_attr, edge_dim, 'edge_dim')
        if edge_attr.size(0) != num_edges:
            raise ValueError(f"'edge_attr' has {edge_attr.size(0)} rows "
                             f"but 'edge_index' has {num_edges} edges")
    if edge_weight is not None:
        check_float('edge_weight', edge_weight)
        check_same_dtype('edge_weight', edge_weight, weight)
        if edge_weight.dim() != 1 or edge_weight.numel() != num_edges:
            raise ValueError(f"'edge_weight' must hold one weight per "
                             f"edge, shape [{num_edges}] (got "
                             f"{tuple(edge_weight.shape)})")
    return edge_attr, edge_weight


def check_edge_range(src: Tensor, dst: Tensor, num_src: int,
                     num_dst: int) -> Tensor:
    r"""Checks that the edges' sources and destinations are in range, on
    every call: one pass over the edges, as cheap as comparing them with a
    remembered copy, and never fooled by writes PyTorch does not track.
    Returns the destinations to read on. Traced by :func:`torch.compile` or
    :func:`torch.export`, the check is the :obj:`check_edges` operator,
    whose errors name :obj:`edge_index` as in eager mode."""
    if torch.compiler.is_compiling():
        return check_edges(src, dst, num_src, num_dst)
    check_index_range('edge_index[0]', src, num_src, 'num_src_nodes')
    check_index_range('edge_index[1]', dst, num_dst, 'num_dst_nodes')
    return dst


class ConvInputs(NamedTuple):
    r"""The normalised inputs of one :class:`GRUConv` forward."""
    x_src: Tensor
    x_dst: OptTensor
    bipartite: bool
    src: Tensor  # The source of every edge, in edge order.
    dst: Tensor  # The destination of every edge, in edge order.
    edge_index: Tensor  # What PyG's propagate reads (a sparse one as dense).
    num_src: int
    num_dst: int
    edge_attr: OptTensor
    edge_weight: OptTensor


def conv_inputs(conv: Any, x: Union[Tensor, OptPairTensor], edge_index: Adj,
                edge_attr: OptTensor, size: Size, edge_weight: OptTensor,
                ) -> ConvInputs:
    r"""Checks and normalises the inputs of a forward of :obj:`conv`: the
    errors name the argument the user passed."""
    if isinstance(x, Tensor):
        x = (x, x)
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise TypeError(f"'x' must be a tensor of node features or a "
                        f"pair (x_src, x_dst) of a bipartite graph (got "
                        f"{type(x).__name__}); pass e.g. "
                        f"'torch.as_tensor(x)'")
    x_src, x_dst = x
    bipartite = x_src is not x_dst
    channels = _channels(conv)
    check_features('x', x_src, channels[0])
    check_same_dtype('x', x_src, getattr(conv.lin, 'weight', None))
    if x_dst is not None:
        check_features('x', x_dst, channels[1])
    elif conv.lin_root is not None:
        raise ValueError("'x' has no destination features; pass them "
                         "as x=(x_src, x_dst) or build the layer with "
                         "root_weight=False")
    src, dst, value = edge_parts(edge_index)
    if conv.flow == 'target_to_source':
        if bipartite:
            raise ValueError("flow='target_to_source' reverses the edges "
                             "of a graph; for a bipartite graph, swap "
                             "the roles of 'x' and the rows of "
                             "'edge_index' instead")
        src, dst = dst, src
    num_src, num_dst = node_sizes(x_src, x_dst, edge_index, size)
    if is_sparse(edge_index):  # PyG's propagate reads it as we do.
        edge_index = torch.stack([src, dst])
    edge_attr, edge_weight = edge_inputs(
        edge_attr, edge_weight, value, src.numel(), conv.edge_dim,
        getattr(conv.lin, 'weight', None))
    dst = check_edge_range(src, dst, num_src, num_dst)

    return ConvInputs(x_src, x_dst, bipartite, src, dst, edge_index,
                      num_src, num_dst, edge_attr, edge_weight)


def _channels(conv: Any) -> Tuple[int, int]:
    r"""The input widths of :obj:`conv`, once known (after a lazy first
    call)."""
    pair = ((conv.in_channels, conv.in_channels)
            if isinstance(conv.in_channels, int) else conv.in_channels)
    return (getattr(conv.lin, 'in_channels', pair[0]),
            getattr(conv.lin_root, 'in_channels', pair[1]))
