r"""A stack of :class:`~torch_geometric_gru.GRUConv` layers."""
from typing import Optional, Tuple, Union

from torch_geometric.nn.conv import MessagePassing

from torch_geometric_gru.conv.gru_conv import GRUConv
from torch_geometric_gru.models.ordered import _OrderedGNN


class GRUGNN(_OrderedGNN):
    r"""A stack of :class:`~torch_geometric_gru.GRUConv` layers, as PyG's
    :class:`~torch_geometric.nn.models.BasicGNN` models stack theirs
    (activation, normalization, dropout and jumping knowledge between the
    layers), with PyG's hierarchical trimming for sampled subgraphs
    (:obj:`num_sampled_nodes_per_hop`), layer-wise :meth:`inference` over
    full neighbourhoods, and the neighbour order passed through every path
    (:obj:`order=` in :meth:`forward`; read from every batch in
    :meth:`inference`).

    .. code-block:: python

        model = GRUGNN(dataset.num_features, 64, num_layers=2,
                       out_channels=dataset.num_classes)
        for batch in loader:  # A NeighborLoader.
            out = model(batch.x, batch.edge_index, order=edge_order(batch))

    .. warning::

        Every layer reads each node's in-edges as a sequence: the model is
        not invariant to their order (see
        :class:`~torch_geometric_gru.GRUConv`).

    Args:
        in_channels (int or tuple): Size of each input sample, or :obj:`-1`
            for lazy initialization.
        hidden_channels (int): Size of each hidden sample.
        num_layers (int): Number of message passing layers.
        out_channels (int, optional): Size of each output sample; if not
            set, the last layer outputs :obj:`hidden_channels`.
            (default: :obj:`None`)
        dropout (float, optional): Dropout between the message passing
            layers (not inside the GRUs: set that with
            :obj:`gru_dropout`). (default: :obj:`0.0`)
        gru_dropout (float, optional): Dropout between the stacked GRU
            layers of every :class:`~torch_geometric_gru.GRUConv`
            (its :obj:`dropout`). (default: :obj:`0.0`)
        gru_num_layers (int, optional): The number of stacked GRU layers
            of every :class:`~torch_geometric_gru.GRUConv` (its
            :obj:`num_layers`). (default: :obj:`1`)
        **kwargs (optional): The other arguments of
            :class:`~torch_geometric.nn.models.BasicGNN` (:obj:`act`,
            :obj:`norm`, :obj:`jk`, ...) and of
            :class:`~torch_geometric_gru.GRUConv` (:obj:`edge_dim`,
            :obj:`bidirectional`, :obj:`kernel`, order options, ...).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge
          indices :math:`(2, |\mathcal{E}|)`, edge weights
          :math:`(|\mathcal{E}|)` or features :math:`(|\mathcal{E}|, D)`
          *(optional)*, order :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """
    supports_edge_weight = True
    supports_edge_attr = True

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        hidden_channels: int,
        num_layers: int,
        out_channels: Optional[int] = None,
        dropout: float = 0.0,
        gru_dropout: float = 0.0,
        gru_num_layers: int = 1,
        **kwargs,
    ):
        super().__init__(in_channels, hidden_channels, num_layers,
                         out_channels, dropout=dropout,
                         conv_dropout=gru_dropout,
                         conv_num_layers=gru_num_layers, **kwargs)

    def init_conv(self, in_channels: Union[int, Tuple[int, int]],
                  out_channels: int, conv_dropout: float = 0.0,
                  conv_num_layers: int = 1, **kwargs) -> MessagePassing:
        return GRUConv(in_channels, out_channels, dropout=conv_dropout,
                       num_layers=conv_num_layers, **kwargs)
