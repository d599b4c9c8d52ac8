import warnings

import pytest
import torch
import torch_geometric.typing
from torch_geometric.data import Data
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

from reference import NO_SAMPLER
from torch_geometric_gru import (
    GRUGNN,
    GRUConv,
    GRUGraphSAGE,
    edge_order,
    hop_counts,
)
from torch_geometric_gru.transforms import SortNeighbors


@pytest.fixture(params=[
    'pyg-lib',
    # PyG still samples with torch-sparse where pyg-lib is missing, and
    # says it is deprecated: that path is tested while PyG keeps it.
    pytest.param('torch-sparse', marks=pytest.mark.filterwarnings(
        "ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")),
])
def backend(request, monkeypatch):
    r"""The sampler backend PyG's loaders use in this test: pyg-lib (its
    preferred one) or torch-sparse (chosen by PyG at sampling time when
    :obj:`torch_geometric.typing.WITH_PYG_LIB` is :obj:`False`)."""
    if request.param == 'pyg-lib':
        if not WITH_PYG_LIB:
            pytest.skip(f'pyg-lib is not installed; {NO_SAMPLER}')
    else:
        if not WITH_TORCH_SPARSE:
            pytest.skip('torch-sparse is not installed (pip install '
                        'torch-sparse -f https://data.pyg.org/whl/'
                        'torch-${TORCH}+${CUDA}.html)')
        monkeypatch.setattr(torch_geometric.typing, 'WITH_PYG_LIB', False)
    return request.param


def _graph(num_nodes=40, num_edges=200, seed=0, features=6):
    gen = torch.Generator().manual_seed(seed)
    # Unsorted edges: a sampler that lists neighbours by source id (CSC)
    # reads them in another order than the graph stores them.
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    x = torch.randn(num_nodes, features, generator=gen)
    return Data(x=x, edge_index=edge_index)


def _loader(data, num_neighbors, **kwargs):
    from torch_geometric.loader import NeighborLoader
    return NeighborLoader(data, num_neighbors=num_neighbors, **kwargs)


def _sequence(src, dst, node, key=None):
    r"""The sources of :obj:`node`'s in-edges, sorted by :obj:`key` (or in
    storage order): written independently of the package."""
    mask = dst == node
    s = src[mask]
    if key is not None:
        s = s[torch.sort(key[mask], stable=True).indices]
    return s.tolist()


def test_the_backend_fixture_picks_the_sampler(backend):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        batch = next(iter(_loader(_graph(), [2], batch_size=4)))
    deprecated = [w for w in caught if "without a 'pyg-lib'" in
                  str(w.message)]
    assert bool(deprecated) == (backend == 'torch-sparse')
    # pyg-lib's sampler records the per-hop counts, torch-sparse's not:
    recorded = getattr(batch, 'num_sampled_nodes', None) is not None
    assert recorded == (backend == 'pyg-lib')


def test_edge_order_prefers_ranks_then_edge_ids():
    data = _graph()
    assert edge_order(data) is None  # A full graph: its storage order.
    data.e_id = torch.arange(200)
    assert edge_order(data) is data.e_id
    data.edge_rank = torch.zeros(200, dtype=torch.long)
    assert edge_order(data) is data.edge_rank
    data.my_rank = torch.ones(200, dtype=torch.long)
    assert edge_order(data, rank_attr='my_rank') is data.my_rank
    with pytest.raises(TypeError, match="'data' must be a Data object"):
        edge_order(data.edge_index)


def test_edge_order_warns_for_a_sampled_batch_without_ids():
    data = _graph()
    data.n_id = torch.arange(40)
    with pytest.warns(UserWarning, match="neither 'edge_rank' nor 'e_id'"):
        assert edge_order(data) is None


def test_edge_order_reads_an_edge_store():
    from torch_geometric.data import HeteroData
    data = HeteroData()
    data['a', 'to', 'b'].edge_index = torch.tensor([[0, 1], [1, 0]])
    data['a', 'to', 'b'].e_id = torch.tensor([5, 3])
    assert edge_order(data['a', 'to', 'b']).tolist() == [5, 3]


