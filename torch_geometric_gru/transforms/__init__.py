r"""Transforms that choose the order in which every node reads its
incoming neighbours, one file per transform."""
from torch_geometric_gru.transforms.neighbors import (
    ShuffleNeighbors,
    SortNeighbors,
    permute_edges,
)

__all__ = ['SortNeighbors', 'ShuffleNeighbors', 'permute_edges']
