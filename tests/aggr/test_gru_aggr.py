import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import devices, gru_reference, hub_graph
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.aggr import GRUAggregation as PyGGRUAggregation

from torch_geometric_gru import GRUAggregation


def _grads(out, inputs, seed=0):
    if not out.requires_grad:  # The reference on a graph without edges.
        return [None] * len(inputs)
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return torch.autograd.grad((out * weight.to(out.device)).sum(), inputs,
                               allow_unused=True)


def _assert_matches_reference(aggr, x, index, dim_size, atol=1e-10,
                              **kwargs):
    inputs = [x] + list(aggr.parameters())
    out = aggr(x, index, dim_size=dim_size, **kwargs)
    expected = gru_reference(aggr.gru, x, index, dim_size,
                             kwargs.get('max_num_elements'))
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=atol)
    for inp, got, want in zip(inputs, _grads(out, inputs),
                              _grads(expected, inputs)):
        got = torch.zeros_like(inp) if got is None else got
        want = torch.zeros_like(inp) if want is None else want
        assert torch.allclose(got, want, atol=atol)


@pytest.mark.parametrize('device', devices())
@pytest.mark.parametrize('num_layers', [1, 2])
@pytest.mark.parametrize('bidirectional', [False, True])
@pytest.mark.parametrize('bias', [True, False])
def test_matches_per_node_gru(device, num_layers, bidirectional, bias):
    torch.manual_seed(12345)
    edge_index = hub_graph().to(device)
    x = torch.randn(edge_index.size(1), 5, dtype=torch.double,
                    device=device, requires_grad=True)
    aggr = GRUAggregation(5, 7, num_layers=num_layers,
                          bidirectional=bidirectional, bias=bias)
    aggr = aggr.double().to(device)
    # dim_size > index.max() + 1 gives isolated nodes:
    _assert_matches_reference(aggr, x, edge_index[1], dim_size=15)


def test_float32_matches_per_node_gru():
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 16, requires_grad=True)
    aggr = GRUAggregation(16, 32)
    _assert_matches_reference(aggr, x, index, dim_size=12, atol=1e-5)


def test_ptr_equals_index():
    torch.manual_seed(0)
    index = torch.tensor([0, 0, 0, 2, 2, 3, 3, 3, 3])
    ptr = torch.tensor([0, 3, 3, 5, 9])
    x = torch.randn(9, 4)
    aggr = GRUAggregation(4, 6)
    out = aggr(x, ptr=ptr)
    assert torch.allclose(out, aggr(x, index, dim_size=4))
    assert torch.allclose(out, gru_reference(aggr.gru, x, index, 4),
                          atol=1e-6)
    assert out[1].abs().sum() == 0


def test_empty_input():
    aggr = GRUAggregation(4, 6)
    x = torch.randn(0, 4, requires_grad=True)
    out = aggr(x, torch.empty(0, dtype=torch.long), dim_size=3)
    assert out.shape == (3, 6) and out.abs().sum() == 0
    out.sum().backward()
    assert x.grad.shape == (0, 4)
    assert aggr(x, torch.empty(0, dtype=torch.long)).shape == (0, 6)


def test_max_num_elements_reads_the_first_elements():
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 3, dtype=torch.double,
                    requires_grad=True)
    aggr = GRUAggregation(3, 4).double()
    _assert_matches_reference(aggr, x, index, dim_size=12,
                              max_num_elements=3)


