r"""The one stable group-by of the package: grouping elements by node while
keeping (or setting, by a key) their order within each node. The packed
layout, the random orders and subsets of the aggregations, the truncation
to the first elements and the ordering transforms all use it."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def group(index: Tensor, num_groups: int, key: Optional[Tensor] = None,
          descending: bool = False) -> Tuple[Tensor, Tensor]:
    r"""Groups the elements by :obj:`index` with stable sorts.

    Returns :obj:`perm`, the elements grouped by ascending :obj:`index`,
    each group ordered by :obj:`key` (ties, and every element when
    :obj:`key` is :obj:`None`, in their order in :obj:`index`); and
    :obj:`rank`, the position of element :obj:`perm[i]` within its group.

    .. code-block:: python

        index = torch.tensor([1, 0, 1, 1])
        group(index, 2)  # (tensor([1, 0, 2, 3]), tensor([0, 0, 1, 2]))

    Args:
        index (torch.Tensor): The group of every element, of shape
            :obj:`[num_elements]`, in :obj:`[0, num_groups)`.
        num_groups (int): The number of groups.
        key (torch.Tensor, optional): A sort key per element.
            (default: :obj:`None`)
        descending (bool, optional): Order each group by descending
            :obj:`key`. (default: :obj:`False`)
    """
    if key is None:
        perm = torch.sort(index, stable=True).indices
    else:
        perm = torch.sort(key, descending=descending, stable=True).indices
        perm = perm[torch.sort(index[perm], stable=True).indices]
    count = torch.bincount(index, minlength=num_groups)
    start = torch.cumsum(count, 0) - count
    rank = torch.arange(index.numel(), device=index.device) - \
        start[index[perm]]
    return perm, rank


def rank_within_groups(index: Tensor, num_groups: int,
                       key: Optional[Tensor] = None) -> Tensor:
    r"""The rank of every element within its group when each group is
    ordered by :obj:`key` (ties keep their order; see :func:`group`)."""
    perm, rank = group(index, num_groups, key)
    out = torch.empty_like(index)
    out[perm] = rank
    return out


def keep_first(index: Tensor, num_groups: int, max_num_elements: int,
               key: Optional[Tensor] = None) -> Tensor:
    r"""A mask that keeps the first :obj:`max_num_elements` elements of
    every group (in the order of :obj:`key`, by default their order in
    :obj:`index`): the one truncation of the package, applied only where a
    caller opts into it."""
    return rank_within_groups(index, num_groups, key) < max_num_elements


def index_of(ptr: Tensor, num_elements: int) -> Tensor:
    r"""The group of every element of a CSR pointer vector :obj:`ptr`
    (:obj:`num_elements` is :obj:`ptr[-1]`, given to avoid a sync)."""
    return torch.repeat_interleave(
        torch.arange(ptr.numel() - 1, device=ptr.device), ptr.diff(),
        output_size=num_elements)
