from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import conv_reference, devices, hub_graph
from torch.overrides import TorchFunctionMode

from torch_geometric_gru import GRUConv, MinGRUAggregation
from torch_geometric_gru.aggr.fold import folds_linear


def mingru_reference(aggr, x, index, dim_size):
    r"""The sequential definition, one node and one step at a time."""
    W, b = aggr.lin.weight, aggr.lin.bias
    H = aggr.out_channels
    rows = []
    for i in range(dim_size):
        h = x.new_zeros(H)
        for row in x[index == i]:
            g = row @ W.t() + (b if b is not None else 0)
            z = torch.sigmoid(g[:H])
            h = (1 - z) * h + z * g[H:]
        rows.append(h)
    return torch.stack(rows) if rows else x.new_zeros(0, H)


def _check(aggr, x, index, dim_size, atol=1e-10, **kwargs):
    out = aggr(x, index, dim_size=dim_size, **kwargs)
    xs = x if 'x_index' not in kwargs else x[kwargs['x_index']]
    expected = mingru_reference(aggr, xs, index, dim_size)
    assert torch.allclose(out, expected, atol=atol)
    inputs = [x] + list(aggr.parameters())
    if not expected.requires_grad:
        return
    w = torch.randn_like(out)
    got = torch.autograd.grad((out * w).sum(), inputs)
    want = torch.autograd.grad((expected * w).sum(), inputs)
    for g1, g2 in zip(got, want):
        assert torch.allclose(g1, g2, atol=atol)


@pytest.mark.parametrize('device', devices())
@pytest.mark.parametrize('bias', [True, False])
def test_matches_sequential_definition(device, bias):
    torch.manual_seed(0)
    index = hub_graph()[1].to(device)
    x = torch.randn(index.numel(), 5, dtype=torch.double, device=device,
                    requires_grad=True)
    aggr = MinGRUAggregation(5, 7, bias=bias).double().to(device)
    _check(aggr, x, index, dim_size=14)


def test_hoisted_node_features():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5, dtype=torch.double, requires_grad=True)
    aggr = MinGRUAggregation(5, 7).double()
    _check(aggr, x, edge_index[1], 12, x_index=edge_index[0])


def test_float32_and_ptr():
    torch.manual_seed(0)
    index = torch.tensor([0, 0, 0, 2, 2, 3])
    x = torch.randn(6, 4)
    aggr = MinGRUAggregation(4, 3)
    out = aggr(x, ptr=torch.tensor([0, 3, 3, 5, 6]))
    assert torch.allclose(out, mingru_reference(aggr, x, index, 4),
                          atol=1e-6)
    assert out[1].abs().sum() == 0


@pytest.mark.parametrize('dtype,atol', [(torch.float, 1e-5),
                                        (torch.double, 1e-12)])
def test_long_sequences_are_stable(dtype, atol):
    torch.manual_seed(0)
    num = 12_000  # One node with 12,000 messages, one with 3.
    index = torch.cat([torch.zeros(num, dtype=torch.long),
                       torch.ones(3, dtype=torch.long)])
    x = (torch.randn(num + 3, 4) * 3).to(dtype).requires_grad_()
    aggr = MinGRUAggregation(4, 3).to(dtype)
    out = aggr(x, index)
    # The reference runs in float64 with the same weights:
    ref_aggr = MinGRUAggregation(4, 3).double()
    ref_aggr.load_state_dict(aggr.state_dict())
    with torch.no_grad():
        expected = mingru_reference(ref_aggr, x.double(), index, 2)
    assert torch.allclose(out.double(), expected, atol=atol)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[:num - 200].abs().max() < 1e-3  # Long-forgotten inputs.


def test_batch_invariance_and_empty():
    torch.manual_seed(0)
    aggr = MinGRUAggregation(3, 4)
    x, index = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 2])
    out = aggr(x, index)
    x_hub = torch.cat([x, torch.randn(40, 3)])
    index_hub = torch.cat([index, torch.full((40, ), 3)])
    assert torch.allclose(aggr(x_hub, index_hub)[:3], out, atol=1e-6)
    empty = aggr(torch.randn(0, 3), torch.empty(0, dtype=torch.long),
                 dim_size=2)
    assert empty.shape == (2, 4) and empty.abs().sum() == 0


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_graphs(data):
    num_nodes = data.draw(st.integers(1, 6))
    num_edges = data.draw(st.integers(0, 40))
    index = torch.tensor(data.draw(st.lists(
        st.integers(0, num_nodes - 1), min_size=num_edges,
        max_size=num_edges)), dtype=torch.long)
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    x = torch.randn(num_edges, 3, dtype=torch.double, requires_grad=True)
    _check(MinGRUAggregation(3, 2).double(), x, index, num_nodes)


def test_in_gru_conv():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5, dtype=torch.double)
    conv = GRUConv(5, 8, cell='mingru', edge_dropout=0.0).double()
    assert isinstance(conv.aggr_module, MinGRUAggregation)
    assert str(conv) == "GRUConv(5, 8, cell='mingru', edge_dropout=0.0)"
    expected = conv_reference(conv, x, edge_index, aggregate=partial(
        mingru_reference, conv.aggr_module))
    assert torch.allclose(conv(x, edge_index), expected, atol=1e-10)
    with pytest.raises(ValueError, match="one layer and one direction"):
        GRUConv(5, 8, cell='mingru', num_layers=2)
    with pytest.raises(ValueError, match="'cell' must be 'gru' or 'mingru'"):
        GRUConv(5, 8, cell='lstm')


