r"""What PyG builds on our layers by FX tracing: :func:`to_hetero` and
:func:`to_hetero_with_bases` of :class:`GRUGNN`, :class:`GRUGraphSAGE` and
of user modules, :func:`to_fixed_size` and :func:`to_hetero` of graph-level
models whose pooling is a sequence aggregation. Every converted model is
compared with a reference built per edge type from the layers' own weights
(the GRU part by :func:`reference.gru_reference`)."""
import pytest
import torch
from reference import gru_reference
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn import (
    SAGEConv,
    to_fixed_size,
    to_hetero,
    to_hetero_with_bases,
)

from torch_geometric_gru import (
    GRUAggregation,
    GRUConv,
    GRUGNN,
    GRUGraphSAGE,
    MinGRUAggregation,
)

P2A, A2P, P2P = ('paper', 'to', 'author'), ('author', 'to', 'paper'), \
    ('paper', 'cites', 'paper')


def hetero_data(empty=None, seed: int = 0) -> HeteroData:
    r"""Two node types, three edge types with unsorted, repeated edges and
    nodes without in-edges; :obj:`empty` names an edge type left without
    edges."""
    gen = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data['paper'].x = torch.randn(7, 5, generator=gen)
    data['author'].x = torch.randn(4, 5, generator=gen)
    for edge_type, num_src, num_dst, num_edges in ((P2A, 7, 4, 12),
                                                   (A2P, 4, 7, 10),
                                                   (P2P, 7, 7, 9)):
        num_edges = 0 if edge_type == empty else num_edges
        data[edge_type].edge_index = torch.stack([
            torch.randint(num_src, (num_edges, ), generator=gen),
            torch.randint(num_dst - 1, (num_edges, ), generator=gen),
        ])
        data[edge_type].edge_rank = torch.randperm(num_edges, generator=gen)
    return data


def sage_reference(conv, x_src: Tensor, x_dst: Tensor, edge_index: Tensor,
                   order=None) -> Tensor:
    r"""SAGEConv with a GRU aggregation, from its weights: lin_l of the GRU
    over each node's in-edges (sorted by :obj:`order`) plus lin_r."""
    if order is not None:
        edge_index = edge_index[:, order.argsort()]
    perm = edge_index[1].sort(stable=True).indices  # Keeps in-node order.
    src, dst = edge_index[:, perm]
    agg = gru_reference(conv.aggr_module.gru, x_src[src], dst, x_dst.size(0))
    return conv.lin_l(agg) + conv.lin_r(x_dst)


def hetero_reference(model, data, layer_fn, order=True):
    r"""A stack of layers applied per edge type and summed per destination
    (to_hetero's default :obj:`aggr="sum"`), ReLU between layers."""
    x_dict = dict(data.x_dict)
    for i in range(len(model.convs)):
        out = {key: 0 for key in x_dict}
        for edge_type in data.edge_types:
            src, _, dst = edge_type
            conv = model.convs[i]['__'.join(edge_type)]
            rank = data[edge_type].edge_rank if order else None
            out[dst] = out[dst] + layer_fn(conv, x_dict[src], x_dict[dst],
                                           data[edge_type].edge_index, rank)
        x_dict = {key: value.relu() if i < len(model.convs) - 1 else value
                  for key, value in out.items()}
    return x_dict


@pytest.mark.parametrize('empty', [None, P2P])
def test_to_hetero_gru_graph_sage_equals_per_edge_type_reference(empty):
    torch.manual_seed(0)
    data = hetero_data(empty)
    model = to_hetero(GRUGraphSAGE(5, 8, num_layers=2), data.metadata())
    order = data.collect('edge_rank')
    out = model(data.x_dict, data.edge_index_dict, order=order)
    expected = hetero_reference(model, data, sage_reference)
    for key in ('paper', 'author'):
        assert out[key].shape == expected[key].shape
        assert torch.isfinite(out[key]).all()
        assert torch.allclose(out[key], expected[key], atol=1e-5)
    # The order is read per edge type: without it, the output changes.
    plain = model(data.x_dict, data.edge_index_dict)
    assert not torch.allclose(plain['paper'], out['paper'], atol=1e-4)
    expected = hetero_reference(model, data, sage_reference, order=False)
    assert torch.allclose(plain['paper'], expected['paper'], atol=1e-5)


