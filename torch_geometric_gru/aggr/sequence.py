r"""The base class of the aggregations that read every group as a sequence:
input checks, the packed layout, and the options that set the order."""
from typing import List, Optional, Union

import torch
from torch import Tensor
from torch_geometric.nn.aggr import Aggregation

from torch_geometric_gru._checks import (
    IndexRangeError,
    autocast_enabled,
    check_bool,
    check_dtype,
    check_index_dtype,
    check_index_range,
    check_seed,
)
from torch_geometric_gru.aggr.checks import (
    check_call,
    check_edge_dropout,
    check_order_options,
)
from torch_geometric_gru.aggr.encoding import rank_encoding
from torch_geometric_gru.aggr.plan import Call, plan
from torch_geometric_gru.layout.grouping import index_of
from torch_geometric_gru.layout.cache import LayoutCache
from torch_geometric_gru.layout.registry import LayoutParts, as_layout
from torch_geometric_gru.layout.packed import PackedLayout


class SequenceAggregation(Aggregation):
    r"""An aggregation that reads the elements of every group (the incoming
    messages of a node) as a sequence, in the order they stand in :obj:`x`,
    and returns one vector per group. Subclasses implement
    :meth:`~torch_geometric_gru.SequenceAggregation.sequence_final`: the
    final state of every sequence of a
    :class:`~torch_geometric_gru.PackedLayout`.

    It owns what all such aggregations share: the input checks, a cached
    layout per graph, the hoisted projection of node features
    (:obj:`x_index`), and the options that set the order the sequence is
    read in.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of the recurrent state.
        positional_encoding (str, optional): Adds an encoding of each
            element's rank :math:`t = 0, 1, \ldots` in its sequence to the
            input: :obj:`"sinusoidal"` (the transformer's encoding, width
            :obj:`in_channels`) or :obj:`"learned"` (an embedding of the
            rank; needs :obj:`max_length`). (default: :obj:`None`)
        shuffle (bool, optional): If set to :obj:`True`, every training
            forward reads each sequence in a fresh random order
            (:math:`\pi`-SGD of Janossy pooling); evaluation reads the
            given order. (default: :obj:`False`)
        num_permutations (int, optional): In evaluation mode, averages the
            output over this many random orders of every sequence, all in
            one batched call; this makes the aggregation approximately
            permutation-invariant. (default: :obj:`1`)
        max_length (int, optional): If set, a sequence longer than this is
            replaced by a uniformly random subset of :obj:`max_length` of
            its elements, in their original relative order (a change of
            the model for graphs whose hubs make sequences impractically
            long; drawn anew at every forward). (default: :obj:`None`)
        seed (int, optional): If set, :obj:`shuffle`,
            :obj:`num_permutations`, :obj:`max_length` and
            :obj:`edge_dropout` draw from a
            private generator with this seed (on the CPU, so a seed gives
            the same draws on every device), and every copy of the layer
            (e.g. in each DataLoader worker) repeats the same draws. By
            default they draw from PyTorch's global generator, so that
            :func:`torch.manual_seed` reproduces them and DataLoader workers
            draw differently. (default: :obj:`None`)
        edge_dropout (float, optional): In training, every forward drops
            each element (in-edge) of every sequence with this
            probability, drawn anew per call; the others are read in
            their order. Evaluation reads every element. A regulariser
            (DropEdge, inside the sequence): the recurrence cannot fit
            the exact neighbourhoods of the training nodes. Under
            :func:`torch.compile` the draw is part of the graph (from the
            global generator, on the layer's device), except with
            :obj:`seed`, whose private generator runs eagerly (a graph
            break). (default: :obj:`0.0`)
    """
    #: Whether :meth:`aggregate_layout` (through :meth:`sequence_final`,
    #: unless it is overridden) takes an :obj:`x_weight` to fold into its
    #: own input projection (else :meth:`forward` applies it).
    folds_x_weight = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        positional_encoding: Optional[str] = None,
        shuffle: bool = False,
        num_permutations: int = 1,
        max_length: Optional[int] = None,
        seed: Optional[int] = None,
        edge_dropout: float = 0.0,
    ):
        super().__init__()
        check_order_options(positional_encoding, num_permutations,
                            max_length, in_channels)
        check_bool('shuffle', shuffle)
        check_seed(seed)
        check_edge_dropout(edge_dropout)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.positional_encoding = positional_encoding
        self.shuffle = shuffle
        self.num_permutations = num_permutations
        self.max_length = max_length
        self.seed = seed
        self.edge_dropout = float(edge_dropout)
        self.generator: Optional[torch.Generator] = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(seed)
        self.pos_embedding = None
        if positional_encoding == 'learned':
            self.pos_embedding = torch.nn.Embedding(max_length, in_channels)
        self._layouts = LayoutCache()

    def reset_parameters(self):
        if self.pos_embedding is not None:
            self.pos_embedding.reset_parameters()

    def sequence_final(self, x: Tensor, src: Optional[Tensor],
                       layout: PackedLayout,
                       x_weight: Optional[Tensor] = None) -> Tensor:
        r"""Returns the final state of every sequence of :obj:`layout`, of
        shape :obj:`[layout.num_sequences, F_out]` in packed order; packed
        row :obj:`p` reads :obj:`x[src[p]]` (:obj:`x[p]` if :obj:`src` is
        :obj:`None`), mapped by :obj:`x_weight` if given (only to
        subclasses that set :obj:`folds_x_weight`)."""
        raise NotImplementedError

    def __call__(self, x: Tensor, index: Optional[Tensor] = None,
                 ptr: Optional[Tensor] = None, *args, **kwargs) -> Tensor:
        if any(isinstance(v, torch.fx.Proxy) for v in (x, index, ptr)):
            # Traced by PyG's FX tracer (`to_hetero`, `to_fixed_size`),
            # which records the call of an aggregation as one node through
            # the base class's `__call__`; the checks run when the traced
            # module is called.
            return super().__call__(x, index, ptr, *args, **kwargs)
        check_call(self, x, index, ptr, args, kwargs)
        try:
            return super().__call__(x, index, ptr, *args, **kwargs)
        except ValueError as e:
            # PyG's base replaces an IndexError with its own message about
            # 'dim_size'; ours names the argument and is an IndexError too.
            if isinstance(e.__cause__, IndexRangeError):
                raise e.__cause__ from None
            raise

    def parameter_dtype(self) -> Optional[torch.dtype]:
        r"""The dtype the layer computes in (its parameters'), or
        :obj:`None` before a lazy layer is initialised."""
        for p in self.parameters():
            if not isinstance(p, torch.nn.parameter.UninitializedParameter):
                return p.dtype
        return None

    # Under torch.compile, what depends on the values of `index` (the
    # layout, the step loop) runs inside the operators of
    # `torch_geometric_gru.ops`; the code here only reads shapes.
    def forward(
        self,
        x: Tensor,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        dim: int = -2,
        max_num_elements: Optional[int] = None,
        x_index: Optional[Tensor] = None,
        validate: bool = True,
        order: Optional[Tensor] = None,
        x_weight: Optional[Tensor] = None,
    ) -> Tensor:
        r"""Aggregates the rows of :obj:`x` per node.

        Args:
            x (torch.Tensor): The elements (messages),
                :obj:`[num_elements, in_channels]`.
            index (torch.Tensor, optional): The node of each element,
                :obj:`[num_elements]`; need not be sorted. One of
                :obj:`index` or :obj:`ptr` must be given.
            ptr (torch.Tensor, optional): CSR boundaries,
                :obj:`[dim_size + 1]`, when :obj:`x` is grouped by node.
            dim_size (int, optional): The number of nodes; nodes without
                elements get zeros. (default: :obj:`index.max() + 1`)
            dim (int, optional): The dimension to aggregate over.
                (default: :obj:`-2`)
            max_num_elements (int, optional): If given, only the *first*
                :obj:`max_num_elements` elements of each sequence are read
                (an opt-in truncation). (default: :obj:`None`)
            x_index (torch.Tensor, optional): If given, element :obj:`e` is
                the row :obj:`x[x_index[e]]`: node features read by every
                out-edge are projected once per node. (default: :obj:`None`)
            validate (bool, optional): If :obj:`False`, skips the range
                checks of :obj:`index` and :obj:`x_index` (the caller did
                them). (default: :obj:`True`)
            order (torch.Tensor, optional): A sort key per element: every
                node reads its elements sorted by it, e.g.
                :obj:`data.edge_rank`; ties within a node are an error.
                (default: :obj:`None`)
            x_weight (torch.Tensor, optional): A linear map
                :obj:`[in_channels, F]`: the elements are then
                :obj:`x @ x_weight.T`; a GRU or minGRU folds it into its
                input projection where that costs less.
                (default: :obj:`None`)
        """
        if x_weight is not None:
            if x.dim() == 3 or not self.folds_x_weight or \
                    self.positional_encoding is not None:
                # Multi-head messages, another cell, or an encoding added
                # to the messages themselves: apply the map here.
                x, x_weight = torch.nn.functional.linear(x, x_weight), None
        if x.dim() == 3 and dim in (0, -3) and x_index is None:
            return _multi_head(self, x, index, ptr, dim_size,
                               max_num_elements, validate, order)
        dtype = self.parameter_dtype()
        if autocast_enabled(x):  # The recurrence runs in the weights' dtype.
            with torch.autocast(x.device.type, enabled=False):
                return self.forward(x.to(dtype or x.dtype), index, ptr,
                                    dim_size, dim, max_num_elements,
                                    x_index, validate, order,
                                    None if x_weight is None else
                                    x_weight.to(dtype or x_weight.dtype))
        check_dtype('x', x, dtype)
        layout, src, copies, num_out = plan(self, Call(
            x, index, ptr, dim_size, max_num_elements, x_index, validate,
            order))
        if self.positional_encoding is not None:
            x = x.index_select(0, src) + rank_encoding(self, layout, x)
            src = None
        if x_weight is None:
            out = self.aggregate_layout(x, src, layout)
        else:
            out = self.aggregate_layout(x, src, layout, x_weight=x_weight)
        if num_out is not None:
            out = out[:num_out]
        if copies > 1:
            out = out.view(copies, -1, out.size(-1)).mean(0)
        return out

    def layout(
        self,
        x: Tensor,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        max_num_elements: Optional[int] = None,
    ) -> PackedLayout:
        r"""Returns the (cached) packed layout of :obj:`index` or
        :obj:`ptr` for the rows of :obj:`x`, in the given order."""
        return self._layouts.get(x.size(0), index, ptr, dim_size,
                                 max_num_elements)[0]

    def aggregate_layout(self, x: Tensor, src: Optional[Tensor],
                         layout: Union[PackedLayout, LayoutParts],
                         x_weight: Optional[Tensor] = None) -> Tensor:
        r"""Returns the final state of every node of :obj:`layout`, of shape
        :obj:`[layout.num_nodes, F_out]`, zeros for nodes without elements;
        packed row :obj:`p` reads :obj:`x[src[p]]` (:obj:`x[p]` if
        :obj:`src` is :obj:`None`), mapped by :obj:`x_weight` if given
        (only where :obj:`folds_x_weight`). By default through
        :meth:`sequence_final`, eagerly."""
        return self._aggregate_eager(x, src, layout, x_weight)

    @torch.compiler.disable
    def _aggregate_eager(self, x: Tensor, src: Optional[Tensor],
                         layout: Union[PackedLayout, LayoutParts],
                         x_weight: Optional[Tensor] = None) -> Tensor:
        layout = as_layout(layout)
        if x_weight is None:  # A subclass need not take `x_weight`.
            final = self.sequence_final(x, src, layout)
        else:
            final = self.sequence_final(x, src, layout, x_weight=x_weight)
        return layout.unpack_final(final)

    def extra_repr_args(self) -> List[str]:
        r"""Arguments beyond the channels shown by :meth:`__repr__`."""
        args = []
        if self.positional_encoding is not None:
            args.append(f'positional_encoding={self.positional_encoding!r}')
        if self.shuffle:
            args.append('shuffle=True')
        if self.num_permutations != 1:
            args.append(f'num_permutations={self.num_permutations}')
        if self.max_length is not None:
            args.append(f'max_length={self.max_length}')
        if self.edge_dropout > 0:
            args.append(f'edge_dropout={self.edge_dropout}')
        return args

    def __repr__(self) -> str:
        args = [f'{self.in_channels}', f'{self.out_channels}']
        args += self.extra_repr_args()
        return f'{self.__class__.__name__}({", ".join(args)})'


