r"""Neighbourhood aggregation with a GRU that reads each node's incoming
messages as a sequence: exact, padding-free, CPU and CUDA."""
from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.aggr.gru import GRUAggregation
from torch_geometric_gru.conv.gru_conv import GRUConv
from torch_geometric_gru.aggr.mingru import MinGRUAggregation
from torch_geometric_gru.models.basic import GRUGNN, GRUGraphSAGE
from torch_geometric_gru.sampling import edge_order, hop_counts
from torch_geometric_gru.aggr.sequence import SequenceAggregation
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