@pytest.mark.parametrize('ranked', [False, True])
def test_sampled_neighbourhoods_are_read_in_the_full_graphs_order(
        backend, ranked):
    data = _graph()
    if ranked:  # The order a transform chose, recorded as ranks.
        data = SortNeighbors('degree', descending=True)(data)
    src, dst = data.edge_index
    loader = _loader(data, [-1, -1], batch_size=5,
                     input_nodes=torch.arange(20))
    torch.manual_seed(0)
    conv1 = GRUConv(6, 16, edge_dropout=0.0)
    conv2 = GRUConv(16, 8, edge_dropout=0.0)

    def model(x, edge_index, order=None):
        return conv2(conv1(x, edge_index, order=order).relu(), edge_index,
                     order=order)

    full = model(data.x, data.edge_index)
    differs = 0
    for batch in loader:
        key = edge_order(batch)
        assert key is (batch.edge_rank if ranked else batch.e_id)
        b_src, b_dst = batch.n_id[batch.edge_index]
        for i, node in enumerate(batch.n_id[:batch.batch_size].tolist()):
            expected = _sequence(src, dst, node)
            assert _sequence(b_src, b_dst, node, key) == expected
            differs += _sequence(b_src, b_dst, node) != expected
        seeds = batch.n_id[:batch.batch_size]
        out = model(batch.x, batch.edge_index, order=key)
        assert torch.allclose(out[:batch.batch_size], full[seeds],
                              atol=1e-6)
    # The sampler's own order is another one: without the key, the seeds
    # would read other sequences.
    assert differs > 0


def test_link_neighbor_loader_keeps_the_order(backend):
    from torch_geometric.loader import LinkNeighborLoader
    data = _graph()
    src, dst = data.edge_index
    loader = LinkNeighborLoader(data, num_neighbors=[-1],
                                edge_label_index=data.edge_index[:, :8],
                                batch_size=4)
    for batch in loader:
        b_src, b_dst = batch.n_id[batch.edge_index]
        key = edge_order(batch)
        for node in batch.n_id[batch.edge_label_index.view(-1)].tolist():
            assert _sequence(b_src, b_dst, node, key) == \
                _sequence(src, dst, node)


def _hops_by_search(edge_index, batch_size, num_nodes):
    r"""Each batch node's hop (its distance from the seeds against the edge
    direction), by breadth-first search: the reference for hop_counts."""
    hop = torch.full((num_nodes, ), -1)
    hop[:batch_size] = 0
    src, dst = edge_index
    k = 0
    while True:
        reached = src[hop[dst] == k]
        new = reached[hop[reached] < 0].unique()
        if new.numel() == 0:
            return hop
        k += 1
        hop[new] = k


@pytest.mark.parametrize('num_neighbors', [[3, 2], [-1, -1], [4, 3, 2]])
def test_hop_counts_match_a_breadth_first_search(backend, num_neighbors):
    data = _graph(num_nodes=60, num_edges=300)
    loader = _loader(data, num_neighbors, batch_size=5, shuffle=True)
    torch.manual_seed(0)
    num_hops = len(num_neighbors)
    for batch in loader:
        nodes, edges = hop_counts(batch, num_hops)
        hop = _hops_by_search(batch.edge_index, batch.batch_size,
                              batch.num_nodes)
        assert (hop >= 0).all()  # Every node was reached.
        assert nodes == [int((hop == k).sum()) for k in range(num_hops + 1)]
        into = hop[batch.edge_index[1]]
        assert edges == [int((into == k).sum()) for k in range(num_hops)]
        assert sum(nodes) == batch.num_nodes
        assert sum(edges) == batch.num_edges


