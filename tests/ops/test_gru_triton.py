import pytest
import torch
from reference import NO_TRITON, gru_reference, hub_graph

from torch_geometric_gru import GRUAggregation, GRUConv, PackedLayout
from torch_geometric_gru.ops.gru import triton as triton_gru
from torch_geometric_gru.ops import gru_layer, register
from torch_geometric_gru.aggr.recurrence import packed_gru, resolve_kernel

DEVICES = [d for d in ('cpu', 'cuda')
           if triton_gru.is_available(torch.device(d))]
pytestmark = pytest.mark.skipif(not DEVICES, reason=NO_TRITON)


@pytest.fixture(params=['resident', 'streamed'])
def variant(request, monkeypatch):
    r"""Both kernel variants on small H: the streamed one with W_hh read in
    column blocks of 16 at every step."""
    if request.param == 'streamed':
        monkeypatch.setattr(triton_gru, 'RESIDENT_MAX_H', 8)
        monkeypatch.setattr(triton_gru, 'BLOCK_H', 16)
    return request.param


def _grads(out, inputs, seed=0):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(out.shape, generator=gen).to(out)
    return torch.autograd.grad((out * weight).sum(), inputs,
                               allow_unused=True)


def _assert_close_with_grads(aggr, x, index, dim_size, atol=2e-6,
                             rtol=1e-5):
    r"""Output and every gradient against the per-node nn.GRU loop."""
    inputs = [x] + list(aggr.parameters())
    out = aggr(x, index, dim_size=dim_size)
    expected = gru_reference(aggr.gru, x, index, dim_size)
    torch.testing.assert_close(out, expected, atol=atol, rtol=rtol)
    for got, want in zip(_grads(out, inputs), _grads(expected, inputs)):
        torch.testing.assert_close(got, want, atol=10 * atol, rtol=rtol)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('hidden', [8, 12, 32])
def test_matches_per_node_gru(device, hidden, variant):
    torch.manual_seed(0)
    # A hub of 24 in-edges, self-loops, multi-edges, unsorted, and isolated
    # nodes; 15 nodes > 1 tile of 16 sequences with the padding of H.
    index = hub_graph()[1].to(device)
    x = torch.randn(index.numel(), 5, device=device, requires_grad=True)
    aggr = GRUAggregation(5, hidden, kernel='triton').to(device)
    _assert_close_with_grads(aggr, x, index, dim_size=15)


@pytest.mark.parametrize('device', DEVICES)
def test_many_tiles_of_skewed_lengths(device, variant):
    # 40 sequences (3 tiles, the last partial) with lengths 1..40 shuffled,
    # so every tile ends its sequences at different steps.
    torch.manual_seed(1)
    lengths = torch.randperm(40) + 1
    index = torch.repeat_interleave(torch.arange(40), lengths)
    index = index[torch.randperm(index.numel())].to(device)
    x = torch.randn(index.numel(), 3, device=device, requires_grad=True)
    aggr = GRUAggregation(3, 16, kernel='triton').to(device)
    _assert_close_with_grads(aggr, x, index, dim_size=42)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('num_layers,bidirectional', [(2, False),
                                                      (1, True), (2, True)])
def test_layers_and_directions(device, num_layers, bidirectional, variant):
    torch.manual_seed(2)
    index = hub_graph(num_nodes=8)[1].to(device)
    x = torch.randn(index.numel(), 4, device=device, requires_grad=True)
    aggr = GRUAggregation(4, 16, num_layers=num_layers,
                          bidirectional=bidirectional, kernel='triton')
    _assert_close_with_grads(aggr.to(device), x, index, dim_size=10)


