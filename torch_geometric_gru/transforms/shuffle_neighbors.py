r"""The transform that shuffles every node's in-neighbours."""
from typing import Optional, Union

import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from torch_geometric_gru._checks import check_seed

from torch_geometric_gru.transforms.edges import (
    _check_data,
    _check_rank_attr,
    _edge_index,
    _order_edges,
)


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
