r"""The degree-sorted, packed layout of a node's incoming messages.

Built once per :obj:`(index, dim_size)` and reused by every GRU layer and
direction (and every conv) that reads the same graph.
"""
from functools import cached_property
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru._checks import (
    check_index_dtype,
    check_index_range,
    check_ptr,
)


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
    """
    def __init__(
        self,
        index: Tensor,
        dim_size: int,
        max_num_elements: Optional[int] = None,
        validate: bool = True,
    ):
        check_index_dtype('index', index)
        if index.dim() != 1:
            raise ValueError(f"'index' must be a 1-D tensor (got shape "
                             f"{tuple(index.shape)})")
        if dim_size < 0:
            raise ValueError(f"'dim_size' must be non-negative "
                             f"(got {dim_size})")
        if max_num_elements is not None and max_num_elements < 1:
            raise ValueError(f"'max_num_elements' must be a positive integer "
                             f"or None (got {max_num_elements})")
        if validate:
            check_index_range('index', index, dim_size)

        device = index.device
        index = index.long()
        num_elements = index.numel()

        degree = torch.bincount(index, minlength=dim_size)
        sorted_index, elem_perm = torch.sort(index, stable=True)
        ptr = degree.new_zeros(dim_size + 1)
        torch.cumsum(degree, 0, out=ptr[1:])
        pos = torch.arange(num_elements, device=device) - ptr[sorted_index]

        if max_num_elements is not None:
            keep = pos < max_num_elements
            sorted_index, elem_perm, pos = (sorted_index[keep],
                                            elem_perm[keep], pos[keep])
            degree = degree.clamp(max=max_num_elements)

        # Longest sequence first; ties keep the node order (stable):
        node_perm = torch.sort(degree, descending=True, stable=True).indices
        rank = torch.empty_like(node_perm)
        rank[node_perm] = torch.arange(dim_size, device=device)

        # `batch_sizes[t]` = the number of nodes with more than `t` elements:
        max_degree = int(degree.max()) if dim_size > 0 else 0
        count = torch.bincount(degree, minlength=max_degree + 1)
        batch_sizes = dim_size - torch.cumsum(count, 0)[:max_degree]
        batch_sizes = batch_sizes.cpu()  # The only transfer to the host.
        offsets = torch.zeros(max_degree + 1, dtype=torch.long)
        torch.cumsum(batch_sizes, 0, out=offsets[1:])

        row = offsets.to(device)[pos] + rank[sorted_index]
        perm = torch.empty_like(elem_perm)
        perm[row] = elem_perm

        num_sequences = int(batch_sizes[0]) if max_degree > 0 else 0
        nodes = node_perm[:num_sequences]
        seq_degree = degree[nodes]
        last_row = offsets.to(device)[seq_degree - 1] + torch.arange(
            num_sequences, device=device)

        self.num_nodes: int = dim_size
        self.num_elements: int = num_elements
        self.degree: Tensor = degree
        self.perm: Tensor = perm
        self.batch_sizes: Tensor = batch_sizes
        self.offsets: List[int] = offsets.tolist()
        self.nodes: Tensor = nodes
        self.last_row: Tensor = last_row

    @classmethod
    def from_index(cls, index: Tensor, dim_size: Optional[int] = None,
                   max_num_elements: Optional[int] = None) -> 'PackedLayout':
        r"""Builds the layout from an (unsorted) index vector."""
        check_index_dtype('index', index)
        if dim_size is None:
            dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
        return cls(index, dim_size, max_num_elements)

    @classmethod
    def from_ptr(cls, ptr: Tensor, num_elements: Optional[int] = None,
                 max_num_elements: Optional[int] = None) -> 'PackedLayout':
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
        return cls(index, dim_size, max_num_elements, validate=False)

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

    @cached_property
    def prev_row(self) -> Tensor:
        r"""The packed row of the previous element of the same sequence,
        or :obj:`num_packed` (one past the end) for first elements."""
        row = torch.arange(self.num_packed, device=self.device)
        bs = torch.cat([self.batch_sizes.new_full((1, ), self.num_packed),
                        self.batch_sizes[:-1]]).to(self.device)
        prev = row - bs[self.step]
        return torch.where(self.step == 0, self.num_packed, prev)

    @cached_property
    def reverse_perm(self) -> Tensor:
        r"""The permutation of packed rows that reverses every sequence
        (an involution): row :obj:`(t, k)` maps to :obj:`(d_k - 1 - t, k)`."""
        offsets = torch.tensor(self.offsets, device=self.device)
        step = self.step
        k = torch.arange(self.num_packed, device=self.device) - offsets[step]
        length = self.degree[self.nodes][k]
        return offsets[length - 1 - step] + k

    @cached_property
    def pair_rounds(self) -> List[Tuple[Tensor, Tensor, int, int]]:
        r"""The plan of a pairwise tree over steps. In each round, every
        sequence still longer than one row combines its step :obj:`2m + 1`
        into its step :obj:`2m`, so :math:`\lceil \log_2 T \rceil` rounds
        reduce every sequence to one row; a sequence leaves the tree as
        soon as it is down to one row, so later rounds only see the long
        ones. Rows of a level are in packed order (step-major, then rank);
        sequences keep their rank.

        Each round is :obj:`(left, right, lo, hi)`: the sequences of ranks
        :obj:`[lo, hi)` are down to one row, rows :obj:`[lo, hi)` of the
        level, and leave; :obj:`left` are the rows that survive into the
        next level (the even steps of the others) and :obj:`right` the row
        that follows each of them, or one past the last row of the level
        (an identity element goes there) where there is none."""
        rounds = []
        sizes = self.batch_sizes_list
        step = self.step
        offsets = torch.tensor(self.offsets, device=self.device)
        rank = torch.arange(self.num_packed, device=self.device) - \
            offsets[step]
        while len(sizes) > 1:
            alive = sizes[1]  # Ranks >= sizes[1] are down to one row.
            size = torch.tensor(sizes + [0], device=self.device)
            left = ((step % 2 == 0) & (rank < alive)).nonzero().view(-1)
            step, rank = step[left], rank[left]
            paired = rank < size[step + 1]
            right = torch.where(paired, left + size[step], sum(sizes))
            rounds.append((left, right, alive, sizes[0]))
            step = step // 2
            sizes = [min(s, alive) for s in sizes[0::2]]
        return rounds

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


def tensor_key(t: Tensor, *extra) -> Optional[tuple]:
    r"""A key that identifies the content of :obj:`t` as long as :obj:`t`
    itself is kept alive: the same memory (data pointer, shape, strides) and
    an unchanged version counter (any in-place write to :obj:`t` or a view of
    it bumps it). :obj:`None` where that cannot be known: tensors created
    under :func:`torch.inference_mode` (no version counter) and tensors seen
    while :func:`torch.compile` traces."""
    if torch.compiler.is_compiling() or t.is_inference():
        return None
    return (t.device, t.data_ptr(), tuple(t.shape), t.stride(),
            t._version) + extra


class LayoutCache:
    r"""Remembers the :class:`PackedLayout` of the last index (or ptr)
    tensor seen, so that a static graph is sorted and checked once.

    A hit requires the same content (see :func:`tensor_key`) and the same
    :obj:`dim_size`, :obj:`max_num_elements` and :obj:`x_index`. The cache
    holds references to the tensors of its key, so that their memory cannot
    be freed and reused by another tensor while cached.
    """
    def __init__(self):
        self._key: Optional[tuple] = None
        self._refs: tuple = ()
        self._layout: Optional[PackedLayout] = None
        self._src: Optional[Tensor] = None

    def get(
        self,
        num_elements: int,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        max_num_elements: Optional[int] = None,
        x_index: Optional[Tensor] = None,
        num_rows: Optional[int] = None,
    ) -> Tuple[PackedLayout, Tensor]:
        r"""Returns the layout of :obj:`index` (preferred) or :obj:`ptr`
        for :obj:`num_elements` elements, and the row that each packed
        element reads: :obj:`perm`, or :obj:`x_index[perm]` when element
        :obj:`e` is row :obj:`x_index[e]` of an input with :obj:`num_rows`
        rows. Builds and checks them on a miss."""
        if index is not None:
            check_index_dtype('index', index)
            if index.dim() != 1 or index.numel() != num_elements:
                per = ("row of 'x'" if x_index is None else
                       "entry of 'x_index'")
                raise ValueError(
                    f"'index' must be a 1-D tensor with one entry per {per} "
                    f"({num_elements}), got shape {tuple(index.shape)}")
            src, kind = index, 'index'
        elif ptr is not None:
            check_index_dtype('ptr', ptr)
            src, kind = ptr, 'ptr'
        else:
            raise ValueError("One of 'index' or 'ptr' must be given")

        key = tensor_key(src, kind, num_elements, dim_size, max_num_elements)
        refs: tuple = (src, )
        if key is not None and x_index is not None:
            x_key = tensor_key(x_index, num_rows)
            key = None if x_key is None else key + x_key
            refs = (src, x_index)
        if key is not None and key == self._key:
            return self._layout, self._src  # type: ignore

        if kind == 'index':
            layout = PackedLayout.from_index(src, dim_size, max_num_elements)
        else:
            if dim_size is not None and dim_size != src.numel() - 1:
                raise ValueError(f"'dim_size' ({dim_size}) must equal "
                                 f"'ptr.numel() - 1' ({src.numel() - 1})")
            layout = PackedLayout.from_ptr(src, num_elements,
                                           max_num_elements)
        rows = layout.perm
        if x_index is not None:
            check_index_dtype('x_index', x_index)
            if x_index.dim() != 1:
                raise ValueError(f"'x_index' must be a 1-D tensor (got "
                                 f"shape {tuple(x_index.shape)})")
            check_index_range('x_index', x_index, num_rows, 'x.size(0)')
            rows = x_index.long().index_select(0, rows)
        if key is not None:
            self._key, self._refs = key, refs
            self._layout, self._src = layout, rows
        return layout, rows

    def clear(self) -> None:
        self.__init__()

    def __getstate__(self) -> dict:
        return {}  # A cache is never saved with a model.

    def __setstate__(self, state: dict) -> None:
        self.__init__()
