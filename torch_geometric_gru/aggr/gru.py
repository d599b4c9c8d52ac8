r"""Exact, padding-free GRU aggregation."""
from typing import List, Optional, Union

from torch import Tensor

from torch_geometric_gru._checks import check_bool, check_channels
from torch_geometric_gru.layout.registry import LayoutParts
from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.aggr.recurrence import GRU, check_kernel, packed_gru
from torch_geometric_gru.aggr.sequence import SequenceAggregation


class GRUAggregation(SequenceAggregation):
    r"""Performs GRU aggregation in which the elements of every group (the
    incoming messages of a node) are read as a sequence by one shared
    :class:`torch.nn.GRU`, and the final hidden state is the aggregate:

    .. math::
        \mathbf{h}_i^{(t)} = \mathrm{GRU}\left(\mathbf{x}_{e_t(i)},
        \mathbf{h}_i^{(t - 1)}\right), \qquad
        \mathbf{out}_i = \mathbf{h}_i^{(\deg(i))}, \qquad
        \mathbf{h}_i^{(0)} = \mathbf{0},

    where :math:`e_1(i), \ldots, e_{\deg(i)}(i)` are the elements with
    :obj:`index == i` in the order they stand in :obj:`x`.

    Unlike :class:`torch_geometric.nn.aggr.GRUAggregation`, which pads every
    group to the largest group and returns the state *after the padding*,
    the output for node :math:`i` is exactly the GRU's state after its last
    element: it equals :obj:`self.gru` run on that node's elements alone,
    and never changes when other nodes are added, removed or re-batched.
    Groups are sorted by size and packed
    (:class:`torch.nn.utils.rnn.PackedSequence` layout, see
    :class:`~torch_geometric_gru.PackedLayout`), so memory is
    :math:`O(|\mathcal{E}| \cdot F)` and never grows with the maximum degree.
    On CUDA the recurrence runs in Triton kernels (one program per tile of
    sequences, looping over its own steps: the sequential depth is the
    largest degree, with no launch per step); on CPU in a hand-written
    kernel; both have a hand-written backward that costs a small multiple
    of the forward.

    .. note::

        The sequence of node :math:`i` is its elements *in the order they
        stand in* :obj:`x` (in a
        :class:`~torch_geometric.nn.conv.MessagePassing` conv, the order of
        its in-edges in :obj:`edge_index`), or sorted by :obj:`order` if
        given. :obj:`index` need
        not be sorted: elements are grouped by a stable sort, so that order
        survives. Use the ordering transforms of
        :mod:`torch_geometric_gru.transforms` to choose it.

    .. warning::

        :class:`GRUAggregation` is not a permutation-invariant operator.

    The GRU is held as :obj:`self.gru`, a
    :obj:`torch_geometric_gru.aggr.recurrence.GRU` (a :class:`torch.nn.GRU`
    parameter for parameter, that :func:`torch.compile` can trace)
    :obj:`(in_channels, out_channels, batch_first=True, ...)`, so
    state dicts load both ways with PyG's
    :class:`~torch_geometric.nn.aggr.GRUAggregation`. The packed layout of
    the last :obj:`index` seen is cached (keyed on the tensor's identity and
    version), so a static graph is sorted once.

    Args:
        in_channels (int): Size of each input sample, or :obj:`-1` to
            derive it from the first input (lazy initialization).
        out_channels (int, optional): Size of the GRU's hidden state; by
            default :obj:`in_channels`, the width that
            :class:`~torch_geometric.nn.conv.SAGEConv` and other convs that
            transform their aggregate expect (their :obj:`in_channels`).
            (default: :obj:`None`)
        num_layers (int, optional): Number of stacked GRU layers; the output
            is the top layer's final state. (default: :obj:`1`)
        bidirectional (bool, optional): If set to :obj:`True`, a second
            direction reads each sequence reversed, and the output is the
            forward direction's final state concatenated with the backward
            direction's, of width :obj:`2 * out_channels`.
            (default: :obj:`False`)
        dropout (float, optional): Dropout probability on the outputs of
            each GRU layer except the last. (default: :obj:`0.0`)
        bias (bool, optional): If set to :obj:`False`, the GRU has no bias
            terms. (default: :obj:`True`)
        kernel (str, optional): The recurrence kernel: :obj:`"auto"`
            (Triton on CUDA, falling back to cuDNN where Triton is missing
            or the dtype is float64; the hand-written kernel elsewhere),
            :obj:`"triton"`, :obj:`"native"` (the hand-written kernel of
            :obj:`torch_geometric_gru.ops.gru.cpu`, any device) or
            :obj:`"cudnn"` (:class:`torch.nn.GRU` on a
            :class:`~torch.nn.utils.rnn.PackedSequence`; it computes fp32 in
            TF32 on GPUs where cuDNN allows it). All give the same
            function. (default: :obj:`"auto"`)
        checkpoint (bool, optional): If set to :obj:`True`, a training
            forward keeps no per-element state for the backward (about
            :math:`4 H` bytes per element, layer and direction otherwise):
            the backward recomputes the states of one GRU layer and
            direction at a time from its input, at the cost of one more
            forward of the recurrence (see "Memory" in the user guide).
            Gradients are the same. For the largest graphs;
            kernels :obj:`"native"` and :obj:`"triton"`.
            (default: :obj:`False`)
        **kwargs (optional): The order options of
            :class:`~torch_geometric_gru.aggr.sequence.SequenceAggregation`:
            :obj:`positional_encoding`, :obj:`shuffle`,
            :obj:`num_permutations`, :obj:`max_length`, :obj:`seed`.

    Shapes:
        - **input:** elements :math:`(|\mathcal{E}|, F_{in})`,
          index :math:`(|\mathcal{E}|)` or ptr :math:`(|\mathcal{V}| + 1)`
        - **output:** :math:`(|\mathcal{V}|, F_{out})` with
          :math:`F_{out} = D \cdot` :obj:`out_channels`, :math:`D = 2` if
          :obj:`bidirectional` else :math:`1`
    """
    def __init__(
        self,
        in_channels: int,
        out_channels: Optional[int] = None,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
        kernel: str = 'auto',
        checkpoint: bool = False,
        **kwargs,
    ):
        check_channels('in_channels', in_channels, lazy=True)
        if out_channels is not None:
            check_channels('out_channels', out_channels)
        super().__init__(in_channels, out_channels or in_channels, **kwargs)
        check_kernel(kernel)
        check_channels('num_layers', num_layers)
        check_bool('bidirectional', bidirectional)
        check_bool('checkpoint', checkpoint)
        if checkpoint and kernel == 'cudnn':
            raise ValueError("kernel='cudnn' keeps its own states for the "
                             "backward and cannot recompute them; use "
                             "kernel='native' or 'triton' with "
                             "'checkpoint', or drop 'checkpoint'")
        self.checkpoint = bool(checkpoint)
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.kernel = kernel
        self._same_width = out_channels is None
        self._gru_kwargs = dict(num_layers=num_layers, bias=bias,
                                batch_first=True, dropout=dropout,
                                bidirectional=bidirectional)
        self.gru: Optional[GRU] = None
        if in_channels > 0:
            self._build(in_channels)
        else:  # Lazy: built by the first input, or by a loaded state_dict.
            self._register_load_state_dict_pre_hook(self._lazy_load)
        self.reset_parameters()

    def _build(self, in_channels: int, device=None, dtype=None) -> None:
        self.in_channels = in_channels
        if self._same_width:
            self.out_channels = in_channels
        self.gru = GRU(in_channels, self.out_channels, device=device,
                       dtype=dtype, **self._gru_kwargs)

    def _lazy_load(self, state_dict, prefix, *args) -> None:
        weight = state_dict.get(f'{prefix}gru.weight_ih_l0')
        if self.gru is None and weight is not None:
            self._build(weight.size(1), weight.device, weight.dtype)

    def reset_parameters(self):
        super().reset_parameters()
        if self.gru is not None:
            self.gru.reset_parameters()

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        if self.gru is None:  # Lazy: the first input fixes the width.
            x_weight = kwargs.get('x_weight')
            self._build(x.size(-1) if x_weight is None else
                        x_weight.size(0), x.device, x.dtype)
        return super().forward(x, *args, **kwargs)

    forward.__doc__ = SequenceAggregation.forward.__doc__

    folds_x_weight = True

    def aggregate_layout(self, x: Tensor, src: Optional[Tensor],
                         layout: Union[PackedLayout, LayoutParts],
                         x_weight: Optional[Tensor] = None) -> Tensor:
        return packed_gru(self.gru, layout, x, src, kernel=self.kernel,
                          checkpoint=self.checkpoint, x_weight=x_weight)

    def extra_repr_args(self) -> List[str]:
        args = []
        if self.num_layers != 1:
            args.append(f'num_layers={self.num_layers}')
        if self.bidirectional:
            args.append('bidirectional=True')
        if self.kernel != 'auto':
            args.append(f'kernel={self.kernel!r}')
        if self.checkpoint:
            args.append('checkpoint=True')
        return args + super().extra_repr_args()
