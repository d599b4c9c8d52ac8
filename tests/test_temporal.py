r"""Temporal mini-batches end to end: a graph sorted by time
(:class:`SortNeighbors`), sampled by :class:`NeighborLoader` with
:obj:`time_attr` on node or on edge times, read with
:obj:`order=edge_order(batch)`. Every sampled neighbourhood lies in its
seed's past and is read in time order, and a seed's output equals the full
graph's once the edges later than the seed's time are dropped."""
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.typing import (
    WITH_EDGE_TIME_NEIGHBOR_SAMPLE,
    WITH_PYG_LIB,
)

from reference import gru_reference
from torch_geometric_gru import GRUGNN, GRUAggregation, edge_order
from torch_geometric_gru.transforms import SortNeighbors

INSTALL = ("pip install pyg-lib -f "
           "https://data.pyg.org/whl/torch-${TORCH}+${CUDA}.html")
pytestmark = pytest.mark.skipif(
    not WITH_PYG_LIB, reason=f"PyG samples by time only with pyg-lib "
    f"(torch-sparse has no temporal sampler): {INSTALL}")

NUM_NODES, NUM_EDGES = 40, 240

LEVELS = [
    'node',  # time_attr='time': a neighbour is as old as its node.
    'node-input-time',  # The same, the seeds' times given by input_time.
    pytest.param('edge', marks=pytest.mark.skipif(
        not WITH_EDGE_TIME_NEIGHBOR_SAMPLE,
        reason=f'sampling by edge time needs a newer pyg-lib: {INSTALL}')),
]


def _graph():
    gen = torch.Generator().manual_seed(0)
    # Unsorted, with self-loops and multi-edges; distinct times, so that
    # "the k most recent" and "in time order" have one answer.
    edge_index = torch.randint(0, NUM_NODES, (2, NUM_EDGES), generator=gen)
    return Data(x=torch.randn(NUM_NODES, 6, generator=gen),
                edge_index=edge_index,
                time=torch.randperm(NUM_NODES, generator=gen),
                edge_time=torch.randperm(NUM_EDGES, generator=gen))


def _temporal(level, descending=False, **kwargs):
    r"""The graph sorted by time as docs/pipelines.md says (most recent
    first if :obj:`descending`), a temporal loader over all its nodes, and
    the time of every edge of the full graph (for node times: the time of
    its source)."""
    from torch_geometric.loader import NeighborLoader
    data = _graph()
    if level == 'edge':
        data = SortNeighbors('edge_time', descending=descending,
                             per_edge=True)(data)
        edge_time = data.edge_time
        kwargs.update(time_attr='edge_time')
    else:
        data = SortNeighbors('time', descending=descending,
                             per_edge=False)(data)
        edge_time = data.time[data.edge_index[0]]
        kwargs.update(time_attr='time')
    if level != 'node':  # Seed times between the first and the last edge.
        gen = torch.Generator().manual_seed(1)
        high = NUM_EDGES if level == 'edge' else NUM_NODES
        kwargs.update(input_time=torch.randint(0, high, (NUM_NODES, ),
                                               generator=gen))
    kwargs.setdefault('num_neighbors', [-1, -1])
    loader = NeighborLoader(data, batch_size=7, **kwargs)
    return data, loader, edge_time


def _seed_time(level, data, batch):
    if level == 'node':
        return data.time[batch.n_id[:batch.batch_size]]
    return batch.seed_time


def _past(data, edge_time, t, descending=False):
    r"""The full graph's edges not later than :obj:`t`, in time order (most
    recent first if :obj:`descending`): sorted by the raw times here,
    independently of the transform."""
    keep = (edge_time <= t).nonzero().view(-1)
    keep = keep[torch.sort(edge_time[keep], descending=descending,
                           stable=True).indices]
    return data.edge_index[:, keep], edge_time[keep]


