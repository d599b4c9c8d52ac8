import pytest
import torch

from torch_geometric_gru import PackedLayout
from torch_geometric_gru.layout.cache import LayoutCache


def test_docstring_example():
    index = torch.tensor([1, 0, 1, 1, 0])
    layout = PackedLayout.from_index(index, dim_size=3)
    assert layout.batch_sizes.tolist() == [2, 2, 1]
    assert layout.batch_sizes.device == torch.device('cpu')
    assert layout.nodes.tolist() == [1, 0]
    assert layout.perm.tolist() == [0, 1, 2, 4, 3]
    assert layout.offsets == [0, 2, 4, 5]
    assert layout.last_row.tolist() == [4, 3]
    assert layout.degree.tolist() == [2, 3, 0]
    assert layout.step.tolist() == [0, 0, 1, 1, 2]
    assert layout.prev_row.tolist() == [5, 5, 0, 1, 2]
    assert layout.reverse_perm.tolist() == [4, 3, 2, 1, 0]
    assert str(layout) == ('PackedLayout(num_nodes=3, num_elements=5, '
                           'num_steps=3)')


@pytest.mark.parametrize('seed', range(5))
def test_layout_groups_every_node_in_order(seed):
    gen = torch.Generator().manual_seed(seed)
    num_nodes = 20
    index = torch.randint(0, num_nodes - 2, (100, ), generator=gen)
    layout = PackedLayout.from_index(index, num_nodes)

    # Every packed row is one element, read at its node's step:
    assert sorted(layout.perm.tolist()) == list(range(100))
    assert int(layout.batch_sizes.sum()) == 100
    node_of_row = index[layout.perm]
    for rank, node in enumerate(layout.nodes.tolist()):
        rows = [layout.offsets[t] + rank
                for t in range(int(layout.degree[node]))]
        assert node_of_row[rows].eq(node).all()
        # ... in the order the elements stand in `index`:
        expected = (index == node).nonzero().view(-1).tolist()
        assert layout.perm[rows].tolist() == expected
        assert layout.last_row[rank] == rows[-1]

    # Sequences are ranked longest first:
    degrees = layout.degree[layout.nodes]
    assert (degrees[:-1] >= degrees[1:]).all()
    assert layout.num_sequences == int((layout.degree > 0).sum())


def test_reverse_perm_reverses_every_sequence():
    index = torch.tensor([2, 0, 2, 1, 2, 0, 2])
    layout = PackedLayout.from_index(index, 3)
    rev = layout.reverse_perm
    assert rev[rev].tolist() == list(range(7))  # An involution.
    node_of_row = index[layout.perm]
    for node in range(3):
        rows = (node_of_row == node).nonzero().view(-1)
        assert layout.perm[rev[rows]].tolist() == \
            layout.perm[rows].flip(0).tolist()


def test_from_ptr_equals_from_index():
    index = torch.tensor([0, 0, 0, 2, 2, 3])
    ptr = torch.tensor([0, 3, 3, 5, 6])
    a = PackedLayout.from_index(index, 4)
    b = PackedLayout.from_ptr(ptr)
    for name in ['perm', 'batch_sizes', 'nodes', 'last_row', 'degree']:
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_max_num_elements_keeps_the_first_elements():
    index = torch.tensor([0, 1, 0, 0, 1, 0])
    layout = PackedLayout.from_index(index, 2, max_num_elements=2)
    assert layout.num_packed == 4
    assert layout.degree.tolist() == [2, 2]
    assert sorted(layout.perm.tolist()) == [0, 1, 2, 4]


def test_empty_and_isolated():
    layout = PackedLayout.from_index(torch.empty(0, dtype=torch.long), 4)
    assert layout.num_steps == 0 and layout.num_sequences == 0
    assert layout.degree.tolist() == [0, 0, 0, 0]
    out = layout.unpack_final(torch.empty(0, 3))
    assert out.tolist() == [[0.0] * 3] * 4


def test_int32_index():
    index = torch.tensor([1, 0, 1], dtype=torch.int32)
    layout = PackedLayout.from_index(index, 2)
    assert layout.perm.tolist() == [0, 1, 2]


@pytest.mark.parametrize('index,dim_size,error,match', [
    (torch.tensor([0, -1]), 2, ValueError, 'negative entry -1'),
    (torch.tensor([0, 5]), 3, ValueError, r'entry 5, out of range.*>= 6'),
    (torch.tensor([0., 1.]), 2, TypeError, r"index.long\(\)"),
    (torch.tensor([[0, 1]]), 2, ValueError, '1-D tensor'),
])
def test_layout_errors(index, dim_size, error, match):
    with pytest.raises(error, match=match):
        PackedLayout(index, dim_size)


def test_ptr_errors():
    with pytest.raises(ValueError, match='non-decreasing'):
        PackedLayout.from_ptr(torch.tensor([0, 3, 2, 4]))
    with pytest.raises(ValueError, match=r'end at the number of rows'):
        PackedLayout.from_ptr(torch.tensor([0, 3]), num_elements=4)
    with pytest.raises(ValueError, match="'max_num_elements'"):
        PackedLayout(torch.tensor([0]), 1, max_num_elements=0)


def test_layout_cache_hits_and_misses():
    cache = LayoutCache()
    index = torch.tensor([0, 1, 1])
    first, rows = cache.get(3, index, dim_size=2)
    assert torch.equal(rows, first.perm)
    assert cache.get(3, index, dim_size=2)[0] is first
    # A view of the same memory is the same graph:
    assert cache.get(3, index[:], dim_size=2)[0] is first
    assert cache.get(3, index, dim_size=3)[0] is not first
    layout = cache.get(3, index, dim_size=2)[0]
    index[0] = 1  # An in-place write bumps the version counter.
    changed = cache.get(3, index, dim_size=2)[0]
    assert changed is not layout
    assert changed.degree.tolist() == [0, 3]
    # The key is the content: another tensor holding the same graph hits.
    assert cache.get(3, index.clone(), dim_size=2)[0] is changed


def test_layout_cache_with_x_index():
    cache = LayoutCache()
    index = torch.tensor([1, 0, 1])
    x_index = torch.tensor([4, 2, 0])
    layout, rows = cache.get(3, index, dim_size=2, x_index=x_index,
                             num_rows=5)
    assert torch.equal(rows, x_index[layout.perm])
    assert cache.get(3, index, dim_size=2, x_index=x_index,
                     num_rows=5)[1] is rows
    with pytest.raises(ValueError, match="'x_index' contains the entry 4, "
                       r"out of range for x.size\(0\)=4"):
        cache.get(3, index, dim_size=2, x_index=x_index, num_rows=4)


def test_layout_cache_is_not_pickled():
    import pickle
    cache = LayoutCache()
    cache.get(2, torch.tensor([0, 0]), dim_size=1)
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._entry is None


def test_layout_is_a_packed_sequence_for_torch_gru():
    from torch.nn.utils.rnn import PackedSequence
    torch.manual_seed(0)
    index = torch.tensor([2, 0, 2, 2, 1, 2, 0])
    x = torch.randn(7, 3)
    gru = torch.nn.GRU(3, 4)
    layout = PackedLayout.from_index(index, 4)
    _, h_n = gru(PackedSequence(layout.pack(x), layout.batch_sizes))
    out = layout.unpack_final(h_n[0])
    for node in range(4):
        seq = x[index == node]
        if seq.size(0) == 0:
            assert out[node].abs().sum() == 0
            continue
        _, expected = gru(seq.unsqueeze(1))
        assert torch.allclose(out[node], expected.view(-1), atol=1e-6)