@pytest.mark.parametrize('device', DEVICES)
def test_no_bias_and_partial_gradients(device):
    torch.manual_seed(3)
    index = hub_graph(num_nodes=8)[1].to(device)
    x = torch.randn(index.numel(), 4, device=device)  # No grad: raw input.
    aggr = GRUAggregation(4, 8, bias=False, kernel='triton').to(device)
    aggr.gru.weight_hh_l0.requires_grad_(False)  # Frozen.
    out = aggr(x, index, dim_size=9)
    expected = gru_reference(aggr.gru, x, index, 9)
    torch.testing.assert_close(out, expected, atol=2e-6, rtol=1e-5)
    got = _grads(out, [aggr.gru.weight_ih_l0])
    want = _grads(expected, [aggr.gru.weight_ih_l0])
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize('device', DEVICES)
def test_no_grad_and_empty_graphs(device):
    torch.manual_seed(4)
    aggr = GRUAggregation(4, 8, kernel='triton').to(device)
    index = hub_graph(num_nodes=8)[1].to(device)
    x = torch.randn(index.numel(), 4, device=device)
    with torch.inference_mode():
        out = aggr(x, index, dim_size=9)
    torch.testing.assert_close(out, gru_reference(aggr.gru, x, index, 9),
                               atol=2e-6, rtol=1e-5)
    empty = aggr(x[:0], index[:0], dim_size=5)  # Five isolated nodes.
    assert empty.shape == (5, 8) and empty.abs().sum() == 0


