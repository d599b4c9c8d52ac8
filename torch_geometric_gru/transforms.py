r"""Transforms that set the order in which every node reads its incoming
neighbours (the order of its in-edges in :obj:`edge_index`)."""
import difflib
from typing import Callable, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.data.storage import EdgeStorage
from torch_geometric.transforms import BaseTransform

from torch_geometric_gru._checks import (
    check_bool,
    check_index_range,
    check_seed,
)
from torch_geometric_gru.grouping import group

# Edge-level keys that are not aligned with `edge_index` (supervision).
_NOT_ALIGNED = {'edge_index', 'edge_label', 'edge_label_index'}

Key = Union[str, Callable[[Union[Data, HeteroData]], Tensor]]
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


@functional_transform('sort_neighbors')
class SortNeighbors(BaseTransform):
    r"""Reorders the edges of every edge type so that each node reads its
    in-neighbours sorted by a key (functional name:
    :obj:`sort_neighbors`). Edges come out grouped by destination node;
    within a node they are ordered by the key of the edge's source, ties in
    their current order. Every edge-level attribute (:obj:`edge_attr`,
    :obj:`edge_weight`, ...) is permuted together with :obj:`edge_index`;
    node attributes are left alone.

    .. code-block:: python

        from torch_geometric_gru.transforms import SortNeighbors

        data = SortNeighbors('degree', descending=True)(data)  # hubs first
        data = SortNeighbors('score')(data)  # by the node attribute data.score

    Args:
        key (str or callable, optional): What to sort by:
            :obj:`"degree"` (the neighbour's degree within the edge type:
            its incoming plus outgoing edges), :obj:`"id"` (the neighbour's
            node index), the name of a node-level attribute of the source
            node type holding one score per node (shape :obj:`[N]` or
            :obj:`[N, 1]`; in a heterogeneous graph, edge types whose source
            node type lacks it keep their order), or a callable that maps
            the data object (for heterogeneous graphs: the edge store) to
            one score per source node (:obj:`[N]`) or per edge
            (:obj:`[E]`). A near-miss of a built-in key (:obj:`"degre"`,
            :obj:`"ID"`) is an error at construction; to sort by an
            attribute with such a name, pass a callable.
            (default: :obj:`"degree"`)
        descending (bool, optional): Sort in descending order.
            (default: :obj:`False`)
        rank_attr (str, optional): Where to record each edge's rank in its
            destination's sequence (:obj:`0, 1, ...`): an edge-level
            attribute that follows the edges through later permutations
            and subsets (:class:`~torch_geometric.transforms.ToSparseTensor`,
            :class:`~torch_geometric.transforms.RandomLinkSplit`, neighbour
            sampling), so that the layers can read the order from it
            (:obj:`order=data.edge_rank`) whatever the edges' storage order.
            :obj:`None` records nothing. (default: :obj:`"edge_rank"`)
    """
    def __init__(self, key: Key = 'degree', descending: bool = False,
                 rank_attr: Optional[str] = 'edge_rank'):
        _check_rank_attr(rank_attr)
        if not (callable(key) or isinstance(key, str)):
            raise TypeError(f"'key' must be 'degree', 'id', the name of a "
                            f"node attribute or a callable (got "
                            f"{type(key).__name__})")
        if isinstance(key, str) and key not in _KEYS and (
                difflib.get_close_matches(key.lower(), _KEYS, cutoff=0.85)):
            raise ValueError(
                f"'key' {key!r} is not a built-in key; the built-in keys "
                f"are {', '.join(map(repr, _KEYS))} (any other string names "
                f"a node attribute: for an attribute called {key!r}, pass "
                f"key=lambda data: data[{key!r}])")
        check_bool('descending', descending)
        self.key = key
        self.descending = descending
        self.rank_attr = rank_attr

    def forward(self, data: Union[Data, HeteroData],
                ) -> Union[Data, HeteroData]:
        _check_data(self, data)
        sorted_any = False
        for store in data.edge_stores:
            edge_index = _edge_index(store)
            if edge_index is None:
                continue
            if (isinstance(data, HeteroData) and isinstance(self.key, str)
                    and self.key not in ('degree', 'id')
                    and self.key not in data[store._key[0]]):
                continue  # This source node type has no such attribute.
            sorted_any = True
            score = self._score(data, store, edge_index)
            if score.is_floating_point() and not torch.isfinite(score).all():
                raise ValueError(f"The sort key {self.key!r} holds "
                                 f"non-finite values; fill or drop them "
                                 f"before sorting neighbours by it")
            _order_edges(store, edge_index[1], score, self.descending,
                         self.rank_attr)
        if isinstance(data, HeteroData) and not sorted_any and \
                len(data.edge_types) > 0:
            raise ValueError(f"Cannot sort neighbours by {self.key!r}: it is "
                             f"not an attribute of any source node type")
        return data

    def _score(self, data, store: EdgeStorage, edge_index: Tensor) -> Tensor:
        src = edge_index[0]
        num_src, num_dst = store.size()
        num_edges = src.numel()
        if self.key == 'degree':
            degree = torch.bincount(src, minlength=num_src)
            if not store.is_bipartite():
                degree = degree + torch.bincount(edge_index[1],
                                                 minlength=num_src)
            return degree.index_select(0, src)
        if self.key == 'id':
            return src
        if callable(self.key):
            target = data if isinstance(data, Data) else store
            score = self.key(target)
            name = 'the callable key'
        else:
            nodes = data if isinstance(data, Data) else \
                data[store._key[0]]
            if self.key not in nodes:
                raise ValueError(f"Cannot sort neighbours by {self.key!r}: "
                                 f"it is not an attribute of the source "
                                 f"nodes; use 'degree', 'id', a node "
                                 f"attribute name or a callable")
            score, name = nodes[self.key], f'node attribute {self.key!r}'
        if not isinstance(score, Tensor):
            raise TypeError(f"{name} must give a tensor (got "
                            f"{type(score).__name__})")
        if score.dim() == 2 and score.size(1) == 1:
            score = score.view(-1)
        if score.dim() != 1:
            raise ValueError(f"{name} must hold one score per node or per "
                             f"edge (got shape {tuple(score.shape)}); reduce "
                             f"multi-dimensional features to one value")
        if callable(self.key) and score.numel() == num_edges and \
                score.numel() != num_src:
            return score
        if score.numel() != num_src:
            raise ValueError(f"{name} has {score.numel()} entries but there "
                             f"are {num_src} source nodes and {num_edges} "
                             f"edges")
        return score.index_select(0, src)

    def __repr__(self) -> str:
        key = self.key if isinstance(self.key, str) else \
            getattr(self.key, '__name__', 'callable')
        return (f'{self.__class__.__name__}(key={key!r}, '
                f'descending={self.descending})')