def gru_conv_eager(conv, x_src, x_dst, edge_index, order):
    return conv((x_src, x_dst), edge_index, order=order)


@pytest.mark.parametrize('empty', [None, A2P])
def test_to_hetero_gru_gnn_equals_per_edge_type_layers(empty):
    torch.manual_seed(0)
    data = hetero_data(empty)
    model = to_hetero(GRUGNN(5, 8, num_layers=2, edge_dropout=0.0),
                      data.metadata())
    order = data.collect('edge_rank')
    out = model(data.x_dict, data.edge_index_dict, order=order)
    expected = hetero_reference(model, data, gru_conv_eager)
    for key in ('paper', 'author'):
        assert torch.isfinite(out[key]).all()
        assert torch.allclose(out[key], expected[key], atol=1e-5)
    # An order per edge type is the same as sorting that type's edges:
    sorted_edges = {key: value[:, order[key].argsort()]
                    for key, value in data.edge_index_dict.items()}
    resorted = model(data.x_dict, sorted_edges)
    for key in ('paper', 'author'):
        assert torch.allclose(out[key], resorted[key], atol=1e-5)


@pytest.mark.parametrize('Model', [GRUGNN, GRUGraphSAGE])
def test_to_hetero_model_trains(Model):
    torch.manual_seed(0)
    data = hetero_data(empty=P2P)
    y = torch.randint(3, (7, ))
    model = to_hetero(Model(-1, 16, num_layers=2, out_channels=3),
                      data.metadata())
    order = data.collect('edge_rank')
    model(data.x_dict, data.edge_index_dict, order=order)  # Lazy shapes.
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        out = model(data.x_dict, data.edge_index_dict, order=order)
        loss = torch.nn.functional.cross_entropy(out['paper'], y)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters()
                   if p.grad is not None)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_to_hetero_order_read_as_node_level_raises():
    data = hetero_data()
    model = to_hetero(GRUGNN(5, 8, num_layers=1), data.metadata(),
                      input_map={'edge_order': 'node'})
    order = {key: torch.zeros(value.num_nodes, dtype=torch.long)
             for key, value in data.node_items()}
    with pytest.raises(TypeError, match="input_map"):
        model(data.x_dict, data.edge_index_dict, order=order)


class UserNet(torch.nn.Module):
    r"""A user module of our conv and of SAGEConv with our aggregation."""
    def __init__(self):
        super().__init__()
        self.conv1 = GRUConv(5, 8)
        self.conv2 = SAGEConv(8, 6, aggr=GRUAggregation(8))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_to_hetero_with_bases_weights_reach_the_gru():
    torch.manual_seed(0)
    data = hetero_data()
    model = to_hetero_with_bases(UserNet(), data.metadata(), num_bases=2,
                                 in_channels={'x': 5})
    out = model(data.x_dict, data.edge_index_dict)
    assert set(out) == {'paper', 'author'}
    assert all(torch.isfinite(value).all() for value in out.values())
    # Reference of the last layer from its input: PyG concatenates the edge
    # types into one graph (node types stacked in metadata order) and runs
    # every basis conv on it, each message scaled by its type's weight.
    hidden = {}
    model.conv1.register_forward_hook(
        lambda module, inputs, output: hidden.setdefault('x', output))
    model.conv2.register_forward_hook(
        lambda module, inputs, output: hidden.setdefault('out', output))
    model(data.x_dict, data.edge_index_dict)
    x = hidden['x'].relu()
    offset = {'paper': 0, 'author': data['paper'].num_nodes}
    edge_index = torch.cat([
        data[edge_type].edge_index +
        torch.tensor([[offset[edge_type[0]]], [offset[edge_type[-1]]]])
        for edge_type in data.edge_types
    ], dim=1)
    edge_type = torch.cat([
        torch.full((data[key].num_edges, ), i)
        for i, key in enumerate(data.edge_types)
    ])
    expected = 0
    for conv in model.conv2.convs:
        weight = conv.edge_type_weight.view(-1)[edge_type].view(-1, 1)
        perm = edge_index[1].sort(stable=True).indices
        src, dst = edge_index[:, perm]
        agg = gru_reference(conv.aggr_module.gru, weight[perm] * x[src], dst,
                            x.size(0))
        expected = expected + conv.lin_l(agg) + conv.lin_r(x)
    assert torch.allclose(hidden['out'], expected, atol=1e-5)


