r"""GraphSAGE with a GRU over every node's neighbours."""
from typing import Any, Dict, Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.models import GraphSAGE
from torch_geometric.typing import Adj, OptPairTensor, OptTensor, Size

from torch_geometric_gru._checks import check_channels
from torch_geometric_gru.aggr.gru import GRUAggregation
from torch_geometric_gru.models.ordered import _OrderedGNN

# Options of GRUAggregation that neither GraphSAGE nor SAGEConv takes.
_AGGR_ONLY = {'kernel', 'bidirectional', 'positional_encoding', 'shuffle',
              'num_permutations', 'max_length', 'seed', 'edge_dropout'}


class _OrderedSAGEConv(SAGEConv):
    r""":class:`~torch_geometric.nn.conv.SAGEConv` whose :meth:`forward`
    takes the neighbour order (:obj:`order=`) and hands it to its
    aggregation."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # SAGEConv's fused sparse path reduces with a string aggregation;
        # a sequence aggregation reads the messages one by one.
        self.fuse = False

    def forward(self, x: Union[Tensor, OptPairTensor], edge_index: Adj,
                size: Size = None, order: OptTensor = None) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        if self.project and hasattr(self, 'lin'):
            x = (self.lin(x[0]).relu(), x[1])
        # propagate_type: (x: OptPairTensor, edge_order: OptTensor)
        out = self.propagate(edge_index, x=x, size=size, edge_order=order)
        out = self.lin_l(out)
        if self.root_weight and x[1] is not None:
            out = out + self.lin_r(x[1])
        if self.normalize:
            out = F.normalize(out, p=2., dim=-1)
        return out

    def aggregate(self, inputs: Tensor, index: Tensor,
                  ptr: OptTensor = None, dim_size: Optional[int] = None,
                  edge_order: OptTensor = None) -> Tensor:
        return self.aggr_module(inputs, index, ptr=ptr, dim_size=dim_size,
                                order=edge_order)

    def __repr__(self) -> str:
        return (f'SAGEConv({self.in_channels}, {self.out_channels}, '
                f'aggr={self.aggr_module})')


class GRUGraphSAGE(_OrderedGNN, GraphSAGE):
    r"""PyG's :class:`~torch_geometric.nn.models.GraphSAGE` in which every
    layer aggregates its neighbours with a
    :class:`~torch_geometric_gru.GRUAggregation` of its own, as wide as the
    layer's input (what :obj:`GraphSAGE(..., aggr="lstm")` does with PyG's
    LSTM aggregation). :meth:`forward` takes the neighbour order
    (:obj:`order=`) and :meth:`inference` reads it from every batch, so
    that full-batch, mini-batch and layer-wise inference agree.

    Passing one aggregation object as :obj:`aggr=` to
    :class:`~torch_geometric.nn.models.GraphSAGE` would give every layer
    that same object: one GRU shared by all layers, which fails as soon as
    two layers differ in width.

    .. code-block:: python

        model = GRUGraphSAGE(dataset.num_features, 64, num_layers=2,
                             out_channels=dataset.num_classes,
                             aggr_kwargs=dict(num_layers=1))

    Args:
        in_channels (int or tuple): Size of each input sample, or :obj:`-1`
            for lazy initialization.
        hidden_channels (int): Size of each hidden sample.
        num_layers (int): Number of message passing layers.
        out_channels (int, optional): Size of each output sample; if not
            set, the last layer outputs :obj:`hidden_channels`.
            (default: :obj:`None`)
        aggr_kwargs (dict, optional): Arguments of every layer's
            :class:`~torch_geometric_gru.GRUAggregation` besides its width
            (:obj:`num_layers`, :obj:`bidirectional` is not possible here:
            SAGEConv expects the aggregate as wide as its input, order
            options, :obj:`kernel`, ...). (default: :obj:`None`)
        **kwargs (optional): The other arguments of
            :class:`~torch_geometric.nn.models.GraphSAGE` and
            :class:`~torch_geometric.nn.conv.SAGEConv`.
    """
    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        hidden_channels: int,
        num_layers: int,
        out_channels: Optional[int] = None,
        aggr_kwargs: Optional[Dict[str, Any]] = None,
        **kwargs,
    ):
        if 'aggr' in kwargs:
            raise TypeError("'GRUGraphSAGE' builds a GRUAggregation per "
                            "layer; pass its options as 'aggr_kwargs'")
        misplaced = sorted(_AGGR_ONLY.intersection(kwargs))
        if misplaced:
            raise TypeError(f"'{misplaced[0]}' is an option of every layer's "
                            f"GRUAggregation; pass it as "
                            f"aggr_kwargs=dict({misplaced[0]}=...)")
        check_channels('hidden_channels', hidden_channels)
        check_channels('num_layers', num_layers)
        aggr_kwargs = dict(aggr_kwargs or {})
        if aggr_kwargs.get('bidirectional', False):
            raise ValueError("A bidirectional GRUAggregation is twice as "
                             "wide as the layer's input, which SAGEConv "
                             "cannot read; drop 'bidirectional'")
        self._aggr_kwargs = aggr_kwargs  # Read by init_conv, in super().
        super().__init__(in_channels, hidden_channels, num_layers,
                         out_channels, **kwargs)

    def init_conv(self, in_channels: Union[int, Tuple[int, int]],
                  out_channels: int, **kwargs) -> MessagePassing:
        width = in_channels[0] if isinstance(in_channels, tuple) else \
            in_channels
        aggr = GRUAggregation(width, **self._aggr_kwargs)
        return _OrderedSAGEConv(in_channels, out_channels, aggr=aggr,
                                **kwargs)
