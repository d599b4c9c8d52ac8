r"""What the kernels keep per edge: the training forward saves one state
(H floats) per packed row and nothing else per row; the backward's and the
no-grad forward's buffers are sized by a chunk or by the nodes, never by
the edges times the width."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from torch_geometric_gru import GRUAggregation, PackedLayout
from torch_geometric_gru.ops.gru import cpu as cpu_kernel
from torch_geometric_gru.ops.gru import triton as triton_kernels

NUM_NODES, NUM_EDGES = 400, 40_000


def _graph(seed=0):
    gen = torch.Generator().manual_seed(seed)
    # A hub with many in-edges, the rest uniform: long and short sequences.
    dst = torch.randint(0, NUM_NODES, (NUM_EDGES, ), generator=gen)
    dst[:2000] = 7
    src = torch.randint(0, NUM_NODES, (NUM_EDGES, ), generator=gen)
    return torch.stack([src, dst])


def _saved_bytes(fn, exclude):
    r"""Bytes of the distinct storages autograd saves while :obj:`fn`
    runs, leaving out those of :obj:`exclude` (inputs and parameters,
    which the caller holds anyway)."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()), out


class _LargestOutput(TorchDispatchMode):
    r"""Records the largest new float tensor any operator allocates (views
    and in-place results, which share an input's memory, are not new)."""
    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in
                  torch.utils._pytree.tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        for t in out if isinstance(out, (tuple, list)) else (out, ):
            if (isinstance(t, torch.Tensor) and t.is_floating_point()
                    and t.untyped_storage().data_ptr() not in inputs):
                self.numel = max(self.numel,
                                 t.untyped_storage().nbytes() //
                                 t.element_size())
        return out


@pytest.mark.parametrize('num_layers,bidirectional', [(1, False), (2, False),
                                                      (1, True)])
def test_training_saves_one_state_per_edge_and_layer(num_layers,
                                                     bidirectional):
    hidden = 32
    edge_index = _graph()
    aggr = GRUAggregation(16, hidden, num_layers=num_layers,
                          bidirectional=bidirectional)
    x = torch.randn(NUM_NODES, 16, requires_grad=True)
    saved, out = _saved_bytes(
        lambda: aggr(x, edge_index[1], dim_size=NUM_NODES,
                     x_index=edge_index[0]),
        [x, edge_index] + list(aggr.parameters()))
    runs = num_layers * (2 if bidirectional else 1)
    # The budget of issue 22: 1.25 H floats per edge and layer/direction
    # (one state, plus the row index); the layers in between also keep
    # their (E, D H) output as the next layer's input.
    budget = 1.25 * hidden * 4 * NUM_EDGES * runs
    budget += (num_layers - 1) * 2 * hidden * 4 * NUM_EDGES * (
        2 if bidirectional else 1)
    assert saved <= budget, (saved / NUM_EDGES, budget / NUM_EDGES)
    out.sum().backward()


@pytest.mark.parametrize('hoisted', [True, False])
def test_kernel_buffers_are_not_edge_sized(hoisted):
    # The kernel's own allocations (an operator hides them from a dispatch
    # mode, so the kernel functions are called directly).
    hidden, channels = 32, 16
    edge_index = _graph()
    layout = PackedLayout.from_index(edge_index[1], NUM_NODES)
    if hoisted:  # GRUConv: node rows read through the row index.
        x = torch.randn(NUM_NODES, channels)
        src = edge_index[0].index_select(0, layout.perm)
    else:  # Messages, one row per element (e.g. SAGEConv's aggr=).
        x = torch.randn(NUM_EDGES, channels)
        src = layout.perm
    gru = torch.nn.GRU(channels, hidden)
    params = [p.detach() for p in gru.parameters()]
    # Bound: a chunk of gate rows, the nodes' gates, the edge index.
    bound = max(cpu_kernel.CHUNK * 4 * hidden, NUM_NODES * 4 * hidden,
                NUM_EDGES)
    assert NUM_EDGES * hidden > 2 * bound  # An (E, H) tensor would show.

    with _LargestOutput() as mode:
        cpu_kernel.gru_layer(x, src, *params, layout, sequence=False)
    assert mode.numel <= bound

    out, states = cpu_kernel.gru_layer(x, src, *params, layout,
                                       sequence=False, save=True)
    assert states.numel() == NUM_EDGES * hidden  # One state per edge.
    with _LargestOutput() as mode:
        grads = cpu_kernel.gru_layer_backward(
            torch.randn_like(out), x, src, *params, states, layout,
            sequence=False, needs=(not hoisted, True, True, True, True))
    # Only the gradient of per-edge messages may be edge-sized:
    largest = x.numel() if not hoisted else bound
    assert mode.numel <= max(bound, largest)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[1:])


