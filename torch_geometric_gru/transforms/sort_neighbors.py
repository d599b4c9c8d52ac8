r"""The transform that sorts every node's in-neighbours by a key."""
import difflib
from typing import Callable, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.data.storage import EdgeStorage
from torch_geometric.transforms import BaseTransform

from torch_geometric_gru._checks import check_bool

from torch_geometric_gru.transforms.edges import (
    _KEYS,
    _check_data,
    _check_rank_attr,
    _edge_index,
    _order_edges,
)

#: A sort key: a built-in name, an attribute name, or a function of the
#: data that returns the scores.
Key = Union[str, Callable[[Union[Data, HeteroData]], Tensor]]


@functional_transform('sort_neighbors')
class SortNeighbors(BaseTransform):
    r"""Reorders the edges of every edge type so that each node reads its
    in-neighbours sorted by a key (functional name:
    :obj:`sort_neighbors`). Edges come out grouped by destination node;
    within a node they are ordered by the key of the edge's source or of the
    edge itself, ties in their current order. Every edge-level attribute
    (:obj:`edge_attr`, :obj:`edge_weight`, ...) is permuted together with
    :obj:`edge_index`; node attributes are left alone.

    .. code-block:: python

        from torch_geometric_gru.transforms import SortNeighbors

        data = SortNeighbors('degree', descending=True)(data)  # hubs first
        data = SortNeighbors('score')(data)  # by the node attribute data.score
        # In time order, by one time per edge:
        data = SortNeighbors('edge_time', per_edge=True)(data)

    .. note::
        A key can hold one score per source node or one per edge. Where the
        two counts differ, its length tells which; where they are equal
        (and, for a heterogeneous graph, the attribute is found on both the
        source node type and the edge type), the transform does not guess:
        it raises until :obj:`per_edge` says which.

    Args:
        key (str or callable, optional): What to sort by:
            :obj:`"degree"` (the neighbour's degree within the edge type:
            its incoming plus outgoing edges), :obj:`"id"` (the neighbour's
            node index), the name of an attribute holding one score per
            source node (shape :obj:`[N]` or :obj:`[N, 1]`) or one per edge
            (:obj:`[E]`), or a callable that maps the data object (for
            heterogeneous graphs: the edge store) to such scores. In a
            heterogeneous graph, an attribute name is looked up on the
            source node type and on the edge type; edge types that have it
            on neither keep their order. A near-miss of a built-in key
            (:obj:`"degre"`, :obj:`"ID"`) is an error at construction; to
            sort by an attribute with such a name, pass a callable.
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
        per_edge (bool, optional): Whether :obj:`key` gives one score per
            edge (:obj:`True`, e.g. an edge time), one per source node
            (:obj:`False`), or, if :obj:`None`, whichever its length
            matches, raising a :class:`ValueError` where the number of
            source nodes equals the number of edges. The built-in keys are
            per node. With :obj:`True`, an attribute of a
            :class:`~torch_geometric.data.Data` object must be one that
            PyG treats as edge-level (with as many nodes as edges: one with
            :obj:`"edge"` in its name, such as :obj:`"edge_time"`), so that
            it is permuted with the edges. (default: :obj:`None`)
    """
    def __init__(self, key: Key = 'degree', descending: bool = False,
                 rank_attr: Optional[str] = 'edge_rank',
                 per_edge: Optional[bool] = None):
        _check_rank_attr(rank_attr)
        if not (callable(key) or isinstance(key, str)):
            raise TypeError(f"'key' must be 'degree', 'id', the name of a "
                            f"node attribute or a callable, or the name of "
                            f"an edge attribute (got {type(key).__name__})")
        if isinstance(key, str) and key not in _KEYS and (
                difflib.get_close_matches(key.lower(), _KEYS, cutoff=0.85)):
            raise ValueError(
                f"'key' {key!r} is not a built-in key; the built-in keys "
                f"are {', '.join(map(repr, _KEYS))} (any other string names "
                f"an attribute: for an attribute called {key!r}, pass "
                f"key=lambda data: data[{key!r}])")
        check_bool('descending', descending)
        if per_edge is not None and not isinstance(per_edge, bool):
            raise TypeError(f"'per_edge' must be None, True or False (got "
                            f"{per_edge!r})")
        if per_edge and key in _KEYS:
            raise ValueError(f"'key' {key!r} gives one score per source "
                             f"node, but per_edge=True; to sort by a score "
                             f"per edge, pass an edge attribute name or a "
                             f"callable as 'key'")
        self.key = key
        self.descending = descending
        self.rank_attr = rank_attr
        self.per_edge = per_edge

    def forward(self, data: Union[Data, HeteroData],
                ) -> Union[Data, HeteroData]:
        _check_data(self, data)
        sorted_any = False
        for store in data.edge_stores:
            edge_index = _edge_index(store)
            if edge_index is None:
                continue
            if (isinstance(data, HeteroData) and isinstance(self.key, str)
                    and self.key not in _KEYS
                    and not any(self.key in s for s in self._places(
                        data, store))):
                continue  # This edge type has no such attribute.
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
            where = {None: 'any source node type or edge type',
                     True: 'any edge type',
                     False: 'any source node type'}[self.per_edge]
            raise ValueError(f"Cannot sort neighbours by {self.key!r}: it is "
                             f"not an attribute of {where}")
        return data

    def _places(self, data: HeteroData, store: EdgeStorage) -> list:
        r"""The stores of a heterogeneous graph where an attribute key is
        looked up: the source node type's and/or the edge type's."""
        nodes = data[store._key[0]]
        return {None: [nodes, store], True: [store],
                False: [nodes]}[self.per_edge]

    def _lookup(self, data, store: EdgeStorage):
        r"""The key's raw scores, their name for messages, and whether they
        are per edge (:obj:`None`: not known from where they were found)."""
        if callable(self.key):
            return (self.key(data if isinstance(data, Data) else store),
                    'the callable key', self.per_edge)
        key = self.key
        if isinstance(data, Data):
            if key not in data:
                raise ValueError(f"Cannot sort neighbours by {key!r}: it "
                                 f"is not an attribute of the source nodes "
                                 f"or the edges; use 'degree', 'id', an "
                                 f"attribute name or a callable")
            level = 'edge' if self.per_edge else 'node'
            return data[key], f'{level} attribute {key!r}', self.per_edge
        found = [s for s in self._places(data, store) if key in s]
        if len(found) == 2 and self.per_edge is None:
            raise ValueError(
                f"{key!r} is an attribute of both the source node type "
                f"{store._key[0]!r} and the edge type {store._key!r}, so "
                f"it could give one score per node or one per edge; say "
                f"which with 'per_edge': SortNeighbors({key!r}, "
                f"per_edge=True) to sort by the edge type's, "
                f"per_edge=False by the node type's")
        per_edge = isinstance(found[0], EdgeStorage)
        level = 'edge' if per_edge else 'node'
        return found[0][key], f'{level} attribute {key!r}', per_edge

    def _score(self, data, store: EdgeStorage, edge_index: Tensor) -> Tensor:
        src = edge_index[0]
        num_src = store.size(0)
        num_edges = src.numel()
        if self.key == 'degree':
            degree = torch.bincount(src, minlength=num_src)
            if not store.is_bipartite():
                degree = degree + torch.bincount(edge_index[1],
                                                 minlength=num_src)
            return degree.index_select(0, src)
        if self.key == 'id':
            return src
        score, name, per_edge = self._lookup(data, store)
        if not isinstance(score, Tensor):
            raise TypeError(f"{name} must give a tensor (got "
                            f"{type(score).__name__})")
        if score.dim() == 2 and score.size(1) == 1:
            score = score.view(-1)
        if score.dim() != 1:
            raise ValueError(f"{name} must hold one score per node or per "
                             f"edge (got shape {tuple(score.shape)}); reduce "
                             f"multi-dimensional features to one value")
        num = score.numel()
        if per_edge is None:
            if num == num_src == num_edges:
                raise ValueError(
                    f"{name} gives {num} scores and there are {num} source "
                    f"nodes and {num} edges, so it could be one score per "
                    f"node or one per edge; say which with 'per_edge': "
                    f"SortNeighbors(..., per_edge=True) for one score per "
                    f"edge (e.g. an edge time), per_edge=False for one per "
                    f"source node")
            if num not in (num_src, num_edges):
                raise ValueError(f"{name} has {num} entries but there are "
                                 f"{num_src} source nodes and {num_edges} "
                                 f"edges")
            per_edge = num == num_edges
        elif per_edge and num != num_edges:
            raise ValueError(f"{name} has {num} entries but there are "
                             f"{num_edges} edges; with per_edge=True it "
                             f"must hold one score per edge")
        elif not per_edge and num != num_src:
            raise ValueError(f"{name} has {num} entries but there are "
                             f"{num_src} source nodes; with per_edge=False "
                             f"it must hold one score per source node")
        if isinstance(data, Data) and isinstance(self.key, str):
            _check_level(data, self.key, per_edge)
        return score if per_edge else score.index_select(0, src)

    def __repr__(self) -> str:
        key = self.key if isinstance(self.key, str) else \
            getattr(self.key, '__name__', 'callable')
        per_edge = '' if self.per_edge is None else \
            f', per_edge={self.per_edge}'
        return (f'{self.__class__.__name__}(key={key!r}, '
                f'descending={self.descending}{per_edge})')


def _check_level(data: Data, key: str, per_edge: bool) -> None:
    r"""Raises if PyG classes the attribute :obj:`key` of :obj:`data` at
    another level than the caller's :obj:`per_edge`: the edge-level ones
    are permuted with the edges (and read as edge times by the loaders),
    the others not."""
    if data.is_edge_attr(key) == per_edge:
        return
    if per_edge:
        raise ValueError(
            f"'key' {key!r} gives one score per edge (per_edge=True), but "
            f"PyG treats {key!r} as a node attribute (as many entries as "
            f"nodes and no 'edge' in its name), so it would not be "
            f"permuted with the edges; rename it, e.g. 'edge_{key}'")
    raise ValueError(
        f"'key' {key!r} gives one score per source node (per_edge=False), "
        f"but PyG treats {key!r} as an edge attribute ('edge' in its name), "
        f"so it would be permuted with the edges; rename it without "
        f"'edge', e.g. 'node_score'")
