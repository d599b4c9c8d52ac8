r"""The node-classification models compared on the citation datasets."""
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv, SAGEConv
from torch_geometric.nn.aggr import GRUAggregation as PyGGRUAggregation
from torch_geometric.nn.aggr import LSTMAggregation, MultiAggregation
from torch_geometric.utils import dropout_edge

from torch_geometric_gru import GRUAggregation, GRUConv

from options import EXACT_GRU


class GRUNet(torch.nn.Module):
    r"""Two :class:`~torch_geometric_gru.GRUConv` layers. In training, a
    fraction :obj:`drop_edge` of the edges is dropped at every step
    (DropEdge): with 140 labels, a GRU over neighbours fits the training
    nodes perfectly, and needs more regularization than a mean."""
    def __init__(self, in_channels, hidden, out_channels, dropout=0.8,
                 drop_edge=0.3, **conv_kwargs):
        super().__init__()
        self.dropout = dropout
        self.drop_edge = drop_edge
        conv_kwargs = {**EXACT_GRU, **conv_kwargs}
        self.conv1 = GRUConv(in_channels, hidden, **conv_kwargs)
        self.conv2 = GRUConv(hidden, out_channels, **conv_kwargs)

    def forward(self, x, edge_index):
        if self.training and self.drop_edge > 0:
            edge_index = dropout_edge(edge_index, p=self.drop_edge)[0]
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


class GCN(torch.nn.Module):
    r"""Kipf & Welling's two-layer GCN, as in PyG's citation benchmark."""
    def __init__(self, in_channels, hidden, out_channels, dropout=0.5):
        super().__init__()
        self.dropout = dropout
        self.conv1 = GCNConv(in_channels, hidden)
        self.conv2 = GCNConv(hidden, out_channels)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


class SAGE(torch.nn.Module):
    r"""Two :class:`~torch_geometric.nn.conv.SAGEConv` layers with the mean
    aggregation."""
    def __init__(self, in_channels, hidden, out_channels, dropout=0.5):
        super().__init__()
        self.dropout = dropout
        self.conv1 = SAGEConv(in_channels, hidden)
        self.conv2 = SAGEConv(hidden, out_channels)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


class SequenceSAGE(torch.nn.Module):
    r"""A linear input projection to :obj:`hidden` channels, then two
    :class:`~torch_geometric.nn.conv.SAGEConv` layers whose aggregation
    reads the neighbours as a sequence (PyG's LSTM or GRU aggregation,
    which pad every node to the largest degree). The projection keeps the
    padded tensors at :obj:`hidden` channels: on raw Cora features
    (1,433 channels) they would need about 10 GB."""
    def __init__(self, in_channels, hidden, out_channels, dropout=0.5,
                 aggr='lstm'):
        super().__init__()
        self.dropout = dropout
        make = dict(lstm=LSTMAggregation, gru=PyGGRUAggregation)[aggr]
        self.lin = torch.nn.Linear(in_channels, hidden)
        self.conv1 = SAGEConv(hidden, hidden, aggr=make(hidden, hidden))
        self.conv2 = SAGEConv(hidden, out_channels,
                              aggr=make(hidden, hidden))

    def forward(self, x, edge_index):
        # PyG's sequence aggregations need edges sorted by destination.
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.lin(x).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


class MeanAndGRU(MultiAggregation):
    r"""The mean and a :class:`~torch_geometric_gru.GRUAggregation` of
    :obj:`gru_channels` side by side (PyG's
    :class:`~torch_geometric.nn.aggr.MultiAggregation`, concatenated), so
    that the GRU adds to the mean rather than replacing it."""
    def __init__(self, in_channels: int, gru_channels: int, **gru_kwargs):
        super().__init__(['mean', GRUAggregation(in_channels, gru_channels,
                                                 **gru_kwargs)], mode='cat')
        self.gru_channels = gru_channels

    def get_out_channels(self, in_channels: int) -> int:
        return in_channels + self.gru_channels


class MultiSAGE(torch.nn.Module):
    r"""The SAGE model whose aggregation is :class:`MeanAndGRU`: each layer
    reads the mean of its neighbours and a GRU over them (:obj:`hidden`
    wide), then maps both with its linear layer."""
    def __init__(self, in_channels, hidden, out_channels, dropout=0.5,
                 **gru_kwargs):
        super().__init__()
        self.dropout = dropout
        self.conv1 = SAGEConv(in_channels, hidden,
                              aggr=MeanAndGRU(in_channels, hidden,
                                              **gru_kwargs))
        self.conv2 = SAGEConv(hidden, out_channels,
                              aggr=MeanAndGRU(hidden, hidden, **gru_kwargs))

    def forward(self, x, edge_index):
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


def make_model(name, in_channels, hidden, out_channels, dropout=0.5,
               **gru_kwargs):
    r"""Builds model :obj:`name`; :obj:`dropout` is that of PyG's models,
    :obj:`gru_kwargs` (including the GRU model's own :obj:`dropout`) go to
    :class:`GRUNet`."""
    if name == 'gru':
        return GRUNet(in_channels, hidden, out_channels, **gru_kwargs)
    if name == 'gcn':
        return GCN(in_channels, hidden, out_channels, dropout)
    if name == 'sage':
        return SAGE(in_channels, hidden, out_channels, dropout)
    if name == 'sage-lstm':
        return SequenceSAGE(in_channels, hidden, out_channels, dropout,
                            'lstm')
    if name == 'sage-gru-mean':
        return MultiSAGE(in_channels, hidden, out_channels, dropout,
                         **gru_kwargs)
    if name == 'sage-pyg-gru':
        return SequenceSAGE(in_channels, hidden, out_channels, dropout,
                            'gru')
    raise ValueError(f"Unknown model '{name}'")
