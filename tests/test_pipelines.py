import copy
import os
import runpy
import shutil
import subprocess
import sys

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, SAGEConv, to_hetero
from torch_geometric.typing import (
    WITH_PYG_LIB,
    WITH_TORCH_SCATTER,
    WITH_TORCH_SPARSE,
)
from torch_geometric.utils import k_hop_subgraph

from reference import NO_SAMPLER
from torch_geometric_gru import GRUAggregation, GRUConv


class Net(torch.nn.Module):
    def __init__(self, in_channels, hidden, out_channels):
        super().__init__()
        # Every in-edge, in training too: each call is the same function.
        self.conv1 = GRUConv(in_channels, hidden, edge_dropout=0.0)
        self.conv2 = GRUConv(hidden, out_channels, edge_dropout=0.0)

    def forward(self, x, edge_index):
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index)


def _random_graph(num_nodes=40, num_edges=160, seed=0):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    x = torch.randn(num_nodes, 6, generator=gen)
    return x, edge_index


def test_two_hop_subgraph_gives_the_full_graph_outputs():
    torch.manual_seed(0)
    x, edge_index = _random_graph()
    model = Net(6, 16, 8)
    full = model(x, edge_index)
    seeds = torch.tensor([3, 17, 25])
    subset, sub_edge_index, mapping, edge_mask = k_hop_subgraph(
        seeds, 2, edge_index, relabel_nodes=True, num_nodes=40)
    # k_hop_subgraph keeps the edges in their original order, so every
    # node keeps its neighbour order:
    assert torch.equal(subset[sub_edge_index], edge_index[:, edge_mask])
    out = model(x[subset], sub_edge_index)
    assert torch.allclose(out[mapping], full[seeds], atol=1e-6)


def _hetero_data():
    torch.manual_seed(0)
    data = HeteroData()
    data['paper'].x = torch.randn(6, 5)
    data['author'].x = torch.randn(4, 3)
    # Unsorted edges:
    data['author', 'writes', 'paper'].edge_index = torch.tensor(
        [[3, 0, 1, 0, 2, 3, 1], [5, 1, 1, 0, 4, 1, 2]])
    data['paper', 'cites', 'paper'].edge_index = torch.tensor(
        [[4, 0, 2, 5, 1, 0], [1, 3, 1, 0, 1, 2]])
    data['paper', 'rev_writes', 'author'].edge_index = \
        data['author', 'writes', 'paper'].edge_index.flip(0)
    return data


def test_to_hetero():
    data = _hetero_data()

    class Homo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GRUConv((-1, -1), 8, edge_dropout=0.0)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    model = to_hetero(Homo(), data.metadata(), aggr='sum')
    out = model(data.x_dict, data.edge_index_dict)
    assert out['paper'].shape == (6, 8) and out['author'].shape == (4, 8)
    # The same as running each relation's conv and summing:
    convs = model.conv
    expected = torch.zeros(6, 8)
    for et in [('author', 'writes', 'paper'), ('paper', 'cites', 'paper')]:
        conv = convs['__'.join(et)]
        expected += conv((data[et[0]].x, data[et[2]].x),
                         data[et].edge_index)
    assert torch.allclose(out['paper'], expected, atol=1e-6)


def test_hetero_conv():
    data = _hetero_data()
    exact = dict(edge_dropout=0.0)
    conv = HeteroConv({
        ('author', 'writes', 'paper'): GRUConv((-1, -1), 8, **exact),
        ('paper', 'cites', 'paper'): GRUConv(-1, 8, **exact),
        ('paper', 'rev_writes', 'author'): GRUConv((-1, -1), 8, **exact),
    }, aggr='sum')
    out = conv(data.x_dict, data.edge_index_dict)
    et = ('paper', 'rev_writes', 'author')
    expected = conv.convs[et]((data['paper'].x, data['author'].x),
                              data[et].edge_index)
    assert torch.allclose(out['author'], expected, atol=1e-6)
    out['paper'].sum().backward()
    grad = conv.convs[('paper', 'cites', 'paper')].lin.weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize('dtype,atol', [(torch.float, 1e-5),
                                        (torch.double, 1e-12),
                                        (torch.bfloat16, 5e-2),
                                        (torch.float16, 5e-3)])
def test_dtypes(dtype, atol):
    torch.manual_seed(0)
    x, edge_index = _random_graph()
    model = Net(6, 16, 8)
    expected = model.double()(x.double(), edge_index)
    model = model.to(dtype)
    xd = x.detach().to(dtype).requires_grad_()
    out = model(xd, edge_index)
    assert out.dtype == dtype
    assert torch.allclose(out.double(), expected, atol=atol)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out.float() * weight).sum().backward()
    xe = x.detach().double().requires_grad_()
    (model.double()(xe, edge_index) * weight.double()).sum().backward()
    assert xd.grad.dtype == dtype
    scale = xe.grad.abs().max()
    assert torch.allclose(xd.grad.double(), xe.grad, atol=atol * 10 * scale)