@functional_transform('shuffle_neighbors')
class ShuffleNeighbors(BaseTransform):
    r"""Reorders the edges of every edge type so that each node reads its
    in-neighbours in a uniformly random order (functional name:
    :obj:`shuffle_neighbors`). Edges come out grouped by destination node;
    every edge-level attribute is permuted together with
    :obj:`edge_index`. Applied once, it fixes one random order; applied at
    every epoch, it draws a new one (compare the :obj:`shuffle` option of
    the aggregations, which draws one at every training forward).

    Args:
        seed (int, optional): If set, the transform draws from its own
            generator with this seed, so that the sequence of orders it
            draws is reproducible on its own (and every DataLoader worker
            repeats it). By default it draws from PyTorch's global
            generator, like PyG's random transforms: :func:`torch.manual_seed`
            reproduces the orders and DataLoader workers draw differently.
            (default: :obj:`None`)
        rank_attr (str, optional): Where to record each edge's rank in its
            destination's sequence (see :class:`SortNeighbors`).
            (default: :obj:`"edge_rank"`)
    """
    def __init__(self, seed: Optional[int] = None,
                 rank_attr: Optional[str] = 'edge_rank'):
        _check_rank_attr(rank_attr)
        check_seed(seed)
        self.seed = seed
        self.rank_attr = rank_attr
        self.generator: Optional[torch.Generator] = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(seed)

    def forward(self, data: Union[Data, HeteroData],
                ) -> Union[Data, HeteroData]:
        _check_data(self, data)
        for store in data.edge_stores:
            edge_index = _edge_index(store)
            if edge_index is None:
                continue
            key = torch.rand(edge_index.size(1), generator=self.generator)
            _order_edges(store, edge_index[1], key.to(edge_index.device),
                         False, self.rank_attr)
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(seed={self.seed})'
