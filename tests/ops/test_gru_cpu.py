r"""The hand-written kernel's paths that only some inputs reach: the
no-grad window, the chunk loops past CHUNK rows, partial gradients."""
import pytest
import torch
from reference import gru_reference, hub_graph

from torch_geometric_gru import GRUAggregation
from torch_geometric_gru.ops.gru import cpu as cpu_gru


def _weighted_grads(out, inputs, seed=0):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    grads = torch.autograd.grad((out * weight).sum(), inputs,
                                allow_unused=True)
    return [torch.zeros_like(i) if g is None else g
            for i, g in zip(inputs, grads)]


def _setup(num_layers=1, bidirectional=False, seed=0):
    torch.manual_seed(seed)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 5, dtype=torch.double)
    aggr = GRUAggregation(5, 7, num_layers=num_layers,
                          bidirectional=bidirectional).double()
    return aggr, x, index


@pytest.mark.parametrize('num_layers,bidirectional', [(1, False), (2, False),
                                                      (1, True), (2, True)])
@pytest.mark.parametrize('mode', ['no_grad', 'inference_mode'])
def test_inference_paths_match_reference(num_layers, bidirectional, mode):
    # eval() under no_grad runs the kernel's windowed, state-only branch.
    aggr, x, index = _setup(num_layers, bidirectional)
    aggr.eval()
    with getattr(torch, mode)():
        out = aggr(x, index, dim_size=15)
    expected = gru_reference(aggr.gru, x, index, 15).detach()
    assert torch.allclose(out, expected, atol=1e-10)


@pytest.mark.parametrize('chunk', [1, 3, 7])
@pytest.mark.parametrize('bidirectional', [False, True])
def test_chunk_loops_match_reference(monkeypatch, chunk, bidirectional):
    # Every vectorised pass runs in chunks of CHUNK rows (4096 by default);
    # tiny chunks make every loop run many times on a small graph.
    monkeypatch.setattr(cpu_gru, 'CHUNK', chunk)
    aggr, x, index = _setup(2, bidirectional)
    x.requires_grad_()
    inputs = [x] + list(aggr.parameters())
    out = aggr(x, index, dim_size=15)
    expected = gru_reference(aggr.gru, x, index, 15)
    assert torch.allclose(out, expected, atol=1e-10)
    for got, want in zip(_weighted_grads(out, inputs),
                         _weighted_grads(expected, inputs)):
        assert torch.allclose(got, want, atol=1e-10)
    with torch.no_grad():
        assert torch.allclose(aggr(x, index, dim_size=15), expected,
                              atol=1e-10)


@pytest.mark.parametrize('frozen', ['input', 'weight_ih', 'weight_hh',
                                    'biases', 'all_but_bias_hh'])
@pytest.mark.parametrize('hoisted', [False, True])
def test_partial_gradient_requests(frozen, hoisted):
    # A first layer on raw features (no input gradient), frozen weights or
    # biases: every gradient still requested is exact.
    aggr, x, index = _setup()
    gru = aggr.gru
    params = dict(weight_ih=[gru.weight_ih_l0], weight_hh=[gru.weight_hh_l0],
                  biases=[gru.bias_ih_l0, gru.bias_hh_l0])
    params['all_but_bias_hh'] = [gru.weight_ih_l0, gru.weight_hh_l0,
                                 gru.bias_ih_l0]
    for p in params.get(frozen, []):
        p.requires_grad_(False)
    if hoisted:  # Node rows read by every edge, through x_index.
        src = torch.randint(0, 6, (index.numel(), ))
        nodes = torch.randn(6, 5, dtype=torch.double,
                            requires_grad=frozen != 'input')
        out = aggr(nodes, index, dim_size=15, x_index=src)
        expected = gru_reference(gru, nodes[src], index, 15)
        inputs = [nodes]
    else:
        x.requires_grad_(frozen != 'input')
        out = aggr(x, index, dim_size=15)
        expected = gru_reference(gru, x, index, 15)
        inputs = [x]
    inputs = [t for t in inputs + list(gru.parameters()) if t.requires_grad]
    for got, want in zip(_weighted_grads(out, inputs),
                         _weighted_grads(expected, inputs)):
        assert torch.allclose(got, want, atol=1e-10)