def test_repr_and_errors():
    aggr = MinGRUAggregation(16, 32)
    assert str(aggr) == 'MinGRUAggregation(16, 32)'
    with pytest.raises(ValueError, match="out of range for dim_size=2"):
        aggr(torch.randn(2, 16), torch.tensor([0, 2]), dim_size=2)
    with pytest.raises(ValueError, match="in_channels=16"):
        aggr(torch.randn(2, 15), torch.tensor([0, 1]))


class LinearWeights(TorchFunctionMode):
    r"""Records the weight shape of every :func:`F.linear` call."""
    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.linear:
            self.shapes.append(tuple(args[1].shape))
        return func(*args, **(kwargs or {}))


# (F, I, H, folds): rows of width F, mapped to width I by `x_weight`, read
# by a minGRU of state H; folded exactly when F * 2H < F * I + I * 2H, that
# is F < 2H where I = H (as in GRUConv).
FOLD_CASES = [
    (5, 6, 6, True),  # 60 < 30 + 72
    (11, 6, 6, True),  # 132 < 66 + 72
    (12, 6, 6, False),  # F = 2H: 144 = 72 + 72, not less.
    (20, 6, 6, False),  # 240 > 120 + 72
    (5, 4, 7, True),  # 70 < 20 + 56
    (6, 4, 7, False),  # 84 > 24 + 56
]


@pytest.mark.parametrize('in_features,mid,hidden,folds', FOLD_CASES + [
    (128, 256, 256, True),  # The mini-batch benchmark's first layer.
    (256, 256, 256, True),  # Its second layer.
    (1433, 64, 64, False),  # Cora's features: project them first.
])
def test_folds_linear(in_features, mid, hidden, folds):
    assert folds_linear(in_features, mid, 2 * hidden) is folds


def _grads(out, inputs, seed=0):
    w = torch.randn(out.shape, dtype=out.dtype,
                    generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad((out * w).sum(), inputs)


@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('in_features,mid,hidden,folds', FOLD_CASES)
def test_x_weight_fold(in_features, mid, hidden, folds, bias):
    torch.manual_seed(0)
    edge_index = hub_graph()
    src, index = edge_index
    x = torch.randn(12, in_features, dtype=torch.double, requires_grad=True)
    weight = torch.randn(mid, in_features, dtype=torch.double,
                         requires_grad=True)
    aggr = MinGRUAggregation(mid, hidden, bias=bias).double()
    inputs = [x, weight] + list(aggr.parameters())
    with LinearWeights() as mode:
        out = aggr(x, index, dim_size=12, x_index=src, x_weight=weight)
    # Folded: one projection, [W_z; W_h] W; else W, then [W_z; W_h].
    assert mode.shapes == ([(2 * hidden, in_features)] if folds else
                           [(mid, in_features), (2 * hidden, mid)])
    # Against the same layer reading the mapped rows, and the sequential
    # definition on them:
    unfolded = aggr(x @ weight.t(), index, dim_size=12, x_index=src)
    expected = mingru_reference(aggr, (x @ weight.t())[src], index, 12)
    grads = _grads(out, inputs)
    for want in (unfolded, expected):
        assert torch.allclose(out, want, atol=1e-10)
        for got, g in zip(grads, _grads(want, inputs)):
            assert torch.allclose(got, g, atol=1e-10)


@pytest.mark.parametrize('in_features,folds', [(5, True), (16, False)])
def test_x_weight_fold_in_gru_conv(in_features, folds):
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, in_features, dtype=torch.double, requires_grad=True)
    # add_mean=False: the mean reads the projected messages, so W is not
    # folded beside it.
    conv = GRUConv(in_features, 8, cell='mingru', add_mean=False,
                   edge_dropout=0.0).double()
    aggr = conv.aggr_module
    assert folds_linear(in_features, 8, 16) is folds
    inputs = [x] + list(conv.parameters())
    with LinearWeights() as mode:
        out = conv(x, edge_index)
    assert ((16, in_features) in mode.shapes) is folds
    expected = conv_reference(conv, x, edge_index,
                              aggregate=partial(mingru_reference, aggr))
    assert torch.allclose(out, expected, atol=1e-10)
    for got, want in zip(_grads(out, inputs), _grads(expected, inputs)):
        assert torch.allclose(got, want, atol=1e-10)


def test_x_weight_hooked_or_lazy_linear_is_called():
    index = torch.tensor([0, 0, 1, 2, 2])
    x, weight = torch.randn(5, 3), torch.randn(4, 3)
    aggr = MinGRUAggregation(4, 6)
    seen = []
    aggr.lin.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    out = aggr(x, index, x_weight=weight)
    assert seen == [(5, 4)]  # The hook saw the mapped rows.
    assert torch.allclose(out, aggr(x @ weight.t(), index), atol=1e-6)
    lazy = MinGRUAggregation(-1, 6)
    lazy(x, index, x_weight=weight)
    assert lazy.lin.weight.shape == (12, 4)
