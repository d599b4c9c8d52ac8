r"""Transforms that choose the order in which every node reads its
incoming neighbours, one file per transform."""
from torch_geometric_gru.transforms.edges import permute_edges
from torch_geometric_gru.transforms.shuffle_neighbors import ShuffleNeighbors
from torch_geometric_gru.transforms.sort_neighbors import SortNeighbors

__all__ = ['SortNeighbors', 'ShuffleNeighbors', 'permute_edges']