def test_nan_stays_in_its_node():
    torch.manual_seed(0)
    index = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    x = torch.randn(7, 4)
    x[2, 1] = float('nan')  # A message of node 1.
    aggr = GRUAggregation(4, 8)
    out = aggr(x, index)
    assert torch.isnan(out[1]).all()
    assert torch.isfinite(out[[0, 2]]).all()
    x.requires_grad_()
    aggr(x, index)[[0, 2]].sum().backward()
    assert torch.isfinite(x.grad[[0, 1, 4, 5, 6]]).all()


def test_seeded_draws_are_deterministic():
    torch.manual_seed(0)
    x, edge_index = _random_graph()
    outs = []
    for _ in range(2):
        torch.manual_seed(1)
        conv = GRUConv(6, 8, shuffle=True, num_permutations=3,
                       max_length=3, seed=5)
        train = conv(x, edge_index)
        conv.eval()
        outs.append((train, conv(x, edge_index)))
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.equal(outs[0][1], outs[1][1])


def test_state_dict_and_pickle_round_trips(tmp_path):
    torch.manual_seed(0)
    x, edge_index = _random_graph()
    model = Net(6, 16, 8)
    out = model(x, edge_index)
    other = Net(6, 16, 8)
    other.load_state_dict(model.state_dict())
    assert torch.equal(other(x, edge_index), out)
    path = tmp_path / 'model.pt'
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert torch.equal(loaded(x, edge_index), out)
    # Caches are not saved:
    assert loaded.conv1.aggr_module._layouts._entry is not None
    fresh = torch.load(path, weights_only=False)
    assert fresh.conv1.aggr_module._layouts._entry is None


@pytest.mark.slow
def test_compile_matches_eager():
    torch.manual_seed(0)
    x, edge_index = _random_graph()

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GRUConv(6, 16, edge_dropout=0.0)
            self.conv2 = SAGEConv(16, 8, aggr=GRUAggregation(16, 16))

        def forward(self, x, edge_index):
            return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    model = Mixed()
    x.requires_grad_()
    weight = torch.randn(x.size(0), 8)  # Not a plain sum: every entry.
    expected = model(x, edge_index)
    grads = torch.autograd.grad((expected * weight).sum(),
                                [x] + list(model.parameters()))
    compiled = torch.compile(model)
    out = compiled(x, edge_index)
    assert torch.allclose(out, expected, atol=1e-5)
    got = torch.autograd.grad((out * weight).sum(),
                              [x] + list(model.parameters()))
    for a, b in zip(got, grads):
        assert torch.allclose(a, b, atol=1e-5)
    # And eager is right: against the same model in float64 (where the
    # per-node reference tests pin the kernels down).
    ref = copy.deepcopy(model).double()
    xd = x.detach().double().requires_grad_()
    want = torch.autograd.grad((ref(xd, edge_index) * weight.double()).sum(),
                               [xd] + list(ref.parameters()))
    for a, b in zip(got, want):
        assert torch.allclose(a.double(), b, atol=1e-4)


EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                       'examples', 'distributed.py')


def _flat(model):
    return torch.cat([p.detach().view(-1) for p in model.parameters()])


@pytest.mark.slow
@pytest.mark.skipif(not (WITH_PYG_LIB or WITH_TORCH_SPARSE),
                    reason=NO_SAMPLER)
@pytest.mark.zero_gru_scale  # Replays the example's own initialisation.
def test_distributed_data_parallel_keeps_replicas_in_sync(tmp_path):
    # The example as a user runs it: two ranks, each on its own shard of
    # Cora's training nodes, NeighborLoader batches, DDP. Full
    # neighbourhoods and no dropout, so that one process can replay it.
    out = tmp_path / 'ddp.pt'
    argv = ['--epochs', '3', '--num-neighbors', '-1', '-1', '--dropout',
            '0', '--edge-dropout', '0']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, EXAMPLE, '--world-size', '2',
                           '--out', str(out)] + argv, capture_output=True,
                          text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'replicas identical: True' in proc.stdout
    record = torch.load(out)
    a, b = record['params']
    assert torch.equal(a, b)  # Every rank ends with the same weights,
    assert record['loss'][-1] < record['loss'][0]  # and training learns.
    assert len(record['test']) == 3

    # DDP averages the ranks' gradients: one process that takes, at every
    # step, the mean of the two ranks' losses on their own batches takes
    # the same steps.
    example = runpy.run_path(EXAMPLE)  # Its functions, not its main.
    args = example['parser']().parse_args(argv)
    root = str(tmp_path / 'data')
    shutil.copytree(os.path.join(args.root, 'Cora', 'raw'),
                    os.path.join(root, 'Cora', 'raw'))
    data = example['load'](root)
    nodes = data.train_mask.nonzero().view(-1)
    loaders = [
        example['train_loader'](data, example['shard'](nodes, rank, 2),
                                args.num_neighbors, args.batch_size,
                                args.seed + rank) for rank in range(2)
    ]
    torch.manual_seed(args.seed)
    model = example['make_model'](data, args.hidden, args.dropout,
                                  args.edge_dropout)
    initial = _flat(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 weight_decay=5e-4)
    steps = 0
    for _ in range(args.epochs):
        for batches in zip(*loaders):
            optimizer.zero_grad()
            loss = sum(example['step_loss'](model, batch)
                       for batch in batches) / 2
            loss.backward()
            optimizer.step()
            steps += 1
    assert steps == 3 * 5  # 70 seeds per rank, batches of 16.
    assert not torch.allclose(a, initial)  # Training moved the weights,
    assert torch.allclose(a, _flat(model), atol=1e-4)  # as averaged.


