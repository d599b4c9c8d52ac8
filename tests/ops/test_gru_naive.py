import pytest
import torch
from reference import gru_reference, hub_graph
from torch.autograd import gradcheck, gradgradcheck

from torch_geometric_gru import GRUAggregation, GRUConv, PackedLayout
from torch_geometric_gru.ops.gru import naive as naive_gru


@pytest.mark.parametrize('sequence', [False, True])
def test_naive_layer_matches_per_node_gru(sequence):
    torch.manual_seed(0)
    index = hub_graph()[1]
    layout = PackedLayout.from_index(index, 15)
    x = torch.randn(index.numel(), 4, dtype=torch.double)
    gru = torch.nn.GRU(4, 6, batch_first=True).double()
    params = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0,
              gru.bias_hh_l0)
    out = naive_gru.gru_layer(x, layout.perm, *params, layout, sequence)
    if sequence:  # The last state of each sequence is its final state.
        out = out[layout.last_row]
    expected = gru_reference(gru, x, index, 15)[layout.nodes]
    assert torch.allclose(out, expected, atol=1e-12)


def _aggregation(kernel='native', **kwargs):
    torch.manual_seed(0)
    index = hub_graph(num_nodes=6)[1]
    x = torch.randn(index.numel(), 3, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(3, 4, kernel=kernel, **kwargs).double()
    return aggr, x, index


@pytest.mark.parametrize('kwargs', [dict(), dict(num_layers=2,
                                                 bidirectional=True)])
def test_gradgradcheck(kwargs):
    torch.manual_seed(0)
    index = torch.tensor([2, 0, 2, 2, 1, 0, 2])  # Lengths 3, 1, 2 (+ empty).
    x = torch.randn(7, 2, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(2, 3, **kwargs).double()
    gru = aggr.gru
    w_hh = gru.weight_hh_l0.detach().clone().requires_grad_()

    def fn(x, w_hh):  # The recurrent weight as an input of the function.
        old = gru.weight_hh_l0
        del gru.weight_hh_l0
        gru.weight_hh_l0 = w_hh
        try:
            return aggr(x, index, dim_size=4)
        finally:
            del gru.weight_hh_l0
            gru.weight_hh_l0 = old

    assert gradcheck(fn, (x, w_hh))
    assert gradgradcheck(fn, (x, w_hh))


def test_hessian_vector_product_matches_the_stock_gru():
    # The stock packed nn.GRU (kernel='cudnn', PyTorch's own kernel on CPU)
    # is differentiable twice: the same Hessian-vector product.
    results = []
    for kernel in ('native', 'cudnn'):
        aggr, x, index = _aggregation(kernel)
        params = list(aggr.parameters())
        out = aggr(x, index, dim_size=7)
        grads = torch.autograd.grad((out**2).sum(), [x] + params,
                                    create_graph=True)
        gen = torch.Generator().manual_seed(1)
        vs = [torch.randn(g.shape, generator=gen, dtype=g.dtype)
              for g in grads]
        dot = sum((g * v).sum() for g, v in zip(grads, vs))
        results.append(torch.autograd.grad(dot, [x] + params))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-10)


def test_gradient_penalty_reaches_the_gru_weights():
    # A penalty on the input gradient (as in WGAN-GP) trains the GRU.
    torch.manual_seed(0)
    edge_index = hub_graph(num_nodes=6)
    x = torch.randn(6, 3, dtype=torch.double, requires_grad=True)
    exact = dict(add_mean=False, edge_dropout=0.0)  # The GRU alone.
    conv = GRUConv(3, 4, **exact).double()
    stock = GRUConv(3, 4, kernel='cudnn', **exact).double()
    stock.load_state_dict(conv.state_dict())
    grads = []
    for layer in (conv, stock):
        out = layer(x, edge_index)
        (gx, ) = torch.autograd.grad(out.sum(), x, create_graph=True)
        penalty = (gx.norm(dim=-1) - 1).pow(2).sum()
        grads.append(torch.autograd.grad(penalty, list(layer.parameters()),
                                         allow_unused=True))
    for (name, _), a, b in zip(conv.named_parameters(), *grads):
        if name == 'bias':  # An additive bias leaves the input gradient.
            assert a is None and b is None
            continue
        assert a.abs().sum() > 0, name
        assert torch.allclose(a, b, atol=1e-10)
