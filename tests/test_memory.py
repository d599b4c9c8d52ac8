r"""What the kernels keep per edge: the training forward saves one state
(H floats) per packed row and nothing else per row; the backward's and the
no-grad forward's buffers are sized by a chunk or by the nodes, never by
the edges times the width."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from torch_geometric_gru import GRUAggregation, GRUConv
from torch_geometric_gru.kernels import cpu as cpu_kernel

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
    r"""Records the largest tensor any operator returns."""
    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out, ):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.numel = max(self.numel, t.numel())
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


def test_no_grad_and_backward_buffers_are_not_edge_sized(monkeypatch):
    hidden = 32
    edge_index = _graph()
    conv = GRUConv(16, hidden)
    x = torch.randn(NUM_NODES, 16, requires_grad=True)
    # Bound: a chunk of gate rows, the nodes' projections, the edge index.
    bound = max(cpu_kernel.CHUNK * 4 * hidden, NUM_NODES * 4 * hidden,
                NUM_EDGES)
    assert NUM_EDGES * hidden > 2 * bound  # An (E, H) tensor would show.

    with torch.no_grad(), _LargestOutput() as mode:
        conv(x, edge_index)
    assert mode.numel <= bound

    out = conv(x, edge_index)  # Saves (E, H) states: not under the mode.
    with _LargestOutput() as mode:
        out.square().sum().backward()
    assert mode.numel <= bound
    assert x.grad is not None and conv.aggr_module.gru.weight_hh_l0.grad.abs(
    ).sum() > 0
