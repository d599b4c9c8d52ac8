r"""Ready-made models: PyG's :class:`~torch_geometric.nn.models.BasicGNN`
stacks whose layers read each neighbourhood as a sequence, with the
neighbour order passed through full-batch, mini-batch (trimmed or not) and
layer-wise inference alike."""
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.fx import Proxy
from torch_geometric.loader import CachedLoader, NeighborLoader
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.models import GraphSAGE
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.typing import Adj, OptPairTensor, OptTensor, Size
from torch_geometric.utils import is_sparse
from torch_geometric.utils._trim_to_layer import TrimToLayer

from torch_geometric_gru._checks import check_channels
from torch_geometric_gru.aggr.gru import GRUAggregation
from torch_geometric_gru.conv.gru_conv import GRUConv
from torch_geometric_gru.sampling import edge_order
from torch_geometric_gru.aggr.sequence import SequenceAggregation

# Options of GRUAggregation that neither GraphSAGE nor SAGEConv takes.
_AGGR_ONLY = {'kernel', 'bidirectional', 'positional_encoding', 'shuffle',
              'num_permutations', 'max_length', 'seed'}


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


def _check_hetero_order(order: Any) -> OptTensor:
    r"""The order as one conv of a :func:`~torch_geometric.nn.to_hetero`
    model sees it. PyG reads an argument whose name lacks :obj:`edge` as
    node-level, and hands a bipartite edge type the pair of its source and
    destination types' values."""
    if isinstance(order, tuple):
        if all(value is None for value in order):
            return None  # No order given (or given without input_map).
        raise TypeError(
            "'order' holds one sort key per edge, but to_hetero read it as "
            "node-level; convert with to_hetero(model, metadata, "
            "input_map={'order': 'edge'}) and pass a dict of one tensor per "
            "edge type")
    return order


def _trace_as_edge_level(order: Proxy) -> None:
    r"""Names the traced :obj:`order` input so that PyG's FX transformers
    (:func:`~torch_geometric.nn.to_hetero`,
    :func:`~torch_geometric.nn.to_hetero_with_bases`) read it as edge-level,
    as they read every input whose name holds :obj:`edge`: one tensor per
    edge type, not per node type, which would drop an order given per edge
    type. The traced module still takes it as :obj:`order=`."""
    node = order.node
    if node.op == 'placeholder' and 'edge' not in node.name and \
            hasattr(node, '_rename'):
        node._rename(f'edge_{node.name}')


class _TrimToLayer(TrimToLayer):
    r""":class:`~torch_geometric.utils._trim_to_layer.TrimToLayer` that
    trims the neighbour order with the edges. A module, so that FX tracing
    (:func:`~torch_geometric.nn.to_hetero`) keeps it as one call per edge
    type instead of tracing the slicing of :obj:`order` through it."""
    def forward(  # type: ignore[override]
        self,
        layer: int,
        num_sampled_nodes_per_hop: Optional[List[int]],
        num_sampled_edges_per_hop: Optional[List[int]],
        x: Tensor,
        edge_index: Adj,
        edge_attr: OptTensor = None,
        order: OptTensor = None,
    ) -> Tuple[Tensor, Adj, OptTensor, OptTensor]:
        order = _check_hetero_order(order)
        x, edge_index, edge_attr = super().forward(
            layer, num_sampled_nodes_per_hop, num_sampled_edges_per_hop, x,
            edge_index, edge_attr)
        if order is not None and isinstance(edge_index, Tensor):
            order = order[:edge_index.size(1)]  # Trimming keeps a prefix.
        return x, edge_index, edge_attr, order


