r"""The aggregations that read every node's messages as a sequence, as
PyG's :mod:`torch_geometric.nn.aggr`: :class:`SequenceAggregation` (input
checks, the layout, the order options), :class:`GRUAggregation` and
:class:`MinGRUAggregation`."""
from torch_geometric_gru.aggr.sequence import SequenceAggregation
from torch_geometric_gru.aggr.gru import GRUAggregation
from torch_geometric_gru.aggr.mingru import MinGRUAggregation

__all__ = ['SequenceAggregation', 'GRUAggregation', 'MinGRUAggregation']
