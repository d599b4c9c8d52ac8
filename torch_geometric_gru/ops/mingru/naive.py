r"""The plain-PyTorch reference of the minGRU scan: the affine maps
:math:`h \mapsto a_t \odot h + b_t` of every sequence of a packed layout,
composed by a pairwise tree of :math:`\lceil \log_2 T \rceil` vectorised
rounds. What the fused kernels are tested against."""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout


def pair_rounds(layout: PackedLayout,
                ) -> List[Tuple[Tensor, Tensor, int, int]]:
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
    sizes = layout.batch_sizes_list
    step = layout.step
    offsets = torch.tensor(layout.offsets, device=layout.device)
    rank = torch.arange(layout.num_packed, device=layout.device) - \
        offsets[step]
    while len(sizes) > 1:
        alive = sizes[1]  # Ranks >= sizes[1] are down to one row.
        size = torch.tensor(sizes + [0], device=layout.device)
        left = ((step % 2 == 0) & (rank < alive)).nonzero().view(-1)
        step, rank = step[left], rank[left]
        paired = rank < size[step + 1]
        right = torch.where(paired, left + size[step], sum(sizes))
        rounds.append((left, right, alive, sizes[0]))
        step = step // 2
        sizes = [min(s, alive) for s in sizes[0::2]]
    return rounds


def affine_reduce(a: Tensor, b: Tensor, layout: PackedLayout,
                  src: Optional[Tensor] = None) -> Tensor:
    r"""Composes the affine maps :math:`h \mapsto a_p \odot h + b_p` of
    the packed rows :math:`p` of every sequence of :obj:`layout`, in order,
    and applies them to :math:`h_0 = 0`. Packed row :obj:`p` uses row
    :obj:`src[p]` of :obj:`a` and :obj:`b` (row :obj:`p` if :obj:`src` is
    :obj:`None`).

    A pairwise tree over steps (:func:`pair_rounds`) does it
    in :math:`\lceil \log_2 T \rceil` vectorised rounds and
    :math:`O(|\mathcal{E}| \cdot H)` work. The composition of a step pair
    is :math:`(a_2 a_1, a_2 b_1 + b_2)`: products and sums only, no
    differences of cumulative sums, so nothing cancels however long the
    sequence (a product of many :math:`a_t < 1` underflows towards its true,
    tiny value). Returns :obj:`[num_sequences, H]` in packed order."""
    rounds = layout.plan('mingru', pair_rounds)
    num_first = layout.batch_sizes_list[0] if layout.num_packed else 0

    def rows_of_first_level(lo: int, hi: int) -> Tensor:
        return b[lo:hi] if src is None else b.index_select(0, src[lo:hi])

    if not rounds:  # Every sequence has one row: h = b.
        return rows_of_first_level(0, num_first)
    if src is not None:  # The first round reads the source rows directly.
        src = torch.cat([src, src.new_full((1, ), a.size(0))])
    done = []  # Final states, in ranges of descending rank.
    for i, (left, right, lo, hi) in enumerate(rounds):
        if hi > lo:
            done.append(rows_of_first_level(lo, hi) if i == 0 else b[lo:hi])
        if i == 0 and src is not None:
            left, right = src.index_select(0, left), src.index_select(0, right)
        # One identity row (a = 1, b = 0) past the end, for rows that have
        # no partner in this round.
        a = torch.cat([a, a.new_ones(1, a.size(1))])
        b = torch.cat([b, b.new_zeros(1, b.size(1))])
        a_right = a.index_select(0, right)
        b_next = torch.addcmul(b.index_select(0, right), a_right,
                               b.index_select(0, left))
        if i < len(rounds) - 1:
            a = a_right * a.index_select(0, left)
        b = b_next
    done.append(b)
    return torch.cat(done[::-1])
