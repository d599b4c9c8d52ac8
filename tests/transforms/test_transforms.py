import pytest
import torch
from torch_geometric.data import Data, HeteroData

from torch_geometric_gru import GRUAggregation
from torch_geometric_gru.transforms import ShuffleNeighbors, SortNeighbors


def _data():
    edge_index = torch.tensor([[3, 0, 2, 1, 4, 0, 4], [1, 1, 1, 0, 0, 2, 2]])
    return Data(x=torch.randn(5, 2), edge_index=edge_index,
                edge_attr=torch.arange(7.).view(-1, 1),
                edge_weight=torch.arange(7.) * 10,
                score=torch.tensor([5., 1., 4., 2., 3.]))


def _neighbours(data, node):
    mask = data.edge_index[1] == node
    return data.edge_index[0, mask].tolist()


def _assert_edge_attrs_follow(before, after):
    # Every edge keeps its attributes: match edges by their original id.
    ids = after.edge_attr.view(-1).long()
    assert torch.equal(after.edge_index, before.edge_index[:, ids])
    assert torch.equal(after.edge_weight, before.edge_weight[ids])


@pytest.mark.parametrize('key,descending,expected', [
    ('id', False, {1: [0, 2, 3], 0: [1, 4], 2: [0, 4]}),
    ('id', True, {1: [3, 2, 0], 0: [4, 1], 2: [4, 0]}),
    ('score', False, {1: [3, 2, 0], 0: [1, 4], 2: [4, 0]}),
    ('score', True, {1: [0, 2, 3], 0: [4, 1], 2: [0, 4]}),
])
def test_sort_neighbors(key, descending, expected):
    data = _data()
    out = SortNeighbors(key, descending=descending)(data)
    for node, neighbours in expected.items():
        assert _neighbours(out, node) == neighbours
    _assert_edge_attrs_follow(data, out)
    assert torch.equal(out.x, data.x)  # Node attributes are left alone.
    # The caller's object is not changed:
    assert data.edge_index[0].tolist() == [3, 0, 2, 1, 4, 0, 4]
    # Edges come out grouped by destination:
    assert out.edge_index[1].tolist() == sorted(out.edge_index[1].tolist())


def test_sort_by_degree_keeps_ties_in_order():
    data = _data()
    # Degrees (in + out): 0: 4, 1: 4, 2: 3, 3: 1, 4: 2.
    out = SortNeighbors('degree')(data)
    assert _neighbours(out, 1) == [3, 2, 0]
    assert _neighbours(out, 0) == [4, 1]
    out = SortNeighbors('degree', descending=True)(data)
    assert _neighbours(out, 1) == [0, 2, 3]
    # Neighbours 3 and 1 of node 0 tie (degree 1): they keep their order.
    ties = Data(edge_index=torch.tensor([[3, 1, 2, 2], [0, 0, 0, 4]]),
                num_nodes=5)
    for descending in [False, True]:
        out = SortNeighbors('degree', descending=descending)(ties)
        assert _neighbours(out, 0) == ([3, 1, 2] if not descending else
                                       [2, 3, 1])


def test_sort_by_callable_node_or_edge_scores():
    data = _data()
    out = SortNeighbors(lambda d: -d.score)(data)
    assert _neighbours(out, 1) == [0, 2, 3]
    # A caller-given order: one score per edge.
    out = SortNeighbors(lambda d: -d.edge_weight)(data)
    assert _neighbours(out, 1) == [2, 0, 3]
    _assert_edge_attrs_follow(data, out)


def _square():
    # 4 nodes and 4 edges: one score per node or per edge has 4 entries.
    # Node 0 reads three edges whose times say sources 1, 2, 3; the same
    # four numbers read as node scores say 2, 3, 1.
    edge_index = torch.tensor([[3, 1, 2, 0], [0, 0, 0, 3]])
    return Data(edge_index=edge_index, num_nodes=4,
                edge_time=torch.tensor([3., 1., 2., 0.]),
                score=torch.tensor([0., 3., 1., 2.]))


def test_per_edge_scores_when_nodes_and_edges_are_equally_many():
    data = _square()
    for key in [lambda d: d.edge_time, 'edge_time']:
        out = SortNeighbors(key, per_edge=True)(data)
        assert _neighbours(out, 0) == [1, 2, 3]
        assert out.edge_time[out.edge_index[1] == 0].tolist() == [1, 2, 3]
    # The same numbers as scores of the source nodes:
    out = SortNeighbors(lambda d: d.edge_time, per_edge=False)(data)
    assert _neighbours(out, 0) == [3, 1, 2]
    for key in ['score', lambda d: d.score]:
        out = SortNeighbors(key, per_edge=False)(data)
        assert _neighbours(out, 0) == [2, 3, 1]