class _OrderedGNN(BasicGNN):
    r"""A :class:`~torch_geometric.nn.models.BasicGNN` whose
    :meth:`forward`, :meth:`inference_per_layer` and :meth:`inference`
    pass the neighbour order to every layer, and whose layers share one
    layout cache: every layer reads the same graph, so one packed layout
    serves them all (a hit needs the same edges, order and sizes; trimmed
    layers, which see fewer edges, build their own)."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._trim = _TrimToLayer()
        self._share_layouts()

    def _share_layouts(self) -> None:
        aggrs = [conv.aggr_module for conv in self.convs
                 if isinstance(conv.aggr_module, SequenceAggregation)]
        for aggr in aggrs[1:]:
            aggr._layouts = aggrs[0]._layouts

    def forward(  # noqa: C901 (BasicGNN's loop, with the order.)
        self,
        x: Tensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        edge_attr: OptTensor = None,
        batch: OptTensor = None,
        batch_size: Optional[int] = None,
        num_sampled_nodes_per_hop: Optional[List[int]] = None,
        num_sampled_edges_per_hop: Optional[List[int]] = None,
        order: OptTensor = None,
    ) -> Tensor:
        r"""Forward pass; as
        :meth:`torch_geometric.nn.models.BasicGNN.forward`, plus the
        neighbour order.

        Args:
            x (torch.Tensor): The input node features.
            edge_index (torch.Tensor or SparseTensor): The edge indices.
            edge_weight (torch.Tensor, optional): The edge weights (if the
                layers take them). (default: :obj:`None`)
            edge_attr (torch.Tensor, optional): The edge features (if the
                layers take them). (default: :obj:`None`)
            batch (torch.Tensor, optional): The batch vector, for
                normalization layers that need it. (default: :obj:`None`)
            batch_size (int, optional): The number of examples in
                :obj:`batch`. (default: :obj:`None`)
            num_sampled_nodes_per_hop (List[int], optional): The number of
                sampled nodes per hop, to trim each layer's input to what
                the next layers need (PyG's :obj:`trim_to_layer`).
                (default: :obj:`None`)
            num_sampled_edges_per_hop (List[int], optional): The number of
                sampled edges per hop. (default: :obj:`None`)
            order (torch.Tensor, optional): One sort key per edge: every
                node reads its in-edges sorted by it. For a sampled batch,
                :obj:`edge_order(batch)` (see
                :func:`~torch_geometric_gru.edge_order`) gives the full
                graph's order. A model converted by
                :func:`~torch_geometric.nn.to_hetero` takes it as one tensor
                per edge type (:obj:`data.collect("edge_rank")`).
                (default: :obj:`None`)
        """
        if order is not None and num_sampled_nodes_per_hop is not None \
                and is_sparse(edge_index):
            raise ValueError("'order' cannot be trimmed together with a "
                             "sparse adjacency; pass 'edge_index' as a "
                             "[2, num_edges] tensor")
        if (num_sampled_nodes_per_hop is not None
                and isinstance(edge_weight, Tensor)
                and isinstance(edge_attr, Tensor)):
            raise NotImplementedError("'trim_to_layer' functionality does "
                                      "not yet support trimming of both "
                                      "'edge_weight' and 'edge_attr'")
        if isinstance(order, Proxy):
            _trace_as_edge_level(order)
        xs: List[Tensor] = []
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            # Under FX tracing (to_hetero) `num_sampled_nodes_per_hop` is
            # a proxy, so the trimming module is always in the traced graph.
            if num_sampled_nodes_per_hop is not None:
                x, edge_index, value, order = self._trim(
                    i, num_sampled_nodes_per_hop, num_sampled_edges_per_hop,
                    x, edge_index,
                    edge_weight if edge_weight is not None else edge_attr,
                    order)
                if edge_weight is not None:
                    edge_weight = value
                else:
                    edge_attr = value
            x = self._conv(conv, x, edge_index, edge_weight, edge_attr,
                           order)
            if i < self.num_layers - 1 or self.jk_mode is not None:
                if self.act is not None and self.act_first:
                    x = self.act(x)
                if self.supports_norm_batch:
                    x = norm(x, batch, batch_size)
                else:
                    x = norm(x)
                if self.act is not None and not self.act_first:
                    x = self.act(x)
                x = self.dropout(x)
                if hasattr(self, 'jk'):
                    xs.append(x)
        x = self.jk(xs) if hasattr(self, 'jk') else x
        return self.lin(x) if hasattr(self, 'lin') else x

    def _conv(self, conv: MessagePassing, x: Tensor, edge_index: Adj,
              edge_weight: OptTensor, edge_attr: OptTensor,
              order: OptTensor) -> Tensor:
        # Under FX tracing every optional input is a proxy, given or not:
        # as PyG's BasicGNN, the traced model reads only what the layers take.
        kwargs: Dict[str, Any] = {}
        for name, value in (('edge_weight', edge_weight),
                            ('edge_attr', edge_attr)):
            if getattr(self, f'supports_{name}'):
                kwargs[name] = value
            elif value is not None and not isinstance(value, Proxy):
                raise ValueError(f"'{type(self).__name__}' takes no "
                                 f"'{name}'; drop it")
        return conv(x, edge_index, order=order, **kwargs)

    @torch.no_grad()
    def inference_per_layer(self, layer: int, x: Tensor, edge_index: Adj,
                            batch_size: int, order: OptTensor = None,
                            edge_weight: OptTensor = None,
                            edge_attr: OptTensor = None) -> Tensor:
        r"""Runs layer :obj:`layer` on a subgraph and returns the outputs
        of its first :obj:`batch_size` nodes (the seeds), as
        :meth:`torch_geometric.nn.models.BasicGNN.inference_per_layer`,
        with the neighbour order :obj:`order`."""
        x = self._conv(self.convs[layer], x, edge_index, edge_weight,
                       edge_attr, order)[:batch_size]
        if layer == self.num_layers - 1 and self.jk_mode is None:
            return x
        if self.act is not None and self.act_first:
            x = self.act(x)
        if self.norms is not None:
            x = self.norms[layer](x)
        if self.act is not None and not self.act_first:
            x = self.act(x)
        if layer == self.num_layers - 1 and hasattr(self, 'lin'):
            x = self.lin(x)
        return x

    @torch.no_grad()
    def inference(
        self,
        loader: NeighborLoader,
        device: Optional[Union[str, torch.device]] = None,
        embedding_device: Union[str, torch.device] = 'cpu',
        progress_bar: bool = False,
        cache: bool = False,
    ) -> Tensor:
        r"""Layer-wise inference over all nodes, as
        :meth:`torch_geometric.nn.models.BasicGNN.inference`: one layer at
        a time, each batch a seed set with its full one-hop neighbourhood
        (:obj:`NeighborLoader(data, num_neighbors=[-1], ...)`), in bounded
        memory. Every neighbourhood is read in the full graph's order:
        :obj:`edge_rank` if the data has one, else the sampled edges' ids
        :obj:`e_id` (see :func:`~torch_geometric_gru.edge_order`), so the
        result equals the full-batch forward.

        Args:
            loader (torch_geometric.loader.NeighborLoader): A loader of
                full one-hop neighbourhoods over all nodes.
            device (torch.device, optional): The device to run the layers
                on. (default: :obj:`None`)
            embedding_device (torch.device, optional): Where to keep the
                intermediate embeddings. (default: :obj:`"cpu"`)
            progress_bar (bool, optional): Show a progress bar.
                (default: :obj:`False`)
            cache (bool, optional): Keep the sampled subgraphs for the next
                layers. (default: :obj:`False`)
        """
        if self.jk_mode not in (None, 'last'):
            raise ValueError(f"Layer-wise inference needs jk=None or "
                             f"jk='last' (got jk={self.jk_mode!r})")
        if not isinstance(loader, NeighborLoader):
            raise TypeError(f"'loader' must be a NeighborLoader (got "
                            f"{type(loader).__name__})")
        if len(loader.dataset) != loader.data.num_nodes:
            raise ValueError("'loader' must cover every node (input_nodes="
                             "None or all of them)")
        if len(loader.node_sampler.num_neighbors) != 1:
            raise ValueError("'loader' must sample one hop, e.g. "
                             "num_neighbors=[-1] (the full neighbourhood)")
        if self.training:
            raise ValueError("Call 'model.eval()' before 'inference'")
        if progress_bar:
            from tqdm import tqdm
            pbar = tqdm(total=len(self.convs) * len(loader),
                        desc='Inference')
        x_all = loader.data.x.to(embedding_device)
        keys = ('n_id', 'batch_size', 'edge_index', 'adj_t', 'edge_rank',
                'e_id', 'edge_weight', 'edge_attr')
        if cache:
            def transform(data):
                return data.__class__.from_dict(
                    {k: data[k] for k in keys if k in data})
            loader = CachedLoader(loader, device=device, transform=transform)
        for i in range(self.num_layers):
            xs: List[Tensor] = []
            for batch in loader:
                x = x_all[batch.n_id].to(device)
                edge_index = (batch.adj_t if 'adj_t' in batch else
                              batch.edge_index).to(device)
                order = edge_order(batch)
                extra = {k: batch[k].to(device) for k in
                         ('edge_weight', 'edge_attr') if k in batch}
                x = self.inference_per_layer(
                    i, x, edge_index, batch.batch_size,
                    None if order is None else order.to(device), **extra)
                xs.append(x.to(embedding_device))
                if progress_bar:
                    pbar.update(1)
            x_all = torch.cat(xs, dim=0)
        if progress_bar:
            pbar.close()
        return x_all


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