def test_unsorted_index_keeps_the_order_within_each_node():
    torch.manual_seed(0)
    x = torch.randn(6, 3)
    aggr = GRUAggregation(3, 4)
    index = torch.tensor([1, 0, 1, 0, 1, 1])
    out = aggr(x, index)
    # Node 1 reads rows 0, 2, 4, 5 in this order, node 0 reads 1, 3:
    _, h1 = aggr.gru(x[[0, 2, 4, 5]].unsqueeze(0))
    _, h0 = aggr.gru(x[[1, 3]].unsqueeze(0))
    assert torch.allclose(out[1], h1.view(-1), atol=1e-6)
    assert torch.allclose(out[0], h0.view(-1), atol=1e-6)
    # ... which is not the order of a sorted index:
    _, h1_other = aggr.gru(x[[5, 4, 2, 0]].unsqueeze(0))
    assert not torch.allclose(out[1], h1_other.view(-1), atol=1e-4)


def test_gradcheck():
    torch.manual_seed(0)
    index = torch.tensor([2, 0, 2, 2, 1, 2, 0])
    x = torch.randn(7, 3, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(3, 2, num_layers=2, bidirectional=True).double()
    params = tuple(aggr.gru.parameters())

    def fn(x, *weights):
        gru = copy.deepcopy(aggr)
        names = [n for n, _ in aggr.gru.named_parameters()]
        for name, w in zip(names, weights):
            delattr(gru.gru, name)
            setattr(gru.gru, name, w)
        return gru(x, index, dim_size=4)

    assert torch.autograd.gradcheck(fn, (x, ) + params)


def test_batch_invariance():
    torch.manual_seed(0)
    F = 4
    aggr = GRUAggregation(F, 8)
    index = torch.tensor([0, 1, 1, 0, 2])
    x = torch.randn(5, F)
    out = aggr(x, index, dim_size=3)

    # Add an unrelated hub node with 50 messages:
    x_hub = torch.cat([x, torch.randn(50, F)])
    index_hub = torch.cat([index, torch.full((50, ), 3)])
    assert torch.allclose(aggr(x_hub, index_hub)[:3], out, atol=1e-6)

    # Re-batch: the same graph twice, node ids shifted, interleaved rows:
    x2 = torch.cat([x, x])[torch.tensor([0, 5, 1, 6, 2, 7, 3, 8, 4, 9])]
    index2 = torch.cat([index, index + 3])[torch.tensor(
        [0, 5, 1, 6, 2, 7, 3, 8, 4, 9])]
    out2 = aggr(x2, index2)
    assert torch.allclose(out2[:3], out, atol=1e-6)
    assert torch.allclose(out2[3:], out, atol=1e-6)


def test_state_dict_loads_both_ways_with_pyg():
    # The same parameters mean the same GRU: where PyG's padded layer is
    # exact (every node has the same degree, so nothing is padded), both
    # layers agree after loading each other's state_dict.
    torch.manual_seed(0)
    index = torch.arange(4).repeat_interleave(3)  # Sorted, degree 3 each.
    x = torch.randn(12, 4)
    ours, pyg = GRUAggregation(4, 8), PyGGRUAggregation(4, 8)
    ours.load_state_dict(pyg.state_dict())
    assert torch.allclose(ours(x, index), pyg(x, index), atol=1e-6)
    ours.reset_parameters()
    pyg.load_state_dict(ours.state_dict())
    assert torch.allclose(ours(x, index), pyg(x, index), atol=1e-6)


@pytest.mark.parametrize('shuffle_edges', [False, True])
def test_in_sage_conv(shuffle_edges):
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 6)
    conv = SAGEConv(6, 16, aggr=GRUAggregation(6, 6))
    # A stable sort by destination keeps each node's neighbour order:
    perm = torch.sort(edge_index[1], stable=True).indices
    expected = conv(x, edge_index[:, perm])
    if shuffle_edges:
        out = conv(x, edge_index)
    else:
        out = conv(x, edge_index[:, perm])
    assert out.shape == (12, 16)
    assert torch.allclose(out, expected, atol=1e-6)
    aggr = conv.aggr_module
    agg = gru_reference(aggr.gru, x[edge_index[0]], edge_index[1], 12)
    manual = conv.lin_l(agg) + conv.lin_r(x)
    assert torch.allclose(out, manual, atol=1e-5)