def test_hop_counts_read_what_the_sampler_recorded():
    data = Data(edge_index=torch.tensor([[1, 2], [0, 1]]), num_nodes=3,
                batch_size=1, num_sampled_nodes=[1, 1, 1],
                num_sampled_edges=[1, 1])
    assert hop_counts(data, 2) == ([1, 1, 1], [1, 1])
    with pytest.raises(ValueError, match="'num_hops' is 3 but the sampler"):
        hop_counts(data, 3)
    del data.num_sampled_nodes, data.num_sampled_edges  # Recovered:
    assert hop_counts(data, 2) == ([1, 1, 1], [1, 1])
    data.edge_index = data.edge_index.flip(1)  # Edges out of hop order.
    with pytest.raises(ValueError, match='not in hop order'):
        hop_counts(data, 2)


@pytest.mark.parametrize('args,error,match', [
    ((Data(edge_index=torch.zeros(2, 0, dtype=torch.long)), 1), ValueError,
     "no 'batch_size'"),
    ((Data(batch_size=1), 0), TypeError, "'num_hops' must be a positive"),
    ((Data(batch_size=1), True), TypeError, "'num_hops' must be a positive"),
    (('batch', 1), TypeError, "'data' must be a Data batch"),
])
def test_hop_counts_misuse(args, error, match):
    with pytest.raises(error, match=match):
        hop_counts(*args)


@pytest.mark.parametrize('model_cls', [GRUGNN, GRUGraphSAGE])
def test_mini_batches_trimmed_or_not_equal_the_full_batch(backend,
                                                          model_cls):
    data = _graph()
    torch.manual_seed(0)
    model = model_cls(6, 16, num_layers=2, out_channels=8).eval()
    full = model(data.x, data.edge_index)
    loader = _loader(data, [-1, -1], batch_size=6,
                     input_nodes=torch.arange(30))
    for batch in loader:
        seeds = batch.n_id[:batch.batch_size]
        key = edge_order(batch)
        out = model(batch.x, batch.edge_index, order=key)
        assert torch.allclose(out[:batch.batch_size], full[seeds],
                              atol=1e-5)
        nodes, edges = hop_counts(batch, 2)
        trimmed = model(batch.x, batch.edge_index, order=key,
                        num_sampled_nodes_per_hop=nodes,
                        num_sampled_edges_per_hop=edges)
        # The last layer ran on the seeds and the first hop only:
        assert trimmed.size(0) == nodes[0] + nodes[1] < batch.num_nodes
        assert torch.allclose(trimmed[:batch.batch_size], full[seeds],
                              atol=1e-5)


@pytest.mark.parametrize('model_cls', [GRUGNN, GRUGraphSAGE])
@pytest.mark.parametrize('ranked', [False, True])
def test_layer_wise_inference_equals_the_full_batch(backend, model_cls,
                                                    ranked):
    data = _graph(num_nodes=50, num_edges=300)
    if ranked:
        data = SortNeighbors('id')(data)
    torch.manual_seed(0)
    model = model_cls(6, 16, num_layers=3, out_channels=8).eval()
    with torch.no_grad():
        full = model(data.x, data.edge_index,
                     order=data.edge_rank if ranked else None)
    if ranked:  # The ranks survive a re-sort of the stored edges.
        perm = torch.randperm(data.num_edges)
        data.edge_index = data.edge_index[:, perm]
        data.edge_rank = data.edge_rank[perm]
    loader = _loader(data, [-1], batch_size=7, shuffle=False)
    out = model.inference(loader)
    assert out.shape == full.shape
    assert torch.allclose(out, full, atol=1e-5)
    cached = model.inference(loader, cache=True)
    assert torch.allclose(cached, full, atol=1e-5)


def test_inference_checks_its_loader(backend):
    data = _graph()
    model = GRUGNN(6, 8, num_layers=2)
    loader = _loader(data, [-1], batch_size=8)
    with pytest.raises(ValueError, match="model.eval()"):
        model.inference(loader)
    model.eval()
    with pytest.raises(ValueError, match="one hop"):
        model.inference(_loader(data, [-1, -1], batch_size=8))
    with pytest.raises(ValueError, match="every node"):
        model.inference(_loader(data, [-1], batch_size=8,
                                input_nodes=torch.arange(5)))
    with pytest.raises(TypeError, match="NeighborLoader"):
        model.inference([data])
