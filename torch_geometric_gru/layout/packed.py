r"""The degree-sorted, packed layout of a node's incoming messages.

Built once per :obj:`(index, dim_size)` and reused by every GRU layer and
direction (and every conv) that reads the same graph.
"""
from functools import cached_property
from typing import Any, Callable, List, Optional

import torch
from torch import Tensor

from torch_geometric_gru._checks import (
    check_dim_size,
    check_index_dtype,
    check_index_range,
    check_no_ties,
    check_order,
    check_ptr,
)
from torch_geometric_gru.layout.grouping import group, keep_first


class PackedLayout:
    r"""The packed layout of variable-length sequences grouped by an index
    vector, as used by :class:`torch.nn.utils.rnn.PackedSequence`.

    Element :obj:`e` belongs to the sequence of node :obj:`index[e]`; the
    sequence of a node is its elements in the order they stand in
    :obj:`index` (a *stable* grouping, so :obj:`index` need not be sorted).
    Nodes are ranked by sequence length, longest first, so that the nodes
    still reading at step :obj:`t` form the prefix :obj:`[0, batch_sizes[t])`
    of that ranking. Step :obj:`t` of all sequences occupies the contiguous
    packed rows :obj:`[offsets[t], offsets[t] + batch_sizes[t])`; the packed
    data is :obj:`x[perm]`. No sequence is padded, so the layout takes
    :math:`O(|\mathcal{E}|)` memory whatever the maximum degree.

    .. code-block:: python

        index = torch.tensor([1, 0, 1, 1, 0])  # node 1 reads x[0], x[2], x[3]
        layout = PackedLayout.from_index(index, dim_size=3)
        layout.batch_sizes  # tensor([2, 2, 1])
        layout.nodes        # tensor([1, 0]): node 1 first, node 2 is empty
        layout.perm         # tensor([0, 1, 2, 4, 3])

    Args:
        index (torch.Tensor): The node of each element, of shape
            :obj:`[num_elements]`.
        dim_size (int): The number of nodes (sequences). Nodes without
            elements get empty sequences.
        max_num_elements (int, optional): If given, keeps only the first
            :obj:`max_num_elements` elements of each sequence (a change of
            the model, never applied unless asked for). (default: :obj:`None`)
        validate (bool, optional): If set to :obj:`False`, skips the range
            check of :obj:`index`. (default: :obj:`True`)
        order (torch.Tensor, optional): A sort key per element: each
            sequence reads its elements sorted by it instead of in their
            order in :obj:`index` (e.g. the ranks an ordering transform
            recorded). Ties within a sequence are an error.
            (default: :obj:`None`)
    """
    def __init__(
        self,
        index: Tensor,
        dim_size: int,
        max_num_elements: Optional[int] = None,
        validate: bool = True,
        order: Optional[Tensor] = None,
    ):
        check_index_dtype('index', index)
        if index.dim() != 1:
            raise ValueError(f"'index' must be a 1-D tensor (got shape "
                             f"{tuple(index.shape)})")
        check_dim_size(dim_size)
        if dim_size < 0:
            raise ValueError(f"'dim_size' must be non-negative "
                             f"(got {dim_size})")
        if max_num_elements is not None and (
                isinstance(max_num_elements, (bool, float))
                or max_num_elements < 1):
            raise ValueError(f"'max_num_elements' must be a positive integer "
                             f"or None (got {max_num_elements})")
        if validate:
            check_index_range('index', index, dim_size)
        if order is not None:
            check_order(order, index)

        device = index.device
        index = index.long()
        num_elements = index.numel()

        kept = None  # The elements read, if not all of them.
        if max_num_elements is not None:
            kept = keep_first(index, dim_size, max_num_elements, order)
            kept = kept.nonzero().view(-1)
            index = index[kept]
            order = None if order is None else order[kept]
        degree = torch.bincount(index, minlength=dim_size)
        elem_perm, pos = group(index, dim_size, order)
        sorted_index = index[elem_perm]
        if order is not None:
            check_no_ties(sorted_index, order[elem_perm])
        if kept is not None:
            elem_perm = kept[elem_perm]

        # Longest sequence first; ties keep the node order (stable):
        node_perm = torch.sort(degree, descending=True, stable=True).indices
        rank = torch.empty_like(node_perm)
        rank[node_perm] = torch.arange(dim_size, device=device)
        # The packed row of every element: step `pos` of the sequence of
        # rank `rank[node]` lies at `offsets[pos] + rank[node]`.
        self._build(degree, node_perm)
        row = self._offsets_dev[pos] + rank[sorted_index]
        perm = torch.empty_like(elem_perm)
        perm[row] = elem_perm
        self.num_elements: int = num_elements
        self.perm: Tensor = perm

    def _build(self, degree: Tensor, node_perm: Tensor) -> None:
        r"""Everything derived from the degrees and the ranking of the
        nodes: the batch sizes (one transfer to the host), the offsets of
        the steps, the non-empty sequences and their last rows."""
        device = degree.device
        dim_size = degree.numel()
        seq_degree = degree.index_select(0, node_perm)
        # `batch_sizes[t]` = the number of nodes with more than `t` elements:
        max_degree = int(seq_degree[0]) if dim_size > 0 else 0
        count = torch.bincount(degree, minlength=max_degree + 1)
        batch_sizes = dim_size - torch.cumsum(count, 0)[:max_degree]
        batch_sizes = batch_sizes.cpu()  # The only transfer to the host.
        offsets = torch.zeros(max_degree + 1, dtype=torch.long)
        torch.cumsum(batch_sizes, 0, out=offsets[1:])
        self._offsets_dev = offsets.to(device)

        num_sequences = int(batch_sizes[0]) if max_degree > 0 else 0
        last_row = self._offsets_dev[seq_degree[:num_sequences] - 1] + \
            torch.arange(num_sequences, device=device)

        self.num_nodes: int = dim_size
        self.degree: Tensor = degree
        self.node_perm: Tensor = node_perm
        self.batch_sizes: Tensor = batch_sizes
        self.offsets: List[int] = offsets.tolist()
        self.nodes: Tensor = node_perm[:num_sequences]
        self.last_row: Tensor = last_row

    @classmethod
    def from_parts(cls, perm: Tensor, node_perm: Tensor,
                   degree: Tensor) -> 'PackedLayout':
        r"""Rebuilds the layout from its three index tensors (as the
        :obj:`torch_geometric_gru::pack` operator returns them):
        :obj:`perm` (the element of every packed row), :obj:`node_perm`
        (the nodes by descending sequence length) and :obj:`degree` (the
        sequence length of every node)."""
        layout = cls.__new__(cls)
        layout._build(degree, node_perm)
        layout.num_elements = perm.numel()
        layout.perm = perm
        return layout

    @classmethod
    def from_index(cls, index: Tensor, dim_size: Optional[int] = None,
                   max_num_elements: Optional[int] = None,
                   order: Optional[Tensor] = None) -> 'PackedLayout':
        r"""Builds the layout from an (unsorted) index vector."""
        check_index_dtype('index', index)
        if dim_size is None:
            dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
        return cls(index, dim_size, max_num_elements, order=order)

    @classmethod
    def from_ptr(cls, ptr: Tensor, num_elements: Optional[int] = None,
                 max_num_elements: Optional[int] = None,
                 order: Optional[Tensor] = None) -> 'PackedLayout':
        r"""Builds the layout from a CSR pointer vector :obj:`ptr` of shape
        :obj:`[dim_size + 1]` (elements grouped by node)."""
        if num_elements is None:
            check_index_dtype('ptr', ptr)
            num_elements = int(ptr[-1]) if ptr.numel() > 0 else 0
        check_ptr(ptr, num_elements)
        dim_size = ptr.numel() - 1
        index = torch.repeat_interleave(
            torch.arange(dim_size, device=ptr.device), ptr.diff().long(),
            output_size=num_elements)
        return cls(index, dim_size, max_num_elements, validate=False,
                   order=order)

    # Derived views, computed on first use #################################

    @property
    def device(self) -> torch.device:
        return self.perm.device

    @property
    def num_packed(self) -> int:
        r"""The number of packed rows (elements kept)."""
        return self.perm.numel()

    @property
    def num_steps(self) -> int:
        r"""The length of the longest sequence."""
        return self.batch_sizes.numel()

    @property
    def num_sequences(self) -> int:
        r"""The number of non-empty sequences."""
        return self.nodes.numel()

    @cached_property
    def batch_sizes_list(self) -> List[int]:
        return self.batch_sizes.tolist()

    @cached_property
    def step(self) -> Tensor:
        r"""The position of each packed row within its sequence."""
        return torch.repeat_interleave(
            torch.arange(self.num_steps, device=self.device),
            self.batch_sizes.to(self.device), output_size=self.num_packed)

    def prev_rows(self, start: int, stop: int) -> Tensor:
        r"""The packed row of the previous element of the same sequence for
        each of the packed rows :obj:`[start, stop)`, or :obj:`num_packed`
        (one past the end) for first elements. Computed per call, so that
        a backward that walks the rows chunk by chunk holds no
        :obj:`[num_packed]` index."""
        row = torch.arange(start, stop, device=self.device)
        step = torch.searchsorted(self._offsets_dev, row, right=True) - 1
        # Row (t, k) is offsets[t] + k; its predecessor (t - 1, k) lies
        # batch_sizes[t - 1] rows before it.
        sizes = self._offsets_dev.diff()
        prev = row - sizes[(step - 1).clamp_(min=0)]
        return torch.where(step == 0, self.num_packed, prev)

    @property
    def prev_row(self) -> Tensor:
        r"""The packed row of the previous element of every packed row (see
        :meth:`prev_rows`)."""
        return self.prev_rows(0, self.num_packed)

    @cached_property
    def reverse_perm(self) -> Tensor:
        r"""The permutation of packed rows that reverses every sequence
        (an involution): row :obj:`(t, k)` maps to :obj:`(d_k - 1 - t, k)`."""
        offsets = torch.tensor(self.offsets, device=self.device)
        step = self.step
        k = torch.arange(self.num_packed, device=self.device) - offsets[step]
        length = self.degree[self.nodes][k]
        return offsets[length - 1 - step] + k

    def plan(self, name: str, build: Callable[['PackedLayout'], Any]) -> Any:
        r"""Returns the plan :obj:`name` of a consumer of this layout (a
        kernel's own view of it), built by :obj:`build(self)` on first use
        and kept with the layout, so that a cached layout caches it too."""
        plans = self.__dict__.setdefault('_plans', {})
        if name not in plans:
            plans[name] = build(self)
        return plans[name]

    def pack(self, x: Tensor) -> Tensor:
        r"""Gathers the rows of :obj:`x` (one per element) in packed order."""
        return x.index_select(0, self.perm)

    def unpack_final(self, h: Tensor) -> Tensor:
        r"""Places the final states :obj:`h` of shape
        :obj:`[num_sequences, F]` (in packed order) into a
        :obj:`[num_nodes, F]` tensor; empty sequences get zeros."""
        out = h.new_zeros(self.num_nodes, h.size(-1))
        return out.index_copy(0, self.nodes, h)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_nodes={self.num_nodes}, '
                f'num_elements={self.num_elements}, '
                f'num_steps={self.num_steps})')
