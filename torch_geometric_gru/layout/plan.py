r"""Order inside the aggregation: random orders, random subsets, dropped
elements and positional encodings of each element's rank in its node's
sequence."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru.layout.grouping import keep_first
from torch_geometric_gru.layout.registry import register
from torch_geometric_gru.layout.packed import PackedLayout


def random_keys(num: int, generator: Optional[torch.Generator],
                device: torch.device) -> Tensor:
    r"""Uniform random keys, drawn on the CPU from :obj:`generator` (so a
    seed gives the same draw on every device)."""
    return torch.rand(num, generator=generator).to(device)


def random_subset(index: Tensor, num_groups: int, max_length: int,
                  generator: Optional[torch.Generator] = None) -> Tensor:
    r"""A mask that keeps, in every group, a uniformly random subset of at
    most :obj:`max_length` elements (all of them in smaller groups)."""
    key = random_keys(index.numel(), generator, index.device)
    return keep_first(index, num_groups, max_length, key)


def dropped(index: Tensor, num_groups: int, drop: float,
            generator: Optional[torch.Generator] = None) -> Tensor:
    r"""A mask that keeps every element (grouped by :obj:`index` into
    :obj:`num_groups` groups) with probability :obj:`1 - drop`, an
    independent draw each: the elements :obj:`edge_dropout` keeps."""
    return random_keys(index.numel(), generator, index.device) >= drop


def replicate(index: Tensor, num_groups: int,
              copies: int) -> Tuple[Tensor, Tensor]:
    r"""Stacks :obj:`copies` copies of the elements, copy :obj:`k` in the
    groups :obj:`k * num_groups + index`. Returns the element ids and the
    groups of the copies."""
    elements = torch.arange(index.numel(), device=index.device)
    if copies == 1:
        return elements, index
    shift = torch.arange(copies, device=index.device) * num_groups
    groups = (index.view(1, -1) + shift.view(-1, 1)).view(-1)
    return elements.repeat(copies), groups


def random_plan(index: Tensor, num_nodes: int, copies: int,
                order: Optional[Tensor], max_num_elements: Optional[int],
                max_length: Optional[int], shuffle: bool,
                generator: Optional[torch.Generator],
                drop: float = 0.0) -> Tuple[PackedLayout, Tensor]:
    r"""The layout of a random reading of the elements (grouped by
    :obj:`index`, sorted by :obj:`order` within each group): :obj:`copies`
    copies of every group (groups :obj:`k * num_nodes + i`), each cut to
    its first :obj:`max_num_elements` elements, each element then dropped
    with probability :obj:`drop` (:func:`dropped`), the rest cut to a
    random subset of at most :obj:`max_length`, then read in a random
    order if :obj:`shuffle`. Returns the layout and the element each
    packed row reads."""
    elements, groups = replicate(index.long(), num_nodes, copies)
    num_groups = num_nodes * copies
    key = None if order is None else order.index_select(0, elements)

    def select(mask: Tensor) -> None:
        nonlocal elements, groups, key
        elements, groups = elements[mask], groups[mask]
        key = None if key is None else key[mask]

    if max_num_elements is not None:  # The first ones, then a subset.
        select(keep_first(groups, num_groups, max_num_elements, key))
    if drop > 0:
        select(dropped(groups, num_groups, drop, generator))
    if max_length is not None:
        select(random_subset(groups, num_groups, max_length, generator))
    if shuffle:
        perm = torch.sort(random_keys(groups.numel(), generator,
                                      groups.device)).indices
        elements, groups, key = elements[perm], groups[perm], None
    layout = register(PackedLayout(groups, num_groups, validate=False,
                                   order=key))
    return layout, elements.index_select(0, layout.perm)
