r"""The minGRU aggregation: a GRU whose gates do not read the state, so
that every sequence is a composition of affine maps, :math:`O(H)` work per
element."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.dense.linear import Linear

from torch_geometric_gru._checks import check_channels
from torch_geometric_gru.aggr.fold import foldable_linear, folds_linear
from torch_geometric_gru.aggr.recurrence import raise_not_scriptable
from torch_geometric_gru.aggr.sequence import SequenceAggregation
from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.ops.mingru import mingru_scan, segments


class MinGRUAggregation(SequenceAggregation):
    r"""The minGRU aggregation of the `"Were RNNs All We Needed?"
    <https://arxiv.org/abs/2410.01201>`_ paper (Feng et al., 2024): every
    node reads its incoming messages as a sequence with

    .. math::
        \mathbf{z}_t &= \sigma(\mathbf{W}_z \mathbf{x}_t + \mathbf{b}_z) \\
        \tilde{\mathbf{h}}_t &= \mathbf{W}_h \mathbf{x}_t + \mathbf{b}_h \\
        \mathbf{h}_t &= (1 - \mathbf{z}_t) \odot \mathbf{h}_{t-1} +
        \mathbf{z}_t \odot \tilde{\mathbf{h}}_t, \qquad
        \mathbf{h}_0 = \mathbf{0},

    and its final state :math:`\mathbf{h}_{\deg(i)}` is the aggregate.
    Since the gates do not read :math:`\mathbf{h}`, each step is an affine
    map of the state, :math:`O(H)` work per element once every input row
    is projected (once per node when the elements are gathered node
    features). The maps are composed in one fused pass per node (the
    :obj:`torch_geometric_gru::mingru_scan` operator: C++ on CPU, Triton
    on CUDA, the gate's sigmoid and the gather inside the pass); the
    pairwise tree
    :obj:`ops.mingru.naive.affine_reduce` is its
    plain-PyTorch reference. The result equals the sequential definition up
    to floating-point rounding, and keeps every contract of
    :class:`~torch_geometric_gru.GRUAggregation` (order = element order,
    batch invariance, zeros for empty groups, input checks, the order
    options).

    .. warning::

        :class:`MinGRUAggregation` is not a permutation-invariant operator.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of the state.
        bias (bool, optional): If set to :obj:`False`, :math:`\mathbf{b}_z`
            and :math:`\mathbf{b}_h` are left out. (default: :obj:`True`)
        **kwargs (optional): The order options of
            :class:`~torch_geometric_gru.aggr.sequence.SequenceAggregation`.

    Shapes:
        - **input:** elements :math:`(|\mathcal{E}|, F_{in})`,
          index :math:`(|\mathcal{E}|)` or ptr :math:`(|\mathcal{V}| + 1)`
        - **output:** :math:`(|\mathcal{V}|, F_{out})`
    """
    def __init__(self, in_channels: int, out_channels: int,
                 bias: bool = True, **kwargs):
        check_channels('in_channels', in_channels, lazy=True)
        check_channels('out_channels', out_channels)
        super().__init__(in_channels, out_channels, **kwargs)
        # One projection for [W_z; W_h]:
        self.lin = Linear(in_channels, 2 * out_channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self.lin.reset_parameters()

    def __prepare_scriptable__(self):
        raise_not_scriptable()

    folds_x_weight = True

    def sequence_final(self, x: Tensor, src: Optional[Tensor],
                       layout: PackedLayout,
                       x_weight: Optional[Tensor] = None) -> Tensor:
        if layout.num_packed == 0:
            return x[:0, :1].expand(0, self.out_channels) * 0
        # Gates and candidates depend on the input row alone: compute them
        # once per row of `x` (once per node when node features are read by
        # every out-edge) and let the scan gather them; rows that no element
        # reads are not projected.
        if src is not None and x.size(0) > src.numel():
            x, src = x.index_select(0, src), None
        # One fused pass per sequence (the sigmoid and the gather inside
        # the scan operator); affine_reduce is its plain-PyTorch reference.
        packed_row, ptr = segments(layout)
        rows = packed_row if src is None else src.index_select(0, packed_row)
        return mingru_scan(self._gates(x, x_weight), rows, ptr)

    def _gates(self, x: Tensor, x_weight: Optional[Tensor]) -> Tensor:
        r"""The gate and candidate rows :math:`[\mathbf{W}_z;
        \mathbf{W}_h] \mathbf{x} + \mathbf{b}` of the rows of :obj:`x`,
        after the map :obj:`x_weight` if given: folded into the weights
        (:math:`[\mathbf{W}_z; \mathbf{W}_h] \, \mathbf{W}`, one projection
        per row, the same function and gradients) where
        :func:`~torch_geometric_gru.aggr.fold.folds_linear` says it costs
        less (in :class:`~torch_geometric_gru.GRUConv`, whose messages are
        :obj:`out_channels` wide: when :math:`F < 2 \cdot`
        :obj:`out_channels`)."""
        if x_weight is None:
            return self.lin(x)
        if foldable_linear(self.lin) and folds_linear(
                x_weight.size(1), x_weight.size(0), self.lin.weight.size(0)):
            # The product is differentiable: gradients reach both weights.
            return F.linear(x, self.lin.weight.mm(x_weight), self.lin.bias)
        return self.lin(F.linear(x, x_weight))