class PoolNet(torch.nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.conv = SAGEConv(5, 8, aggr=GRUAggregation(5))
        self.pool = pool
        self.lin = torch.nn.Linear(pool.out_channels, 3)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        x = self.conv(x, edge_index).relu()
        return self.lin(self.pool(x, batch, dim=0))


class CalledPoolNet(torch.nn.Module):
    r"""Pools with an aggregation built and called inside its forward."""
    def __init__(self):
        super().__init__()
        self.pool = MinGRUAggregation(5, 4)

    def forward(self, x: Tensor, batch: Tensor) -> Tensor:
        return self.pool(x, batch)


@pytest.mark.parametrize('Pool', [GRUAggregation, MinGRUAggregation])
def test_to_fixed_size_of_sequence_pooling(Pool):
    torch.manual_seed(0)
    data = hetero_data()
    x, edge_index = data['paper'].x, data[P2P].edge_index
    batch = torch.tensor([1, 0, 0, 1, 2, 1, 0])  # Unsorted, as we allow.
    model = PoolNet(Pool(8, 6))
    expected = model(x, edge_index, batch)
    fixed = to_fixed_size(model, batch_size=5)
    out = fixed(x, edge_index, batch)
    assert out.shape == (5, 3)
    assert torch.equal(out[:3], expected)
    assert torch.equal(out[3:], model.lin.bias.expand(2, 3))  # Empty graphs.
    if Pool is GRUAggregation:  # Graph b pools its nodes in their order.
        h = model.conv(x, edge_index).relu()
        ref = model.lin(gru_reference(model.pool.gru, h, batch, 5))
        assert torch.allclose(out, ref, atol=1e-5)
    # Still checked at call time, with the error of the eager layer:
    with pytest.raises(ValueError, match="index"):
        fixed(x, edge_index, batch - 1)
    traced = to_fixed_size(CalledPoolNet(), batch_size=3)
    assert traced(x, batch).shape == (3, 4)


def test_graph_level_to_hetero():
    torch.manual_seed(0)
    data = hetero_data()
    batch = {'paper': torch.tensor([0, 0, 1, 1, 1, 0, 1]),
             'author': torch.tensor([1, 0, 0, 1])}
    model = PoolNet(GRUAggregation(8, 6))
    hetero = to_hetero(model, data.metadata(), aggr='sum')
    out = hetero(data.x_dict, data.edge_index_dict, batch)
    assert out.shape == (2, 3)
    # Reference: per node type the conv sums its edge types, the pool of
    # that type reads its nodes; the graph embedding sums the node types.
    x = {}
    for key in data.node_types:
        x[key] = sum(
            hetero.conv['__'.join(edge_type)](
                (data.x_dict[edge_type[0]], data.x_dict[key]),
                data[edge_type].edge_index)
            for edge_type in data.edge_types if edge_type[-1] == key).relu()
    pooled = sum(
        gru_reference(hetero.pool[key].gru, x[key], batch[key], 2)
        for key in data.node_types)
    assert torch.allclose(out, hetero.lin(pooled), atol=1e-5)