@pytest.mark.skipif(not WITH_TORCH_SCATTER, reason='torch-scatter is not '
                    'installed: nothing to compare')
def test_results_do_not_depend_on_torch_scatter(monkeypatch):
    import torch_geometric.typing
    torch.manual_seed(0)
    x, edge_index = _random_graph()
    model = SAGEConv(6, 8, aggr=GRUAggregation(6, 6))
    out = model(x, edge_index)
    monkeypatch.setattr(torch_geometric.typing, 'WITH_TORCH_SCATTER', False)
    assert torch.allclose(model(x, edge_index), out, atol=1e-6)


def _ordered_graph(seed=0):
    from torch_geometric.data import Data

    from torch_geometric_gru.transforms import SortNeighbors
    x, edge_index = _random_graph(seed=seed)
    edge_index = torch.unique(edge_index, dim=1)  # No multi-edges to merge.
    data = Data(x=x, edge_index=edge_index,
                edge_attr=torch.arange(edge_index.size(1)).float().view(-1, 1))
    return SortNeighbors('degree', descending=True)(data)


def _in_recorded_order(edge_index, rank):
    # The storage order the ordering transform set: by node, then rank.
    perm = torch.sort(edge_index[1] * 10**6 + rank).indices
    return edge_index[:, perm]


def test_order_survives_sparse_conversion():
    # ToSparseTensor re-sorts the edges by source; the recorded ranks follow.
    import torch_geometric.transforms as T
    data = _ordered_graph()
    conv = GRUConv(6, 8, edge_dropout=0.0)
    expected = conv(data.x, data.edge_index)
    assert not torch.allclose(conv(data.x, _in_recorded_order(
        data.edge_index.flip(0), data.edge_rank).flip(0)), expected,
        atol=1e-3)  # The order matters here...
    sparse = T.ToSparseTensor(layout=torch.sparse_csr)(data.clone())
    out = conv(data.x, sparse.adj_t, order=sparse.edge_rank)
    assert torch.allclose(out, expected, atol=1e-6)  # ...and is kept.


def test_order_survives_link_splits_and_subgraphs():
    import torch_geometric.transforms as T
    data = _ordered_graph()
    conv = GRUConv(6, 8, edge_dropout=0.0)
    train, _, _ = T.RandomLinkSplit(num_val=0.2, num_test=0.2)(data.clone())
    sub = data.subgraph(torch.arange(0, 40, 2))
    for part in (train, sub):
        assert part.edge_index.size(1) < data.edge_index.size(1)
        expected = conv(part.x, _in_recorded_order(part.edge_index,
                                                   part.edge_rank))
        shuffled = torch.randperm(part.edge_index.size(1))
        out = conv(part.x, part.edge_index[:, shuffled],
                   order=part.edge_rank[shuffled])
        assert torch.allclose(out, expected, atol=1e-6)


def test_merged_edges_break_the_recorded_order_loudly():
    # ToUndirected after an ordering transform gives reversed copies ranks
    # from another node's sequence and sums merged ones: refused, not read.
    import torch_geometric.transforms as T
    data = _ordered_graph()
    merged = T.ToUndirected()(data.clone())
    with pytest.raises(ValueError, match='ties within a node'):
        GRUConv(6, 8)(merged.x, merged.edge_index, order=merged.edge_rank)


def test_aggregation_reads_the_order_key():
    torch.manual_seed(0)
    index = torch.tensor([1, 0, 1, 1, 0])
    x = torch.randn(5, 4)
    rank = torch.tensor([2, 1, 0, 1, 0])
    aggr = GRUAggregation(4, 8)
    out = aggr(x, index, order=rank)
    expected = aggr(x[torch.tensor([4, 1, 2, 3, 0])],
                    torch.tensor([0, 0, 1, 1, 1]))
    assert torch.allclose(out, expected, atol=1e-6)
    with pytest.raises(ValueError, match="'order' must hold one sort key"):
        aggr(x, index, order=rank[:4])
