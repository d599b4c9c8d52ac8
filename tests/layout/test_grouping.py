import pytest
import torch

from torch_geometric_gru.layout.grouping import (
    group,
    keep_first,
    rank_within_groups,
)


def _reference(index, key, descending):
    # Groups by a Python sort of (group, key, position): ties in order.
    sign = -1 if descending else 1
    order = sorted(range(len(index)),
                   key=lambda e: (index[e], sign * key[e], e))
    rank, seen = {}, {}
    for e in order:
        rank[e] = seen.get(index[e], 0)
        seen[index[e]] = rank[e] + 1
    return order, [rank[e] for e in range(len(index))]


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('descending', [False, True])
@pytest.mark.parametrize('with_key', [False, True])
def test_group_matches_a_python_sort(seed, descending, with_key):
    gen = torch.Generator().manual_seed(seed)
    index = torch.randint(0, 5, (40, ), generator=gen)
    key = torch.randint(0, 3, (40, ), generator=gen)  # Many ties.
    order, rank = _reference(index.tolist(),
                             key.tolist() if with_key else [0] * 40,
                             descending and with_key)
    perm, perm_rank = group(index, 6, key if with_key else None, descending)
    assert perm.tolist() == order
    assert perm_rank.tolist() == [rank[e] for e in order]
    got = rank_within_groups(index, 6, key if with_key else None)
    if descending:
        return  # rank_within_groups orders by ascending key.
    assert got.tolist() == rank


def test_keep_first():
    index = torch.tensor([2, 0, 2, 2, 0, 1])
    expected = [True, True, True, False, True, True]
    assert keep_first(index, 3, 2).tolist() == expected
    key = torch.tensor([3., 0., 1., 2., 0., 0.])  # Node 2: 1, 2 before 3.
    expected = [False, True, True, True, True, True]
    assert keep_first(index, 3, 2, key).tolist() == expected


def test_docstring_example():
    perm, rank = group(torch.tensor([1, 0, 1, 1]), 2)
    assert perm.tolist() == [1, 0, 2, 3] and rank.tolist() == [0, 0, 1, 2]
