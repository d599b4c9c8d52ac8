r"""What the ordering transforms share: the checks of their inputs and
the permutation of every edge-level attribute with :obj:`edge_index`."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData
from torch_geometric.data.storage import EdgeStorage
from torch_geometric.transforms import BaseTransform

from torch_geometric_gru._checks import check_index_range
from torch_geometric_gru.layout.grouping import group

# Edge-level keys that are not aligned with `edge_index` (supervision).
_NOT_ALIGNED = {'edge_index', 'edge_label', 'edge_label_index'}

_KEYS = ('degree', 'id')  # The built-in sort keys.


def _check_rank_attr(rank_attr: Optional[str]) -> None:
    if rank_attr is not None and (not isinstance(rank_attr, str)
                                  or 'edge' not in rank_attr):
        raise ValueError(f"'rank_attr' must be None or an attribute name "
                         f"that contains 'edge' (so that PyG treats it as "
                         f"edge-level), e.g. 'edge_rank' (got {rank_attr!r})")


def _check_data(transform: BaseTransform, data) -> None:
    if not isinstance(data, (Data, HeteroData)):
        raise TypeError(f"'{type(transform).__name__}' transforms a Data or "
                        f"HeteroData object (got {type(data).__name__}); "
                        f"wrap the edges, e.g. 'Data(edge_index=edge_index, "
                        f"num_nodes=...)'")


def _order_edges(store: EdgeStorage, dst: Tensor, key: Tensor,
                 descending: bool, rank_attr: Optional[str]) -> None:
    r"""Groups the edges of :obj:`store` by destination, each group by
    :obj:`key`, and records each edge's rank in its destination's sequence
    as :obj:`store[rank_attr]`."""
    perm, rank = group(dst, store.size(1), key, descending)
    permute_edges(store, perm)
    if rank_attr is not None:
        store[rank_attr] = rank


def permute_edges(store: EdgeStorage, perm: Tensor) -> None:
    r"""Permutes :obj:`edge_index` and every edge-level attribute of
    :obj:`store` by :obj:`perm` (new tensors; nothing is written in
    place)."""
    parent = store._parent()
    for key, value in list(store.items()):
        if key in _NOT_ALIGNED or not store.is_edge_attr(key):
            if key in ('edge_attr', 'edge_weight') and isinstance(
                    value, Tensor):  # PyG's edge-level names: misaligned.
                raise ValueError(
                    f"'{key}' has shape {tuple(value.shape)} but "
                    f"'edge_index' has {store.num_edges} edges; it must "
                    f"hold one row per edge to be reordered with them")
            continue
        if isinstance(value, Tensor):
            dim = parent.__cat_dim__(key, value, store)
            store[key] = value.index_select(dim, perm.to(value.device))
        elif isinstance(value, (list, tuple)):
            store[key] = [value[i] for i in perm.tolist()]
    store.edge_index = store.edge_index.index_select(1, perm)


def _edge_index(store: EdgeStorage) -> Optional[Tensor]:
    if 'edge_index' not in store:
        if 'adj_t' in store or 'adj' in store:
            raise ValueError("Ordering transforms reorder 'edge_index'; apply "
                             "them before converting it to a sparse "
                             "adjacency (e.g. before 'ToSparseTensor')")
        return None
    edge_index = store.edge_index
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"'edge_index' must be a [2, num_edges] tensor (got "
                        f"{type(edge_index).__name__})")
    if edge_index.dtype not in (torch.long, torch.int):
        raise TypeError(f"'edge_index' must be an integer tensor (got "
                        f"{edge_index.dtype}); convert it with "
                        f"'edge_index.long()'")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'edge_index' must have shape [2, num_edges] (got "
                         f"{tuple(edge_index.shape)}); stack source and "
                         f"destination rows, e.g. 'torch.stack([src, dst])'")
    src_size, dst_size = store.size()
    check_index_range('edge_index[0]', edge_index[0], src_size,
                      'num_src_nodes')
    check_index_range('edge_index[1]', edge_index[1], dst_size,
                      'num_dst_nodes')
    return edge_index