@pytest.mark.parametrize('level', LEVELS)
def test_neighbourhoods_lie_in_the_past_and_read_in_time_order(level):
    data, loader, edge_time = _temporal(level)
    num_sampled = num_future = 0
    for batch in loader:
        seed_time = _seed_time(level, data, batch)
        # Disjoint subgraphs: batch.batch is each node's seed.
        dst_seed = batch.batch[batch.edge_index[1]]
        times = edge_time[batch.e_id]
        assert (times <= seed_time[dst_seed]).all()
        if level != 'edge':  # Every node but the seeds is in the past.
            rest = torch.arange(batch.num_nodes) >= batch.batch_size
            assert (batch.time[rest] <=
                    seed_time[batch.batch[rest]]).all()
        num_sampled += batch.num_edges
        key = edge_order(batch)
        assert key is batch.edge_rank  # The transform's ranks.
        src, dst = batch.edge_index
        for i, node in enumerate(batch.n_id[:batch.batch_size].tolist()):
            mask = dst == i
            read = torch.sort(key[mask], stable=True).indices
            seq_times = times[mask][read]
            assert (seq_times[1:] >= seq_times[:-1]).all()
            past_index, _ = _past(data, edge_time, seed_time[i])
            expected = past_index[0, past_index[1] == node]
            assert torch.equal(batch.n_id[src[mask][read]], expected)
            num_future += int(((data.edge_index[1] == node) &
                               (edge_time > seed_time[i])).sum())
    # Not vacuous: edges were sampled, and the seeds had later ones.
    assert num_sampled > 0 and num_future > 0


# Most recent first: pyg-lib's temporal sampler lists neighbourhoods by
# time itself, so there the order comes from the recorded ranks alone.
@pytest.mark.parametrize('descending', [False, True])
@pytest.mark.parametrize('level', LEVELS)
def test_a_seed_reads_the_gru_reference_over_its_past(level, descending):
    data, loader, edge_time = _temporal(level, descending,
                                        num_neighbors=[-1])
    torch.manual_seed(0)
    aggr = GRUAggregation(6, 8)
    checked = 0
    for batch in loader:
        seed_time = _seed_time(level, data, batch)
        src, dst = batch.edge_index
        out = aggr(batch.x[src], dst, dim_size=batch.num_nodes,
                   order=edge_order(batch))
        for i, node in enumerate(batch.n_id[:batch.batch_size].tolist()):
            (p_src, p_dst), _ = _past(data, edge_time, seed_time[i],
                                      descending)
            expected = gru_reference(aggr.gru, data.x[p_src], p_dst,
                                     NUM_NODES)[node]
            assert torch.allclose(out[i], expected, atol=1e-6)
            checked += int((p_dst == node).sum()) > 1
    assert checked > 10  # Seeds with a sequence, not one message.


@pytest.mark.parametrize('descending', [False, True])
@pytest.mark.parametrize('level', LEVELS)
def test_two_layers_on_a_batch_equal_the_full_graph_restricted_to_the_past(
        level, descending):
    data, loader, edge_time = _temporal(level, descending)
    torch.manual_seed(0)
    model = GRUGNN(6, 16, num_layers=2, out_channels=8).eval()
    unrestricted = model(data.x, data.edge_index, order=data.edge_rank)
    differs = 0
    for batch in loader:
        seed_time = _seed_time(level, data, batch)
        out = model(batch.x, batch.edge_index, order=edge_order(batch))
        for i, node in enumerate(batch.n_id[:batch.batch_size].tolist()):
            past_index, _ = _past(data, edge_time, seed_time[i],
                                  descending)
            expected = model(data.x, past_index)[node]
            assert torch.allclose(out[i], expected, atol=1e-5)
            differs += not torch.allclose(out[i], unrestricted[node],
                                          atol=1e-3)
    assert differs > 10  # The restriction to the past changed outputs.


@pytest.mark.parametrize('level', LEVELS)
def test_the_last_k_neighbours_in_time_order(level):
    # temporal_strategy='last': the k most recent past neighbours.
    data, loader, edge_time = _temporal(level, num_neighbors=[3],
                                        temporal_strategy='last')
    for batch in loader:
        seed_time = _seed_time(level, data, batch)
        src, dst = batch.edge_index
        key = edge_order(batch)
        for i, node in enumerate(batch.n_id[:batch.batch_size].tolist()):
            mask = dst == i
            read = batch.n_id[src[mask][torch.sort(key[mask]).indices]]
            past_index, _ = _past(data, edge_time, seed_time[i])
            expected = past_index[0, past_index[1] == node][-3:]
            assert torch.equal(read, expected)
