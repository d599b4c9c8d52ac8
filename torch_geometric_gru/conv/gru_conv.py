r"""The GRU graph convolution."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import Adj, OptPairTensor, OptTensor, Size
from torch_geometric.utils import scatter

from torch_geometric_gru._checks import check_bool
from torch_geometric_gru.conv.inputs import conv_aggregation, conv_inputs
from torch_geometric_gru.conv.paths import (
    EDGE_DROPOUT,
    NO_DECOMPOSED,
    OLD_CHECKPOINT,
    REFUSED_HOOKS,
    check_conv_options,
    conv_repr,
    messages_observed,
    plain_linear,
    refuse,
)


class GRUConv(MessagePassing):
    r"""The GRU graph convolution: every node reads the messages of its
    incoming neighbours as a sequence, with one shared
    :class:`torch.nn.GRU`, and adds its own transformed features:

    .. math::
        \mathbf{m}_{j \to i} &= \mathbf{W} \mathbf{x}_j
        \; (+ \, \mathbf{W}_e \mathbf{e}_{j, i}) \\
        \mathbf{x}^{\prime}_i &= \mathbf{W}_{root} \mathbf{x}_i +
        \boldsymbol{\gamma} \odot
        \mathrm{GRU}\left(\mathbf{m}_{j_1 \to i}, \ldots,
        \mathbf{m}_{j_{\deg(i)} \to i}\right)
        + \mathrm{mean}_{j} \, \mathbf{m}_{j \to i} + \mathbf{b}

    where the GRU's output is its final hidden state (exactly, see
    :class:`~torch_geometric_gru.GRUAggregation`), :math:`j_1, j_2, \ldots`
    are the sources of the in-edges of :math:`i` in the order they stand in
    :obj:`edge_index`, and nodes without in-edges aggregate to zero. By
    default, the mean of the messages is added (:obj:`add_mean`), the GRU's
    state is scaled by a learned per-channel factor
    :math:`\boldsymbol{\gamma}` that starts at zero (:obj:`gru_scale`), so
    that the layer starts as the mean and learns how much the GRU adds, and
    in training each in-edge is dropped from the GRU's sequence with
    probability :obj:`edge_dropout` (0.5) at every forward: defaults chosen
    on validation accuracy (see the docs' results), that keep the GRU from
    fitting the exact neighbourhoods of the training nodes. In evaluation
    mode the layer is deterministic and reads every in-edge;
    :obj:`edge_dropout=0.0, add_mean=False, gru_scale=False` gives the GRU
    alone. The defaults serve node classification; on graph classification
    they cost accuracy (small molecules most), and
    :obj:`edge_dropout=0.0, gru_scale=False` serves better there.

    Without edge features, :math:`\mathbf{W}` and the GRU's input projection
    act on the :math:`|\mathcal{V}|` source nodes once, and their results
    are gathered per edge; no :math:`|\mathcal{E}| \times F` message matrix
    is formed (with every kernel but :obj:`kernel="cudnn"`, which reads
    gathered messages). Where it costs fewer operations (about when
    :math:`F_{in} < 1.5 \cdot` :obj:`out_channels`; for
    :obj:`cell="mingru"` when :math:`F_{in} < 2 \cdot`
    :obj:`out_channels`), :math:`\mathbf{W}` is folded into the cell's
    input weights, :math:`\mathbf{W}_{ih} \mathbf{W}`, so that each node's
    features are projected once, straight to the gates; the function and
    its gradients are the same.

    .. note::

        The sequence of node :math:`i` is its in-edges in the order they
        stand in :obj:`edge_index`. For a sparse adjacency :obj:`adj_t` it
        is the storage order: by ascending source for a
        :class:`torch_sparse.SparseTensor`, a CSR, CSC or coalesced COO
        tensor; the order of the entries for an uncoalesced COO tensor.
        The adjacency itself is left as it was. Use the transforms of
        :mod:`torch_geometric_gru.transforms` to choose the order.

    .. warning::

        :class:`GRUConv` is not invariant to the order of each node's
        in-edges.

    Args:
        in_channels (int or tuple): Size of each input sample, or :obj:`-1`
            to derive it from the first input (lazy initialization). A
            tuple gives the sizes of source and destination features for a
            bipartite graph.
        out_channels (int): Size of each output sample; also the width of
            the messages and of the GRU's hidden state.
        edge_dim (int, optional): Edge feature dimensionality; if set, the
            messages include :math:`\mathbf{W}_e \mathbf{e}_{j, i}`.
            (default: :obj:`None`)
        root_weight (bool, optional): If set to :obj:`False`, the layer does
            not add the transformed root node features to the output.
            (default: :obj:`True`)
        bias (bool, optional): If set to :obj:`False`, neither the layer nor
            its GRU learns additive biases. (default: :obj:`True`)
        num_layers (int, optional): Number of stacked GRU layers.
            (default: :obj:`1`)
        bidirectional (bool, optional): If set to :obj:`True`, a second GRU
            direction reads each sequence reversed; the two final states
            are mapped back to :obj:`out_channels` by a linear layer.
            (default: :obj:`False`)
        dropout (float, optional): Dropout between stacked GRU layers.
            (default: :obj:`0.0`)
        cell (str, optional): The recurrent cell: :obj:`"gru"` (a
            :class:`torch.nn.GRU`, exact and sequential in the degree) or
            :obj:`"mingru"` (the
            :class:`~torch_geometric_gru.MinGRUAggregation`, whose gates
            do not read the state: :math:`O(H)` work per edge in one fused
            scan per node; one layer, one direction).
            (default: :obj:`"gru"`)
        kernel (str, optional): The recurrence kernel of :obj:`cell="gru"`:
            :obj:`"auto"`, :obj:`"triton"`, :obj:`"native"` or
            :obj:`"cudnn"` (see :class:`~torch_geometric_gru.GRUAggregation`).
            (default: :obj:`"auto"`)
        checkpoint (bool, optional): If set to :obj:`True`, a training
            forward keeps no per-edge GRU state for the backward, which
            recomputes it (see
            :class:`~torch_geometric_gru.GRUAggregation`); for graphs whose
            training step does not fit otherwise. (default: :obj:`False`)
        positional_encoding (str, optional): :obj:`"sinusoidal"` or
            :obj:`"learned"` encoding of each message's rank, added to the
            message. (default: :obj:`None`)
        shuffle (bool, optional): Read each neighbourhood in a fresh random
            order at every training forward. (default: :obj:`False`)
        num_permutations (int, optional): Average over this many random
            neighbour orders in evaluation mode. (default: :obj:`1`)
        max_length (int, optional): Read a random subset of at most this
            many in-edges per node (an opt-in change of the model for
            graphs with huge hubs). (default: :obj:`None`)
        seed (int, optional): Seeds the random orders, subsets and
            dropped in-edges. (default: :obj:`None`)
        edge_dropout (float, optional): In training, every forward drops
            each in-edge from the GRU's sequences with this probability,
            drawn anew per forward from PyTorch's global generator (or
            :obj:`seed`), so that :func:`torch.manual_seed` reproduces a
            run; evaluation reads every in-edge (see
            :class:`~torch_geometric_gru.SequenceAggregation`).
            A regulariser: without it the GRU fits the exact
            neighbourhoods of the training nodes. Set it to :obj:`0.0`
            where one neighbour alone can decide the output (the first
            in-edge, a specific position). (default: :obj:`0.5`)
        add_mean (bool, optional): If set to :obj:`True`, the mean of the
            messages (of every in-edge, also those :obj:`edge_dropout`
            drops from the sequence) is added to the GRU's final state, so
            that the GRU refines the mean with what the order adds instead
            of replacing it. (default: :obj:`True`)
        gru_scale (bool, optional): If set to :obj:`True`, the GRU's final
            state is multiplied by a learned per-channel factor
            :math:`\boldsymbol{\gamma}` (the parameter :obj:`gru_scale`,
            of shape :obj:`[out_channels]`) that starts at zero (ReZero,
            Bachlechner et al., 2020): the layer starts as its root term
            plus the mean (:obj:`add_mean`) and learns how much the GRU
            adds. A checkpoint saved without it loads into a layer built
            with :obj:`gru_scale=False`; loading it into one with the scale
            raises an error (also with :obj:`strict=False`: the GRU would
            stay switched off). (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F_{in})` or
          :math:`((|\mathcal{V_s}|, F_{s}), (|\mathcal{V_t}|, F_{t}))`
          if bipartite,
          edge indices :math:`(2, |\mathcal{E}|)` (or a sparse adjacency),
          edge features :math:`(|\mathcal{E}|, D)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})` or
          :math:`(|\mathcal{V_t}|, F_{out})` if bipartite
    """
    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        out_channels: int,
        edge_dim: Optional[int] = None,
        root_weight: bool = True,
        bias: bool = True,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        cell: str = 'gru',
        kernel: str = 'auto',
        checkpoint: bool = False,
        positional_encoding: Optional[str] = None,
        shuffle: bool = False,
        num_permutations: int = 1,
        max_length: Optional[int] = None,
        seed: Optional[int] = None,
        edge_dropout: float = EDGE_DROPOUT,
        add_mean: bool = True,
        gru_scale: bool = True,
        **kwargs,
    ):
        check_conv_options(in_channels, out_channels, edge_dim, kwargs)
        check_bool('add_mean', add_mean)
        check_bool('gru_scale', gru_scale)
        super().__init__(aggr=conv_aggregation(
            cell, out_channels, num_layers, bidirectional, dropout, bias,
            kernel, checkpoint, positional_encoding=positional_encoding,
            shuffle=shuffle, num_permutations=num_permutations,
            max_length=max_length, seed=seed, edge_dropout=edge_dropout),
            **kwargs)
        self.cell = cell
        self.in_channels = in_channels  # An int unless bipartite, as PyG.
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        self.out_channels = out_channels
        self.edge_dim = edge_dim
        self.root_weight = root_weight
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.add_mean = bool(add_mean)
        self.lin = Linear(in_channels[0], out_channels, bias=False)
        self.lin_edge = None
        if edge_dim is not None:
            self.lin_edge = Linear(edge_dim, out_channels, bias=False)
        self.lin_out = None
        if bidirectional:
            self.lin_out = Linear(2 * out_channels, out_channels, bias=False)
        self.lin_root = None
        if root_weight:
            self.lin_root = Linear(in_channels[1], out_channels, bias=False)
        if gru_scale:
            self.gru_scale = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('gru_scale', None)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self.lin.reset_parameters()
        for lin in (self.lin_edge, self.lin_out, self.lin_root):
            if lin is not None:
                lin.reset_parameters()
        zeros(self.gru_scale)
        zeros(self.bias)

    def forward(
        self,
        x: Union[Tensor, OptPairTensor],
        edge_index: Adj,
        edge_attr: OptTensor = None,
        size: Size = None,
        edge_weight: OptTensor = None,
        order: OptTensor = None,
    ) -> Tensor:
        r"""Runs the forward pass.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): Node features,
                or source and destination features of a bipartite graph
                (the destination may be :obj:`None` if
                :obj:`root_weight=False`).
            edge_index (torch.Tensor or SparseTensor): The edges, read per
                node in this order; a sparse adjacency's values are edge
                weights (1-D) or features (2-D).
            edge_attr (torch.Tensor, optional): Edge features of shape
                :obj:`[num_edges, edge_dim]`. (default: :obj:`None`)
            size ((int, int), optional): The number of source and
                destination nodes. (default: :obj:`None`)
            edge_weight (torch.Tensor, optional): One weight per edge, of
                shape :obj:`[num_edges]`, that scales its message before the
                GRU reads it. (default: :obj:`None`)
            order (torch.Tensor, optional): One sort key per edge, of shape
                :obj:`[num_edges]`: each node reads its in-edges sorted by
                it, e.g. the ranks an ordering transform recorded
                (:obj:`data.edge_rank`), which follow the edges through
                permutations and subsets. (default: :obj:`None`)
        """
        if self.decomposed_layers != 1:  # Set after construction.
            raise ValueError(NO_DECOMPOSED + "; set 'decomposed_layers = 1'")
        inp = conv_inputs(self, x, edge_index, edge_attr, size, edge_weight)
        x_src, x_dst, src, dst = inp.x_src, inp.x_dst, inp.src, inp.dst
        edge_weight, edge_emb = inp.edge_weight, None
        if inp.edge_attr is not None:
            edge_emb = self.lin_edge(inp.edge_attr)
        if messages_observed(self):
            # Through PyG's propagate, where explainer masks, hooks and
            # basis weights act on the messages the GRU reads.
            h = self.lin(x_src)
            out = self.propagate(
                inp.edge_index, h=(h, None) if inp.bipartite else h,
                edge_emb=edge_emb, edge_scale=edge_weight, edge_order=order,
                size=(inp.num_src, inp.num_dst))
        elif edge_emb is None and edge_weight is None:
            # Node messages W x_j, read by every out-edge: projected once
            # per node; W goes to the aggregation where it may, which folds
            # it into its cell's input projection where that costs less.
            fold = plain_linear(self.lin)
            h = x_src if fold else self.lin(x_src)
            out = self.aggr_module(
                h, dst, dim_size=inp.num_dst, x_index=src, validate=False,
                order=order, x_weight=self.lin.weight if fold else None)
            mean = self.mean(h.index_select(0, src), dst, inp.num_dst) \
                if self.add_mean else None
            if mean is not None and fold:  # W is linear: W (mean of x_j).
                mean = self.lin(mean)
            out = self.neighbourhood(out, mean)
        else:
            msg = self.message(self.lin(x_src).index_select(0, src),
                               edge_emb, edge_weight)
            out = self.aggr_module(msg, dst, dim_size=inp.num_dst,
                                   validate=False, order=order)
            out = self.neighbourhood(out, self.mean(msg, dst, inp.num_dst))
        if self.lin_root is not None:
            out = out + self.lin_root(x_dst)
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, h_j: Tensor, edge_emb: OptTensor,
                edge_scale: OptTensor) -> Tensor:
        r"""The message of every edge: :math:`\mathbf{W} \mathbf{x}_j`,
        plus the projected edge features :obj:`edge_emb`, scaled by the
        edge weight :obj:`edge_scale`."""
        msg = h_j if edge_emb is None else h_j + edge_emb
        return msg if edge_scale is None else msg * edge_scale.view(-1, 1)

    def aggregate(self, inputs: Tensor, index: Tensor,
                  ptr: OptTensor = None, dim_size: Optional[int] = None,
                  edge_order: OptTensor = None) -> Tensor:
        out = self.aggr_module(inputs, index, ptr=ptr, dim_size=dim_size,
                               validate=False, order=edge_order)
        return self.neighbourhood(out, self.mean(inputs, index, dim_size))

    def mean(self, msg: Tensor, index: Tensor,
             dim_size: Optional[int]) -> OptTensor:
        r"""The mean of the messages :obj:`msg` of every node if
        :obj:`add_mean` (zeros without in-edges), else :obj:`None`."""
        if not self.add_mean:
            return None
        # PyG's scatter takes int64 indices; the GRU's path takes int32 too.
        return scatter(msg, index.long(), 0, dim_size, reduce='mean')

    def neighbourhood(self, out: Tensor, mean: OptTensor) -> Tensor:
        r"""What the neighbours of every node contribute: the GRU's final
        state :obj:`out` (both directions mapped back to
        :obj:`out_channels`), scaled by :obj:`gru_scale` if learned, plus
        the mean of the messages :obj:`mean` if given."""
        if self.lin_out is not None:
            out = self.lin_out(out)
        if self.gru_scale is not None:
            out = out * self.gru_scale
        return out if mean is None else out + mean

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        # PyTorch runs the pre-hooks here (which may add the scale).
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        # Also with strict=False (PyTorch passes no strictness here): the
        # layer's own weights without its scale would load a GRU silently
        # switched off (the scale stays zero).
        if (self.gru_scale is not None and prefix + 'lin.weight' in state_dict
                and prefix + 'gru_scale' not in state_dict):
            error_msgs.append(OLD_CHECKPOINT.format(prefix + 'gru_scale'))

    def __repr__(self) -> str:
        return conv_repr(self)


# Hooks without a place in GRUConv: it has no fused message-and-aggregate
# kernel and no edge updater. Registering them would be a silent no-op, so
# it is an error.
for _name, _error in REFUSED_HOOKS.items():
    setattr(GRUConv, _name, refuse(_name, _error))
