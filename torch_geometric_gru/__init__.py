r"""Neighbourhood aggregation with a GRU that reads each node's incoming
messages as a sequence: exact, padding-free, CPU and CUDA."""
from torch_geometric_gru.layout import PackedLayout
from torch_geometric_gru.aggr import (
    GRUAggregation,
    MinGRUAggregation,
    SequenceAggregation,
)
from torch_geometric_gru.conv import GRUConv
from torch_geometric_gru.models import GRUGNN, GRUGraphSAGE
from torch_geometric_gru.sampling import edge_order, hop_counts
from torch_geometric_gru import transforms

__version__ = '0.1.0'

__all__ = [
    'GRUAggregation',
    'GRUConv',
    'GRUGraphSAGE',
    'GRUGNN',
    'MinGRUAggregation',
    'SequenceAggregation',
    'edge_order',
    'hop_counts',
    'transforms',
    'PackedLayout',
    '__version__',
]