def test_reset_parameters_and_repr():
    aggr = GRUAggregation(16, 32)
    assert str(aggr) == 'GRUAggregation(16, 32)'
    assert str(GRUAggregation(4, 8, num_layers=2, bidirectional=True)) == \
        'GRUAggregation(4, 8, num_layers=2, bidirectional=True)'
    before = aggr.gru.weight_hh_l0.clone()
    aggr.reset_parameters()
    assert not torch.equal(before, aggr.gru.weight_hh_l0)


def test_dropout_between_layers():
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 3, dtype=torch.double)
    aggr = GRUAggregation(3, 4, num_layers=2, dropout=0.5).double()
    aggr.eval()
    expected = gru_reference(aggr.gru, x, index, 12)
    assert torch.allclose(aggr(x, index, dim_size=12), expected)
    aggr.train()
    assert not torch.allclose(aggr(x, index, dim_size=12), expected)


def test_layout_is_cached_per_index():
    aggr = GRUAggregation(3, 4)
    index = torch.tensor([0, 1, 1])
    x = torch.randn(3, 3)
    aggr(x, index)
    layout = aggr.layout(x, index, dim_size=2)
    aggr(x, index)
    assert aggr.layout(x, index, dim_size=2) is layout


def test_retain_graph_is_exact_across_forwards():
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 3, dtype=torch.double,
                    requires_grad=True)
    aggr = GRUAggregation(3, 4).double()
    out = aggr(x, index)
    (g1, ) = torch.autograd.grad(out.sum(), x, retain_graph=True)
    # A second forward must not disturb what the first graph saved:
    other = aggr(x * 2, index)
    (g2, ) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(g1, g2)
    other.sum().backward()


def test_checkpoint_matches_plain_backward():
    from torch.utils.checkpoint import checkpoint
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 3, dtype=torch.double,
                    requires_grad=True)
    aggr = GRUAggregation(3, 4).double()
    (expected, ) = torch.autograd.grad(aggr(x, index).sum(), x)
    out = checkpoint(aggr, x, index, use_reentrant=False)
    (got, ) = torch.autograd.grad(out.sum(), x)
    assert torch.allclose(got, expected)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_graphs_match_reference(data):
    num_nodes = data.draw(st.integers(1, 8), label='num_nodes')
    num_edges = data.draw(st.integers(0, 30), label='num_edges')
    index = torch.tensor(
        data.draw(st.lists(st.integers(0, num_nodes - 1),
                           min_size=num_edges, max_size=num_edges)),
        dtype=torch.long)
    num_layers = data.draw(st.integers(1, 2), label='num_layers')
    bidirectional = data.draw(st.booleans(), label='bidirectional')
    torch.manual_seed(data.draw(st.integers(0, 2**16), label='seed'))
    x = torch.randn(num_edges, 3, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(3, 4, num_layers=num_layers,
                          bidirectional=bidirectional).double()
    _assert_matches_reference(aggr, x, index, dim_size=num_nodes)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(index=torch.tensor([0, 3]), dim_size=2), ValueError,
     r"'index' contains the entry 3, out of range for dim_size=2"),
    (dict(index=torch.tensor([0, -1])), ValueError,
     r"'index' contains the negative entry -1"),
    (dict(index=torch.tensor([0, 1, 1])), ValueError,
     r"one entry per row of 'x' \(2\)"),
    (dict(index=torch.tensor([0., 1.])), TypeError,
     r"'index' must hold integer node indices.*index.long\(\)"),
    (dict(x=torch.randn(2)), ValueError,
     r"'x' must be a 2-D tensor of shape \[num_rows, in_channels\]"),
    (dict(x=torch.randn(2, 3, 4)), ValueError, r"'x' must be a 2-D tensor"),
    (dict(x=torch.randn(2, 5)), ValueError,
     r"'x' has 5 features per row but the layer was built with "
     r"in_channels=4"),
    (dict(x=torch.ones(2, 4, dtype=torch.long)), TypeError,
     r"'x' must be a floating-point tensor.*x.float\(\)"),
    (dict(index=None), ValueError, r"needs 'index'.*or 'ptr'"),
    (dict(index=None, ptr=torch.tensor([0, 1])), ValueError,
     r"'ptr' must start at 0 and end at the number of rows of 'x' \(2\)"),
    (dict(dim=1), ValueError, r"pass dim=0 or dim=-2"),
])
def test_errors(kwargs, error, match):
    aggr = GRUAggregation(4, 8)
    args = dict(x=torch.randn(2, 4), index=torch.tensor([0, 1]))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        aggr(args.pop('x'), **args)


