r"""The base of the models: a PyG :class:`BasicGNN` whose layers read
the neighbour order, trim it with the edges and share one layout cache."""
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.fx import Proxy
from torch_geometric.loader import CachedLoader, NeighborLoader
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_sparse
from torch_geometric.utils._trim_to_layer import TrimToLayer

from torch_geometric_gru.sampling import edge_order
from torch_geometric_gru.aggr.sequence import SequenceAggregation


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


def _check_trimming(edge_index: Adj, edge_weight: OptTensor,
                    edge_attr: OptTensor, order: OptTensor,
                    num_sampled_nodes_per_hop: Optional[List[int]]) -> None:
    r"""The inputs that :obj:`trim_to_layer` cannot trim."""
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

    # The loop of PyG 2.8's BasicGNN.forward, with the neighbour order
    # passed to every layer and trimmed with the edges.
    def forward(
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
        _check_trimming(edge_index, edge_weight, edge_attr, order,
                        num_sampled_nodes_per_hop)
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
                x = self._between_layers(x, norm, batch, batch_size)
                if hasattr(self, 'jk'):
                    xs.append(x)
        x = self.jk(xs) if hasattr(self, 'jk') else x
        return self.lin(x) if hasattr(self, 'lin') else x

    def _between_layers(self, x: Tensor, norm: Any, batch: OptTensor,
                        batch_size: Optional[int]) -> Tensor:
        r"""Activation, normalization and dropout after a layer, as
        :meth:`BasicGNN.forward` applies them."""
        if self.act is not None and self.act_first:
            x = self.act(x)
        x = norm(x, batch, batch_size) if self.supports_norm_batch else \
            norm(x)
        if self.act is not None and not self.act_first:
            x = self.act(x)
        return self.dropout(x)

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
