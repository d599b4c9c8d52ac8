r"""Exact, padding-free GRU aggregation."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn.aggr import Aggregation

from torch_geometric_gru._checks import check_features
from torch_geometric_gru.packing import LayoutCache, PackedLayout
from torch_geometric_gru.recurrence import packed_gru
from torch_geometric_gru.workspace import Workspace


class GRUAggregation(Aggregation):
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
    On CUDA the recurrence runs in cuDNN; on CPU in a hand-written kernel
    whose backward costs a small multiple of its forward.

    .. note::

        The sequence of node :math:`i` is its elements *in the order they
        stand in* :obj:`x` (in :class:`~torch_geometric.nn.conv.MessagePassing`,
        the order of its in-edges in :obj:`edge_index`). :obj:`index` need
        not be sorted: elements are grouped by a stable sort, so that order
        survives. Use the ordering transforms of
        :mod:`torch_geometric_gru.transforms` to choose it.

    .. warning::

        :class:`GRUAggregation` is not a permutation-invariant operator.

    The GRU is held as :obj:`self.gru`, a
    :obj:`torch.nn.GRU(in_channels, out_channels, batch_first=True, ...)`, so
    :obj:`state_dict`s load both ways with PyG's
    :class:`~torch_geometric.nn.aggr.GRUAggregation`. The packed layout of
    the last :obj:`index` seen is cached (keyed on the tensor's identity and
    version), so a static graph is sorted once.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of the GRU's hidden state.
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
        out_channels: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.gru = torch.nn.GRU(in_channels, out_channels,
                                num_layers=num_layers, bias=bias,
                                batch_first=True, dropout=dropout,
                                bidirectional=bidirectional)
        self._layouts = LayoutCache()
        self.workspace = Workspace()
        self.reset_parameters()

    def reset_parameters(self):
        self.gru.reset_parameters()

    def __call__(self, x: Tensor, index: Optional[Tensor] = None,
                 ptr: Optional[Tensor] = None, *args, **kwargs) -> Tensor:
        check_features('x', x, self.in_channels)
        # PyG's base class would read a missing `index` as "one group";
        # for a sequence model that silently fixes an order, so ask:
        if index is None and ptr is None:
            raise ValueError(
                f"'{self.__class__.__name__}' needs 'index' (the node of "
                f"each row of 'x') or 'ptr' (CSR boundaries); to read all "
                f"of 'x' as one sequence pass "
                f"'index=torch.zeros(x.size(0), dtype=torch.long)'")
        return super().__call__(x, index, ptr, *args, **kwargs)

    def layout(
        self,
        x: Tensor,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        max_num_elements: Optional[int] = None,
    ) -> PackedLayout:
        r"""Returns the (cached) packed layout of :obj:`index` or
        :obj:`ptr` for the rows of :obj:`x`."""
        return self._layouts.get(x.size(0), index, ptr, dim_size,
                                 max_num_elements)[0]

    def forward(
        self,
        x: Tensor,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        dim: int = -2,
        max_num_elements: Optional[int] = None,
        x_index: Optional[Tensor] = None,
    ) -> Tensor:
        r"""Aggregates the rows of :obj:`x` per node.

        Args:
            x (torch.Tensor): The elements (messages), of shape
                :obj:`[num_elements, in_channels]`.
            index (torch.Tensor, optional): The node of each element, of
                shape :obj:`[num_elements]`; need not be sorted.
                One of :obj:`index` or :obj:`ptr` must be given.
            ptr (torch.Tensor, optional): CSR boundaries of shape
                :obj:`[dim_size + 1]` when :obj:`x` is grouped by node.
            dim_size (int, optional): The number of nodes; nodes without
                elements get zeros. (default: :obj:`index.max() + 1`)
            dim (int, optional): The dimension to aggregate over; must be
                the first of a 2-D :obj:`x`. (default: :obj:`-2`)
            max_num_elements (int, optional): If given, only the *first*
                :obj:`max_num_elements` elements of each sequence are read
                (a truncation of long sequences that you opt into).
                (default: :obj:`None`)
            x_index (torch.Tensor, optional): If given, element :obj:`e` is
                the row :obj:`x[x_index[e]]`, and :obj:`index` has one entry
                per element: node features read by every out-edge are then
                projected by the GRU once per node, not once per edge
                (:class:`~torch_geometric_gru.GRUConv` does this).
                (default: :obj:`None`)
        """
        check_features('x', x, self.in_channels)
        if dim not in (-2, 0):
            raise ValueError(f"'{self.__class__.__name__}' aggregates over "
                             f"the rows of a 2-D 'x'; pass dim=0 or dim=-2 "
                             f"(got dim={dim})")
        num_elements = x.size(0) if x_index is None else x_index.numel()
        layout, src = self._layouts.get(num_elements, index, ptr, dim_size,
                                        max_num_elements, x_index, x.size(0))
        final = packed_gru(self.gru, layout, x, src,
                           workspace=self.workspace)
        return layout.unpack_final(final)

    def __repr__(self) -> str:
        args = [f'{self.in_channels}', f'{self.out_channels}']
        if self.num_layers != 1:
            args.append(f'num_layers={self.num_layers}')
        if self.bidirectional:
            args.append('bidirectional=True')
        return f'{self.__class__.__name__}({", ".join(args)})'