@pytest.mark.parametrize('num_layers,bidirectional,kernel', [
    (1, False, 'native'),
    (1, False, 'triton'),
    (2, True, 'native'),
    # About 20 s in Triton's interpreter:
    pytest.param(2, True, 'triton', marks=pytest.mark.slow),
])
def test_checkpoint_saves_no_state_and_gives_the_same_gradients(
        kernel, num_layers, bidirectional):
    if kernel == 'triton':
        from torch_geometric_gru.ops.gru import triton as triton_kernels
        if not triton_kernels.is_available(torch.device('cpu')):
            pytest.skip("needs triton's interpreter (pip install triton)")
    hidden = 8
    num_nodes, num_edges = 60, 600
    gen = torch.Generator().manual_seed(1)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    torch.manual_seed(0)
    plain = GRUAggregation(4, hidden, num_layers=num_layers,
                           bidirectional=bidirectional, kernel=kernel)
    lean = GRUAggregation(4, hidden, num_layers=num_layers,
                          bidirectional=bidirectional, kernel=kernel,
                          checkpoint=True)
    lean.load_state_dict(plain.state_dict())
    assert 'checkpoint=True' in repr(lean)
    grads, saved_bytes = [], []
    for aggr in (plain, lean):
        x = torch.randn(num_nodes, 4, generator=torch.Generator()
                        .manual_seed(2), requires_grad=True)
        saved, out = _saved_bytes(
            lambda: aggr(x, edge_index[1], dim_size=num_nodes,
                         x_index=edge_index[0]),
            [x, edge_index] + list(aggr.parameters()))
        out.square().sum().backward()
        grads.append([x.grad] + [p.grad for p in aggr.parameters()])
        if aggr is lean:
            # No per-edge state: what remains is the layout and, between
            # GRU layers, the (E, D H) input of the next layer.
            dirs = 2 if bidirectional else 1
            budget = (num_layers - 1) * dirs * hidden * 4 * num_edges
            budget += 4 * 8 * num_edges + 8 * num_nodes * 4  # Index tensors.
            assert saved <= budget, (saved, budget)
            assert saved < saved_bytes[0]
        saved_bytes.append(saved)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_checkpoint_needs_a_kernel_that_recomputes():
    with pytest.raises(ValueError, match="kernel='cudnn' keeps its own"):
        GRUAggregation(4, 8, kernel='cudnn', checkpoint=True)
    with pytest.raises(TypeError, match="'checkpoint' must be True or"):
        GRUAggregation(4, 8, checkpoint=2)


TRITON = triton_kernels.is_available(torch.device('cpu'))
needs_triton = pytest.mark.skipif(
    not TRITON, reason='needs triton >= 3.7 with TRITON_INTERPRET=1 (set by '
    'tests/conftest.py without a GPU)')


@needs_triton
@pytest.mark.parametrize('num_layers,bidirectional', [
    (1, False),
    pytest.param(2, True, marks=pytest.mark.slow),  # About 17 s.
])
def test_triton_training_saves_one_state_per_edge_and_layer(
        num_layers, bidirectional):
    # The Triton kernels (in the interpreter) save one fp32 state per packed
    # row, plus a row of zeros, per layer and direction: no gates.
    hidden, num_nodes, num_edges = 32, 40, 600
    gen = torch.Generator().manual_seed(1)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    edge_index[1, :60] = 3  # A hub.
    aggr = GRUAggregation(8, hidden, num_layers=num_layers,
                          bidirectional=bidirectional, kernel='triton')
    x = torch.randn(num_nodes, 8, requires_grad=True)
    saved, out = _saved_bytes(
        lambda: aggr(x, edge_index[1], dim_size=num_nodes,
                     x_index=edge_index[0]),
        [x, edge_index] + list(aggr.parameters()))
    runs = num_layers * (2 if bidirectional else 1)
    budget = 1.25 * hidden * 4 * (num_edges + 1) * runs
    budget += (num_layers - 1) * 2 * hidden * 4 * num_edges * (
        2 if bidirectional else 1)
    assert saved <= budget, (saved / num_edges, budget / num_edges)
    # At least the states are there (the budget is not trivially met):
    assert saved >= hidden * 4 * num_edges * runs
    out.sum().backward()


@needs_triton
@pytest.mark.parametrize('hoisted', [True, False])
def test_triton_buffers_are_not_edge_sized(hoisted, monkeypatch):
    # The Triton forward without saving keeps no per-row buffer (messages
    # are projected chunk by chunk), and the backward's buffers are sized
    # by a chunk of steps (made small here).
    hidden, channels, num_nodes, num_edges = 16, 4, 30, 900
    gen = torch.Generator().manual_seed(2)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    edge_index[1, :50] = 5
    layout = PackedLayout.from_index(edge_index[1], num_nodes)
    if hoisted:  # GRUConv: node rows read through the row index.
        x = torch.randn(num_nodes, channels)
        src = edge_index[0].index_select(0, layout.perm)
    else:  # Messages, one row per element, in packed order.
        x = torch.randn(num_edges, channels)
        src = None
    gru = torch.nn.GRU(channels, hidden)
    params = [p.detach() for p in gru.parameters()]
    chunk_rows = 64
    monkeypatch.setattr(triton_kernels, 'CHUNK_BYTES',
                        chunk_rows * 32 * hidden)
    # Bound: a chunk (or the largest step) of gate rows, the nodes' gates.
    bound = max(chunk_rows, layout.num_sequences) * 4 * hidden
    bound = max(bound, num_nodes * 4 * hidden)
    assert num_edges * hidden > 2 * bound  # An (E, H) tensor would show.

    with _LargestOutput() as mode:
        triton_kernels.forward(x, src, *params, layout, sequence=False)
    assert mode.numel <= bound

    out, states = triton_kernels.forward(x, src, *params, layout,
                                         sequence=False, save=True)
    assert states.shape == (num_edges + 1, hidden)
    with _LargestOutput() as mode:
        grads = triton_kernels.backward(
            torch.randn_like(out), x, src, *params, states, layout,
            sequence=False)
    # Only the gradient of per-edge messages may be edge-sized:
    assert mode.numel <= max(bound, 0 if hoisted else x.numel())
    assert all(g.abs().sum() > 0 for g in grads)