@pytest.mark.parametrize('key', [lambda d: d.edge_time, 'edge_time',
                                 'score', lambda d: d.score])
def test_a_score_that_could_be_per_node_or_per_edge_raises(key):
    # Without 'per_edge', 4 scores for 4 nodes and 4 edges could mean
    # either: the transform does not guess.
    with pytest.raises(ValueError, match="say which with 'per_edge'"):
        SortNeighbors(key)(_square())


def test_per_edge_is_inferred_where_the_length_tells():
    data = _data()  # 5 nodes, 7 edges.
    assert _neighbours(SortNeighbors('score')(data), 1) == [3, 2, 0]
    data.edge_time = -data.edge_weight
    assert _neighbours(SortNeighbors('edge_time')(data), 1) == [2, 0, 3]
    with pytest.raises(ValueError, match="has 5 entries but there are 7 "
                       "edges; with per_edge=True"):
        SortNeighbors('score', per_edge=True)(data)
    with pytest.raises(ValueError, match="has 7 entries but there are 5 "
                       "source nodes; with per_edge=False"):
        SortNeighbors('edge_time', per_edge=False)(data)


def test_per_edge_attribute_names_that_pyg_reads_otherwise_raise():
    # With as many nodes as edges, PyG tells edge-level attributes of a Data
    # object by the name: a per-edge key without 'edge' in its name would
    # not be permuted with the edges (nor read as edge times by a loader).
    data = _square()
    data.time = data.edge_time
    with pytest.raises(ValueError, match="rename it, e.g. 'edge_time'"):
        SortNeighbors('time', per_edge=True)(data)
    data.edge_score = data.score
    with pytest.raises(ValueError, match="PyG treats 'edge_score' as an "
                       "edge attribute"):
        SortNeighbors('edge_score', per_edge=False)(data)


def test_per_edge_misuse():
    with pytest.raises(TypeError, match="'per_edge' must be None, True or"):
        SortNeighbors('score', per_edge='yes')
    for key in ['degree', 'id']:
        with pytest.raises(ValueError, match="per_edge=True"):
            SortNeighbors(key, per_edge=True)
    assert SortNeighbors('id', per_edge=False).per_edge is False


def test_hetero_per_edge_keys():
    data = HeteroData()
    data['user'].num_nodes = 3
    data['item'].num_nodes = 2
    store = data['user', 'buys', 'item']
    store.edge_index = torch.tensor([[0, 1, 2], [0, 0, 0]])
    store.edge_time = torch.tensor([2., 0., 1.])
    # The attribute lives on the edge type: one score per edge.
    for per_edge in [None, True]:
        out = SortNeighbors('edge_time', per_edge=per_edge)(data)
        assert out['user', 'buys', 'item'].edge_index[0].tolist() == \
            [1, 2, 0]
    # A callable on a store with as many source nodes as edges:
    with pytest.raises(ValueError, match="say which with 'per_edge'"):
        SortNeighbors(lambda s: s.edge_time)(data)
    out = SortNeighbors(lambda s: s.edge_time, per_edge=True)(data)
    assert out['user', 'buys', 'item'].edge_index[0].tolist() == [1, 2, 0]
    # On both the source nodes and the edges: the caller says which.
    data['user'].edge_time = torch.tensor([0., 2., 1.])
    with pytest.raises(ValueError, match="say which with 'per_edge'"):
        SortNeighbors('edge_time')(data)
    out = SortNeighbors('edge_time', per_edge=False)(data)
    assert out['user', 'buys', 'item'].edge_index[0].tolist() == [0, 2, 1]


def test_sort_errors():
    data = _data()
    with pytest.raises(ValueError, match="not an attribute of the source"):
        SortNeighbors('missing')(data)
    data.score[0] = float('nan')
    with pytest.raises(ValueError, match="non-finite values"):
        SortNeighbors('score')(data)
    with pytest.raises(ValueError, match="one score per node or per edge"):
        SortNeighbors('x')(data)
    with pytest.raises(ValueError, match="has 3 entries but there are 5"):
        SortNeighbors(lambda d: torch.ones(3))(data)
    bad = Data(edge_index=torch.tensor([[0, 7], [1, 0]]), num_nodes=3)
    with pytest.raises(ValueError, match=r"'edge_index\[0\]' contains the "
                       r"entry 7"):
        SortNeighbors('id')(bad)
    with pytest.raises(TypeError, match="'key' must be"):
        SortNeighbors(3)


