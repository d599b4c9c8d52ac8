r"""The neighbour order of sampled subgraphs.

A sampler lists each node's sampled in-edges in an order of its own (for
example by source id after a CSC conversion), not in the order they stand
in the full graph's :obj:`edge_index`. Every PyG loader records where each
sampled edge came from (:obj:`e_id`), and the ordering transforms record
each edge's rank (:obj:`edge_rank`); either, passed as :obj:`order=` to the
layers, makes a sampled subgraph read every neighbourhood in the order the
full graph does.

:func:`hop_counts` gives the per-hop node and edge counts that PyG's
hierarchical trimming (:obj:`num_sampled_nodes_per_hop`,
:obj:`num_sampled_edges_per_hop`) needs, also from samplers that do not
report them.
"""
import warnings
from typing import List, Optional, Tuple, Union

from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.data.storage import EdgeStorage


def edge_order(data: Union[Data, EdgeStorage],
               rank_attr: str = 'edge_rank') -> Optional[Tensor]:
    r"""Returns the sort key that makes the layers read every neighbourhood
    of :obj:`data` in the full graph's order: the ranks an ordering
    transform recorded (:obj:`data[rank_attr]`) if :obj:`data` has them,
    else the ids of the sampled edges in the full graph (:obj:`data.e_id`,
    set by :class:`~torch_geometric.loader.NeighborLoader`,
    :class:`~torch_geometric.loader.LinkNeighborLoader` and the other PyG
    loaders), whose order within each neighbourhood is the full graph's
    storage order, else :obj:`None` (read the edges as they are stored).

    A sampled subgraph (one with :obj:`n_id`) that has neither gets a
    warning: its storage order is the sampler's, not the full graph's.

    .. code-block:: python

        for batch in loader:  # A NeighborLoader.
            out = model(batch.x, batch.edge_index, order=edge_order(batch))

    For a :class:`~torch_geometric.data.HeteroData` batch, call it on each
    edge store: :obj:`edge_order(batch[edge_type])`.

    Args:
        data (torch_geometric.data.Data or EdgeStorage): A graph, a sampled
            subgraph, or one edge type's store.
        rank_attr (str, optional): The attribute that holds the recorded
            ranks. (default: :obj:`"edge_rank"`)
    """
    if not isinstance(data, (Data, EdgeStorage)):
        raise TypeError(f"'data' must be a Data object or an edge store, "
                        f"e.g. batch['author', 'writes', 'paper'] (got "
                        f"{type(data).__name__})")
    for key in (rank_attr, 'e_id'):
        value = getattr(data, key, None)
        if isinstance(value, Tensor):
            return value
    if getattr(data, 'n_id', None) is not None:
        warnings.warn(f"This sampled subgraph has neither '{rank_attr}' nor "
                      f"'e_id', so its neighbourhoods are read in the "
                      f"sampler's order, which may differ from the full "
                      f"graph's; record ranks with an ordering transform "
                      f"(e.g. SortNeighbors) or keep the loader's 'e_id'",
                      stacklevel=2)
    return None


def hop_counts(data: Data, num_hops: int) -> Tuple[List[int], List[int]]:
    r"""Returns the number of nodes and of edges a
    :class:`~torch_geometric.loader.NeighborLoader` batch sampled per hop,
    as :obj:`num_sampled_nodes_per_hop` and
    :obj:`num_sampled_edges_per_hop` of PyG's hierarchical trimming want
    them (:obj:`num_hops + 1` node counts, seeds first, and
    :obj:`num_hops` edge counts).

    The counts the sampler recorded (:obj:`data.num_sampled_nodes`,
    :obj:`data.num_sampled_edges`: pyg-lib's sampler sets them) are
    returned as they are. Otherwise (the torch-sparse sampler) they are
    recovered from the batch's layout, which every PyG node sampler keeps:
    the seeds first, then each hop's new nodes, and the edges into each
    hop's nodes after those into the previous hop's.

    .. code-block:: python

        for batch in loader:  # A NeighborLoader.
            nodes, edges = hop_counts(batch, num_hops=2)
            out = model(batch.x, batch.edge_index, order=edge_order(batch),
                        num_sampled_nodes_per_hop=nodes,
                        num_sampled_edges_per_hop=edges)

    Args:
        data (torch_geometric.data.Data): A batch of a node-level
            :class:`~torch_geometric.loader.NeighborLoader` (with
            :obj:`batch_size`, its seeds first).
        num_hops (int): The number of hops sampled (the length of the
            loader's :obj:`num_neighbors`).
    """
    if not isinstance(data, Data):
        raise TypeError(f"'data' must be a Data batch of a NeighborLoader "
                        f"(got {type(data).__name__}); for HeteroData, "
                        f"read its 'num_sampled_nodes_dict'")
    if isinstance(num_hops, bool) or not isinstance(num_hops, int) \
            or num_hops < 1:
        raise TypeError(f"'num_hops' must be a positive int, the length of "
                        f"the loader's 'num_neighbors' (got {num_hops!r})")
    batch_size = getattr(data, 'batch_size', None)
    if not isinstance(batch_size, int):
        raise ValueError("'data' has no 'batch_size': pass a batch of a "
                         "node-level NeighborLoader (seeds first)")
    nodes = getattr(data, 'num_sampled_nodes', None)
    edges = getattr(data, 'num_sampled_edges', None)
    if nodes is not None and edges is not None:
        nodes, edges = [int(n) for n in nodes], [int(e) for e in edges]
        if len(nodes) != num_hops + 1 or len(edges) != num_hops:
            raise ValueError(f"'num_hops' is {num_hops} but the sampler "
                             f"recorded {len(edges)} hops")
        return nodes, edges
    src, dst = data.edge_index
    dst_lo, dst_hi, seen = 0, batch_size, 0
    nodes, edges = [batch_size], []
    for _ in range(num_hops):
        mask = (dst >= dst_lo) & (dst < dst_hi)
        count = int(mask.sum())
        if not bool(mask[seen:seen + count].all()):
            raise ValueError("The edges of 'data' are not in hop order (the "
                             "edges into each hop's nodes after those into "
                             "the previous hop's), as a NeighborLoader "
                             "leaves them; were they re-sorted?")
        new = int(src[mask].max()) + 1 - dst_hi if count else 0
        nodes.append(max(new, 0))
        edges.append(count)
        seen += count
        dst_lo, dst_hi = dst_hi, dst_hi + nodes[-1]
    return nodes, edges
