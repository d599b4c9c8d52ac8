r"""The neighbour order of sampled subgraphs.

A sampler lists each node's sampled in-edges in an order of its own (for
example by source id after a CSC conversion), not in the order they stand
in the full graph's :obj:`edge_index`. Every PyG loader records where each
sampled edge came from (:obj:`e_id`), and the ordering transforms record
each edge's rank (:obj:`edge_rank`); either, passed as :obj:`order=` to the
layers, makes a sampled subgraph read every neighbourhood in the order the
full graph does.
"""
import warnings
from typing import Optional, Union

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