def test_shuffle_neighbors_is_random_per_node_and_seeded():
    data = _data()
    orders = set()
    transform = ShuffleNeighbors(seed=0)
    for _ in range(20):
        out = transform(data)
        _assert_edge_attrs_follow(data, out)
        assert sorted(_neighbours(out, 1)) == [0, 2, 3]
        orders.add(tuple(_neighbours(out, 1)))
    assert len(orders) > 2
    a, b = ShuffleNeighbors(seed=3)(data), ShuffleNeighbors(seed=3)(data)
    assert torch.equal(a.edge_index, b.edge_index)
    assert str(transform) == 'ShuffleNeighbors(seed=0)'


def test_unseeded_shuffle_follows_the_global_generator():
    data = _data()
    torch.manual_seed(0)
    a, b = ShuffleNeighbors()(data), ShuffleNeighbors()(data)
    torch.manual_seed(0)
    assert torch.equal(ShuffleNeighbors()(data).edge_index, a.edge_index)
    assert not torch.equal(a.edge_index, b.edge_index)


class _Shuffled(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        # Node 0 reads 8 neighbours: 40,320 orders.
        edge_index = torch.stack([torch.arange(1, 9), torch.zeros(8).long()])
        data = Data(edge_index=edge_index, num_nodes=9)
        return ShuffleNeighbors()(data).edge_index[0]


def test_dataloader_workers_draw_different_orders():
    loader = torch.utils.data.DataLoader(_Shuffled(), batch_size=None,
                                         num_workers=2)
    orders = [tuple(order.tolist()) for order in loader]
    assert len(set(orders)) == 4


def test_hetero_data_every_edge_store():
    data = HeteroData()
    data['user'].x = torch.randn(3, 2)
    data['user'].score = torch.tensor([3., 1., 2.])
    data['item'].x = torch.randn(2, 2)
    data['user', 'buys', 'item'].edge_index = torch.tensor(
        [[0, 1, 2, 2], [0, 0, 0, 1]])
    data['user', 'buys', 'item'].edge_attr = torch.arange(4.).view(-1, 1)
    data['item', 'rev', 'user'].edge_index = torch.tensor(
        [[1, 0, 1], [0, 0, 2]])
    out = SortNeighbors('score')(data)
    store = out['user', 'buys', 'item']
    assert store.edge_index[0].tolist() == [1, 2, 0, 2]
    assert store.edge_attr.view(-1).tolist() == [1., 2., 0., 3.]
    # Items have no 'score' (the name refers to the source node type):
    # their edge type keeps its order, and one without any raises.
    assert torch.equal(out['item', 'rev', 'user'].edge_index,
                       data['item', 'rev', 'user'].edge_index)
    with pytest.raises(ValueError, match="not an attribute"):
        SortNeighbors('score')(data.edge_type_subgraph(
            [('item', 'rev', 'user')]))
    out = SortNeighbors('id', descending=True)(data)
    assert out['item', 'rev', 'user'].edge_index.tolist() == [[1, 0, 1],
                                                              [0, 0, 2]]


def test_order_reaches_the_aggregation():
    torch.manual_seed(0)
    data = _data()
    aggr = GRUAggregation(2, 3)
    out = SortNeighbors('score')(data)
    x = out.x[out.edge_index[0]]
    result = aggr(x, out.edge_index[1], dim_size=5)
    seq = data.x[[3, 2, 0]]  # Node 1's neighbours by ascending score.
    expected = aggr.gru(seq.unsqueeze(0))[1].view(-1)
    assert torch.allclose(result[1], expected, atol=1e-6)


def test_repr():
    assert str(SortNeighbors('id')) == \
        "SortNeighbors(key='id', descending=False)"
    assert str(SortNeighbors('degree', descending=True)) == \
        "SortNeighbors(key='degree', descending=True)"
    assert str(SortNeighbors('edge_time', per_edge=True)) == \
        "SortNeighbors(key='edge_time', descending=False, per_edge=True)"
