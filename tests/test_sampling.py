import warnings

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

from torch_geometric_gru import GRUGNN, GRUConv, GRUGraphSAGE, edge_order
from torch_geometric_gru.transforms import SortNeighbors

needs_sampler = pytest.mark.skipif(
    not (WITH_PYG_LIB or WITH_TORCH_SPARSE),
    reason="NeighborLoader needs a sampler backend: pip install "
    "--find-links ../shared/wheels torch-scatter==2.1.2 "
    "torch-sparse==0.6.18 (or pyg-lib, see PyG's install guide)")


def _graph(num_nodes=40, num_edges=200, seed=0, features=6):
    gen = torch.Generator().manual_seed(seed)
    # Unsorted edges: a sampler that lists neighbours by source id (CSC)
    # reads them in another order than the graph stores them.
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    x = torch.randn(num_nodes, features, generator=gen)
    return Data(x=x, edge_index=edge_index)


def _loader(data, num_neighbors, **kwargs):
    from torch_geometric.loader import NeighborLoader
    with warnings.catch_warnings():  # Deprecation note on torch-sparse.
        warnings.simplefilter('ignore')
        return NeighborLoader(data, num_neighbors=num_neighbors, **kwargs)


def _batches(loader):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        yield from loader


def _sequence(src, dst, node, key=None):
    r"""The sources of :obj:`node`'s in-edges, sorted by :obj:`key` (or in
    storage order): written independently of the package."""
    mask = dst == node
    s = src[mask]
    if key is not None:
        s = s[torch.sort(key[mask], stable=True).indices]
    return s.tolist()


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


@needs_sampler
@pytest.mark.parametrize('ranked', [False, True])
def test_sampled_neighbourhoods_are_read_in_the_full_graphs_order(ranked):
    data = _graph()
    if ranked:  # The order a transform chose, recorded as ranks.
        data = SortNeighbors('degree', descending=True)(data)
    src, dst = data.edge_index
    loader = _loader(data, [-1, -1], batch_size=5,
                     input_nodes=torch.arange(20))
    torch.manual_seed(0)
    conv1, conv2 = GRUConv(6, 16), GRUConv(16, 8)

    def model(x, edge_index, order=None):
        return conv2(conv1(x, edge_index, order=order).relu(), edge_index,
                     order=order)

    full = model(data.x, data.edge_index)
    differs = 0
    for batch in _batches(loader):
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


@needs_sampler
def test_link_neighbor_loader_keeps_the_order():
    from torch_geometric.loader import LinkNeighborLoader
    data = _graph()
    src, dst = data.edge_index
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loader = LinkNeighborLoader(data, num_neighbors=[-1],
                                    edge_label_index=data.edge_index[:, :8],
                                    batch_size=4)
        for batch in loader:
            b_src, b_dst = batch.n_id[batch.edge_index]
            key = edge_order(batch)
            for node in batch.n_id[batch.edge_label_index.view(-1)].tolist():
                assert _sequence(b_src, b_dst, node, key) == \
                    _sequence(src, dst, node)


def _hop_counts(batch, num_hops):
    r"""The per-hop node and edge counts of a hop-ordered sampled batch
    (seeds first, then each hop's new nodes; each hop's edges after the
    previous hop's), for samplers that do not report them."""
    dst_lo, dst_hi, num_edges = 0, batch.batch_size, 0
    nodes, edges = [batch.batch_size], []
    src, dst = batch.edge_index
    for _ in range(num_hops):
        mask = (dst >= dst_lo) & (dst < dst_hi)
        count = int(mask.sum())
        assert bool(mask[num_edges:num_edges + count].all())  # Hop order.
        new = int(src[mask].max()) + 1 - dst_hi if count else 0
        new = max(new, 0)
        nodes.append(new)
        edges.append(count)
        num_edges += count
        dst_lo, dst_hi = dst_hi, dst_hi + new
    return nodes, edges


@needs_sampler
@pytest.mark.parametrize('model_cls', [GRUGNN, GRUGraphSAGE])
def test_mini_batches_trimmed_or_not_equal_the_full_batch(model_cls):
    data = _graph()
    torch.manual_seed(0)
    model = model_cls(6, 16, num_layers=2, out_channels=8).eval()
    full = model(data.x, data.edge_index)
    loader = _loader(data, [-1, -1], batch_size=6,
                     input_nodes=torch.arange(30))
    for batch in _batches(loader):
        seeds = batch.n_id[:batch.batch_size]
        key = edge_order(batch)
        out = model(batch.x, batch.edge_index, order=key)
        assert torch.allclose(out[:batch.batch_size], full[seeds],
                              atol=1e-5)
        nodes, edges = _hop_counts(batch, 2)
        trimmed = model(batch.x, batch.edge_index, order=key,
                        num_sampled_nodes_per_hop=nodes,
                        num_sampled_edges_per_hop=edges)
        # The last layer ran on the seeds and the first hop only:
        assert trimmed.size(0) == nodes[0] + nodes[1] < batch.num_nodes
        assert torch.allclose(trimmed[:batch.batch_size], full[seeds],
                              atol=1e-5)


@needs_sampler
@pytest.mark.parametrize('model_cls', [GRUGNN, GRUGraphSAGE])
@pytest.mark.parametrize('ranked', [False, True])
def test_layer_wise_inference_equals_the_full_batch(model_cls, ranked):
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


@needs_sampler
def test_inference_checks_its_loader():
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