def _multi_head(aggr: 'SequenceAggregation', x: Tensor,
                index: Optional[Tensor], ptr: Optional[Tensor],
                dim_size: Optional[int], max_num_elements: Optional[int],
                validate: bool, order: Optional[Tensor]) -> Tensor:
    r"""Multi-head messages :obj:`[E, heads, C]` (:class:`GATConv`,
    :class:`TransformerConv`): every head of a node is a sequence of its
    own, read by the same recurrent cell; returns :obj:`[N, heads,
    F_out]`."""
    # Multi-head messages [E, heads, C] (GATConv, TransformerConv):
    # every head of a node is a sequence of its own, read by the
    # same recurrent cell; the output is [N, heads, F_out].
    heads = x.size(1)
    if index is None:
        index = index_of(ptr, x.size(0))
        dim_size = ptr.numel() - 1
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    if validate:  # Here, where the error can name the node index.
        check_index_dtype('index', index)
        check_index_range('index', index, dim_size)
    head_index = (index.long().view(-1, 1) * heads +
                  torch.arange(heads, device=x.device)).view(-1)
    head_order = None if order is None else \
        order.repeat_interleave(heads)
    out = aggr.forward(x.reshape(-1, x.size(-1)), head_index,
                       dim_size=dim_size * heads,
                       max_num_elements=max_num_elements,
                       validate=False, order=head_order)
    return out.view(dim_size, heads, -1)
