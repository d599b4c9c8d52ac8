r"""The registered operators of :mod:`torch_geometric_gru.ops`: results
against the per-node :class:`torch.nn.GRU` reference, gradients, and
:func:`torch.library.opcheck` (schema, fake implementation, autograd
registration, dispatch)."""
import pytest
import torch
from reference import NO_TRITON, gru_reference, hub_graph

from torch_geometric_gru import PackedLayout
from torch_geometric_gru.ops import gru_layer, gru_layer_backward, pack
from torch_geometric_gru.ops.pack import check_edges
from torch_geometric_gru.layout.registry import register
from torch_geometric_gru.ops.gru import triton as triton_kernels

KERNELS = ['native', pytest.param('triton', marks=pytest.mark.skipif(
    not triton_kernels.is_available(torch.device('cpu')), reason=NO_TRITON))]


def _inputs(num_nodes=9, channels=5, hidden=6, hoisted=True, seed=0,
            dtype=torch.double, requires_grad=True):
    torch.manual_seed(seed)
    edge_index = hub_graph(num_nodes=num_nodes)
    layout = PackedLayout.from_index(edge_index[1], num_nodes)
    if hoisted:
        x = torch.randn(num_nodes, channels, dtype=dtype)
        src = edge_index[0].index_select(0, layout.perm)
    else:
        x = torch.randn(edge_index.size(1), channels, dtype=dtype)
        src = layout.perm.clone()
    gru = torch.nn.GRU(channels, hidden, batch_first=True).to(dtype)
    params = [p.detach().clone().requires_grad_(requires_grad)
              for p in gru.parameters()]
    x.requires_grad_(requires_grad)
    return edge_index, layout, x, src, params, gru


@pytest.mark.parametrize('kernel', KERNELS)
@pytest.mark.parametrize('hoisted', [True, False])
def test_gru_layer_matches_per_node_gru(kernel, hoisted):
    edge_index, layout, x, src, params, gru = _inputs(hoisted=hoisted)
    if kernel == 'triton':
        x = x.float().detach()
        params = [p.float().detach() for p in params]
        gru = gru.float()
    out, states = gru_layer(x, src, *params, layout.perm, layout.node_perm,
                            layout.degree, False, False, False, kernel)
    messages = x.index_select(0, edge_index[0]) if hoisted else x
    expected = gru_reference(gru, messages, edge_index[1], 9).detach()
    tol = 1e-12 if x.dtype == torch.double else 2e-6
    assert out.shape == (9, 6) and states.numel() == 0
    torch.testing.assert_close(out, expected, atol=tol, rtol=0)


@pytest.mark.parametrize('sequence', [False, True])
@pytest.mark.parametrize('reverse', [False, True])
@pytest.mark.parametrize('save', [True, False])
def test_gru_layer_gradcheck(sequence, reverse, save):
    # save=False: the states are not kept, and the backward recomputes them
    # (checkpoint=True of the layers).
    _, layout, x, src, params, _ = _inputs(hoisted=not sequence)
    register(layout)

    def fn(x, *params):
        return gru_layer(x, src, *params, layout.perm, layout.node_perm,
                         layout.degree, sequence, reverse, save,
                         'native')[0]

    assert torch.autograd.gradcheck(fn, (x, *params), fast_mode=True)
    if not sequence and not reverse and save:  # Through the naive layer.
        assert torch.autograd.gradgradcheck(fn, (x, *params),
                                            fast_mode=True)


def _sample(hoisted, sequence, reverse, grad):
    _, layout, x, src, params, _ = _inputs(
        hoisted=hoisted, requires_grad=grad, dtype=torch.float)
    return (x, src, *params, layout.perm, layout.node_perm, layout.degree,
            sequence, reverse, grad, 'native')


# The default run checks the two ways the layers call the operator (a top
# layer on node rows, a lower layer's sequence); `-m slow` every variant.
@pytest.mark.parametrize('hoisted,sequence,reverse,grad', [
    pytest.param(h, s, r, g, marks=() if (h, s, r) in (
        (True, False, False), (False, True, True)) else pytest.mark.slow)
    for h in (True, False) for s in (False, True) for r in (False, True)
    for g in (False, True)
])
def test_opcheck_gru_layer(hoisted, sequence, reverse, grad):
    torch.library.opcheck(gru_layer, _sample(hoisted, sequence, reverse,
                                             grad))


def test_opcheck_checkpointed_gru_layer():
    # Inputs that need gradients, no saved states: the backward rebuilds.
    sample = list(_sample(True, False, False, True))
    sample[-2] = False
    torch.library.opcheck(gru_layer, tuple(sample))


def test_opcheck_gru_layer_backward():
    _, layout, x, src, params, _ = _inputs(dtype=torch.float)
    out, states = gru_layer(x, src, *params, layout.perm, layout.node_perm,
                            layout.degree, False, False, True, 'native')
    args = (torch.randn_like(out), x.detach(), src,
            *[p.detach() for p in params], states.detach(), layout.perm,
            layout.node_perm, layout.degree, False, False, 'native',
            [True, True, True, True, True])
    torch.library.opcheck(gru_layer_backward, args)
    grads = gru_layer_backward(*args)
    want = torch.autograd.grad(out, [x] + params, args[0])
    for got, expected in zip(grads, want):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize('with_order', [False, True])
def test_pack_matches_the_layout_and_checks_ranges(with_order):
    edge_index = hub_graph()
    order = torch.randperm(edge_index.size(1)) if with_order else None
    perm, node_perm, degree, src = pack(edge_index[1], 12, order,
                                        edge_index[0], 12)
    layout = PackedLayout(edge_index[1], 12, order=order)
    assert torch.equal(perm, layout.perm)
    assert torch.equal(node_perm, layout.node_perm)
    assert torch.equal(degree, layout.degree)
    assert torch.equal(src, edge_index[0][layout.perm])
    torch.library.opcheck(pack, (edge_index[1], 12, order, edge_index[0],
                                 12))
    with pytest.raises(ValueError, match="'index' contains the entry 8"):
        pack(edge_index[1], 5, None, None, 0)
    with pytest.raises(ValueError, match="'x_index' contains the entry"):
        pack(edge_index[1], 12, None, edge_index[0], 5)


def test_check_edges():
    edge_index = hub_graph()
    out = check_edges(edge_index[0], edge_index[1], 12, 9)
    assert torch.equal(out, edge_index[1])
    assert out.data_ptr() != edge_index[1].data_ptr()  # Never aliases.
    torch.library.opcheck(check_edges, (edge_index[0], edge_index[1], 12, 9))
    with pytest.raises(IndexError, match=r"'edge_index\[0\]' contains the "
                       r"entry 11, out of range for num_src_nodes=11"):
        check_edges(edge_index[0], edge_index[1], 11, 12)
    with pytest.raises(IndexError, match=r"'edge_index\[1\]' contains the "
                       r"entry 8, out of range for num_dst_nodes=8"):
        check_edges(edge_index[0], edge_index[1], 12, 8)


def test_layout_from_parts_equals_the_built_layout():
    edge_index = hub_graph()
    layout = PackedLayout(edge_index[1], 12)
    rebuilt = PackedLayout.from_parts(layout.perm, layout.node_perm,
                                      layout.degree)
    for name in ('batch_sizes', 'nodes', 'last_row', 'prev_row',
                 'reverse_perm'):
        assert torch.equal(getattr(rebuilt, name), getattr(layout, name))
    assert rebuilt.offsets == layout.offsets