def test_dtype_errors_are_value_errors_too():
    aggr = GRUAggregation(4, 8)
    with pytest.raises(ValueError):
        aggr(torch.randn(2, 4), torch.tensor([0., 1.]))


@pytest.mark.parametrize('device_type', ['cpu'])
def test_autocast(device_type):
    # Under autocast the recurrence runs in the parameters' dtype (fp32
    # state), whatever the dtype of the messages.
    from torch_geometric_gru import GRUConv
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 6)
    conv = SAGEConv(6, 8, aggr=GRUAggregation(6))
    gru_conv = GRUConv(6, 8, edge_dropout=0.0)
    for layer in (conv, gru_conv):
        expected = layer(x, edge_index)
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = layer(x, edge_index)
        assert torch.allclose(out.float(), expected, atol=0.1)
        out.float().sum().backward()


def test_torch_func_grad():
    from torch.func import functional_call, grad
    torch.manual_seed(0)
    aggr = GRUAggregation(4, 8)
    x, index = torch.randn(10, 4), hub_graph()[1][:10]
    params = dict(aggr.named_parameters())

    def loss(p):
        return functional_call(aggr, p, (x, index)).pow(2).sum()

    got = grad(loss)(params)
    want = torch.autograd.grad(aggr(x, index).pow(2).sum(),
                               list(params.values()))
    for name, w in zip(params, want):
        assert torch.allclose(got[name], w, atol=1e-6)


@pytest.mark.parametrize('x_dtype', [torch.double, torch.half,
                                     torch.bfloat16])
def test_dtype_mismatch_is_a_clear_error(x_dtype):
    from torch_geometric_gru import GRUConv
    edge_index = torch.tensor([[0, 1], [1, 2]])
    x = torch.randn(3, 4, dtype=x_dtype)
    with pytest.raises(TypeError, match=r"'x' is torch\..* but the layer's "
                       r"parameters are torch.float32"):
        GRUAggregation(4, 8)(x, edge_index[1])
    with pytest.raises(TypeError, match="layer.to"):
        GRUConv(4, 8)(x, edge_index)


def test_channel_and_device_errors():
    from torch_geometric_gru import GRUConv
    with pytest.raises(ValueError, match="'out_channels' must be a positive"):
        GRUConv(16, 0)
    with pytest.raises(ValueError, match="'out_channels' must be a positive"):
        GRUAggregation(16, 0)
    with pytest.raises(ValueError, match="'in_channels' must be a positive "
                       "integer or -1"):
        GRUAggregation(-2)
    meta = torch.tensor([[0, 1], [1, 2]], device='meta')
    with pytest.raises(ValueError, match='meta device'):
        GRUConv(4, 8)(torch.randn(3, 4), meta)
    with pytest.raises(TypeError, match='torch.long or torch.int32'):
        GRUConv(4, 8)(torch.randn(3, 4),
                      torch.tensor([[0, 1], [1, 2]], dtype=torch.int16))
    lazy = GRUConv(-1, 8)
    lazy(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match='in_channels=4'):
        lazy(torch.randn(3, 5), torch.tensor([[0, 1], [1, 2]]))