@pytest.mark.parametrize('device', DEVICES)
def test_sequence_output_and_its_gradient_match_the_native_kernel(device):
    # The per-row states of a lower layer (sequence=True) and the
    # gradient that enters at every row, through the row index.
    torch.manual_seed(5)
    index = hub_graph(num_nodes=9)[1].to(device)
    layout = PackedLayout.from_index(index, 9)
    x = torch.randn(9, 6, device=device, requires_grad=True)
    src = torch.randint(0, 9, (layout.num_packed, ), device=device)
    gru = torch.nn.GRU(6, 16).to(device)
    params = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0,
              gru.bias_hh_l0)
    register(layout)

    def run(kernel):
        return gru_layer(x, src, *params, layout.perm, layout.node_perm,
                         layout.degree, True, False, True, kernel)[0]

    a, b = run('triton'), run('native')
    torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
    for u, v in zip(_grads(a, [x, *params]), _grads(b, [x, *params])):
        torch.testing.assert_close(u, v, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize('device', DEVICES)
def test_conv_hoisted_projection(device):
    # GRUConv reads node-level projections through the row index.
    torch.manual_seed(6)
    edge_index = hub_graph(num_nodes=10).to(device)
    x = torch.randn(10, 7, device=device, requires_grad=True)
    exact = dict(add_mean=False, edge_dropout=0.0)  # W folds, as without.
    conv = GRUConv(7, 16, kernel='triton', **exact).to(device)
    native = GRUConv(7, 16, kernel='native', **exact).to(device)
    native.load_state_dict(conv.state_dict())
    a, b = conv(x, edge_index), native(x, edge_index)
    torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
    params = [x] + list(conv.parameters())
    for u, v in zip(_grads(a, params),
                    _grads(b, [x] + list(native.parameters()))):
        torch.testing.assert_close(u, v, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize('device', DEVICES)
def test_random_orders_are_the_same_draws(device):
    torch.manual_seed(7)
    index = hub_graph(num_nodes=8)[1].to(device)
    x = torch.randn(index.numel(), 4, device=device)
    state = GRUAggregation(4, 8).state_dict()
    outs = []
    for kernel in ('triton', 'native'):
        aggr = GRUAggregation(4, 8, num_permutations=3, max_length=5,
                              seed=0, kernel=kernel).to(device)
        aggr.load_state_dict(state)
        outs.append(aggr.eval()(x, index, dim_size=9))
    torch.testing.assert_close(outs[0], outs[1], atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_inputs_accumulate_in_float32(device, dtype):
    torch.manual_seed(8)
    index = hub_graph(num_nodes=8)[1].to(device)
    x = torch.randn(index.numel(), 4, device=device)
    aggr = GRUAggregation(4, 16, kernel='triton').to(device)
    expected = gru_reference(aggr.gru, x.to(dtype).float(), index, 9)
    half = aggr.to(dtype)
    out = half(x.to(dtype).requires_grad_(), index, dim_size=9)
    assert out.dtype == dtype
    # Only the inputs and weights are rounded; the state stays in fp32:
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=0)
    out.float().sum().backward()
    assert all(p.grad.dtype == dtype for p in half.parameters())


def test_dot_precision_follows_pytorch_switch(monkeypatch):
    monkeypatch.setattr(triton_gru, '_has_tf32', lambda index: True)
    cuda = torch.device('cuda', 0)
    previous = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision('highest')
        assert triton_gru.dot_precision(cuda) == 'tf32x3'
        torch.set_float32_matmul_precision('high')
        assert triton_gru.dot_precision(cuda) == 'tf32'
    finally:
        torch.set_float32_matmul_precision(previous)
    monkeypatch.setattr(triton_gru, '_has_tf32', lambda index: False)
    assert triton_gru.dot_precision(cuda) == 'ieee'
    assert triton_gru.dot_precision(torch.device('cpu')) == 'ieee'


def test_triton_kernel_choice():
    with pytest.raises(ValueError, match="float64"):
        resolve_kernel('triton', torch.randn(3, 4).double())
    assert "kernel='triton'" in repr(GRUConv(4, 8, kernel='triton'))


def test_triton_refuses_cpu_tensors_outside_the_interpreter(monkeypatch):
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    with pytest.raises(ValueError, match='TRITON_INTERPRET=1'):
        resolve_kernel('triton', torch.randn(3, 4))
    monkeypatch.setattr(triton_gru, 'triton', None)
    with pytest.raises(ValueError, match='is not installed'):
        resolve_kernel('triton', torch.randn(3, 4))


@pytest.mark.parametrize('device', DEVICES)
def test_matches_cudnn_path(device):
    # The two explicit kernels compute the same function.
    torch.manual_seed(9)
    index = hub_graph(num_nodes=8)[1].to(device)
    layout = PackedLayout.from_index(index, 9)
    x = torch.randn(index.numel(), 4, device=device)
    gru = torch.nn.GRU(4, 8, bidirectional=True).to(device)
    a = packed_gru(gru, layout, x, layout.perm, kernel='triton')
    b = packed_gru(gru, layout, x, layout.perm, kernel='cudnn')
    atol = 1e-3 if device == 'cuda' else 2e-6  # cuDNN may use TF32.
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize('device', DEVICES)
def test_double_backward_matches_the_native_kernel(device):
    # Gradients of gradients (a penalty on the input gradient) go through
    # the differentiable recomputation on both kernels.
    torch.manual_seed(10)
    index = hub_graph(num_nodes=8)[1].to(device)
    x = torch.randn(index.numel(), 4, device=device, requires_grad=True)
    results = []
    state = GRUAggregation(4, 16).state_dict()
    for kernel in ('triton', 'native'):
        aggr = GRUAggregation(4, 16, kernel=kernel).to(device)
        aggr.load_state_dict(state)
        out = aggr(x, index, dim_size=9)
        (gx, ) = torch.autograd.grad((out**2).sum(), x, create_graph=True)
        results.append(torch.autograd.grad(gx.pow(2).sum(),
                                           list(aggr.parameters())))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('chunk_rows,sequence,hoisted', [
    (1, False, True), (6, True, False), (29, False, False)])
def test_launches_over_chunks_of_steps(device, chunk_rows, sequence,
                                       hoisted, variant, monkeypatch):
    # The backward's launches (and the forward's, for per-element inputs)
    # cover a few steps each (one step, or boundaries inside a tile's
    # steps), carrying h or dh from launch to launch; H = 20 pads to 32:
    # two column blocks of the streamed variant.
    hidden = 20
    monkeypatch.setattr(triton_gru, 'CHUNK_BYTES', chunk_rows * 32 * hidden)
    torch.manual_seed(11)
    lengths = torch.randperm(20) + 1  # 2 tiles, the second partial.
    index = torch.repeat_interleave(torch.arange(20), lengths)
    index = index[torch.randperm(index.numel())].to(device)
    layout = PackedLayout.from_index(index, 22)
    assert len(triton_gru.chunks(layout, hidden)) > 5
    if hoisted:  # Node rows read through the row index.
        x = torch.randn(22, 6, device=device, requires_grad=True)
        src = torch.randint(0, 22, (layout.num_packed, ), device=device)
    else:  # One row per element, read in packed order.
        x = torch.randn(layout.num_packed, 6, device=device,
                        requires_grad=True)
        src = None
    gru = torch.nn.GRU(6, hidden).to(device)
    params = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0,
              gru.bias_hh_l0)
    register(layout)

    def run(kernel):
        return gru_layer(x, src, *params, layout.perm, layout.node_perm,
                         layout.degree, sequence, False, True, kernel)[0]

    a, b = run('triton'), run('native')
    torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
    for u, v in zip(_grads(a, [x, *params]), _grads(b, [x, *params])):
        torch.testing.assert_close(u, v, atol=2e-5, rtol=1e-5)
