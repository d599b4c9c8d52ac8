r"""The graph-classification models compared on the TU datasets: a stack
of convolutions, global mean and max pooling, and an MLP."""
import torch
import torch.nn.functional as F
from torch_geometric.nn import (
    GCNConv,
    SAGEConv,
    global_max_pool,
    global_mean_pool,
)
from torch_geometric.nn.aggr import GRUAggregation as PyGGRUAggregation
from torch_geometric.nn.aggr import LSTMAggregation, MultiAggregation

from torch_geometric_gru import GRUAggregation, GRUConv

from options import EXACT_GRU


def make_conv(name: str, in_channels: int, out_channels: int, **kwargs):
    if name == 'gru':
        return GRUConv(in_channels, out_channels, **{**EXACT_GRU, **kwargs})
    if name == 'gcn':
        return GCNConv(in_channels, out_channels)
    if name == 'sage':
        return SAGEConv(in_channels, out_channels)
    if name == 'sage-gru-mean':  # The mean and our GRU side by side.
        aggr = MultiAggregation(
            ['mean', GRUAggregation(in_channels, **kwargs)], mode='cat')
        return SAGEConv(in_channels, out_channels, aggr=aggr)
    if name == 'sage-lstm':
        return SAGEConv(in_channels, out_channels,
                        aggr=LSTMAggregation(in_channels, in_channels))
    if name == 'sage-pyg-gru':
        return SAGEConv(in_channels, out_channels,
                        aggr=PyGGRUAggregation(in_channels, in_channels))
    raise ValueError(f"Unknown model '{name}'")


class GraphNet(torch.nn.Module):
    r""":obj:`num_layers` convolutions of :obj:`hidden` channels with
    ReLU; the concatenated global mean and max pools of every layer's
    output (jumping knowledge); a two-layer MLP with dropout."""
    def __init__(self, name: str, in_channels: int, hidden: int,
                 out_channels: int, num_layers: int = 3,
                 dropout: float = 0.5, **kwargs):
        super().__init__()
        self.dropout = dropout
        self.convs = torch.nn.ModuleList()
        for i in range(num_layers):
            self.convs.append(make_conv(name, in_channels if i == 0 else
                                        hidden, hidden, **kwargs))
        self.lin1 = torch.nn.Linear(2 * num_layers * hidden, hidden)
        self.lin2 = torch.nn.Linear(hidden, out_channels)

    def forward(self, x, edge_index, batch):
        pools = []
        for conv in self.convs:
            x = conv(x, edge_index).relu()
            pools += [global_mean_pool(x, batch), global_max_pool(x, batch)]
        x = torch.cat(pools, dim=-1)
        x = F.dropout(self.lin1(x).relu(), p=self.dropout,
                      training=self.training)
        return self.lin2(x)
