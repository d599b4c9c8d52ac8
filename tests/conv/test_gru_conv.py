import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import conv_reference, devices, hub_graph, mean_reference
from torch_geometric import EdgeIndex
from torch_geometric.testing import assert_module, withPackage
from torch_geometric.typing import SparseTensor

from torch_geometric_gru import GRUConv


def _check(conv, x, edge_index, edge_attr=None, atol=1e-10):
    out = conv(x, edge_index, edge_attr)
    expected = conv_reference(conv, x, edge_index, edge_attr)
    assert torch.allclose(out, expected, atol=atol)
    params = [p for p in conv.parameters()]
    inputs = [x] if torch.is_tensor(x) else [t for t in x if t is not None]
    weight = torch.randn_like(out)
    got = torch.autograd.grad((out * weight).sum(), inputs + params,
                              allow_unused=True)
    want = torch.autograd.grad((expected * weight).sum(), inputs + params,
                               allow_unused=True)
    for g, w in zip(got, want):
        if w is None:
            assert g is None or g.abs().max() == 0
        else:
            assert torch.allclose(g, w, atol=atol)
    return out


@pytest.mark.parametrize('device', devices())
@pytest.mark.parametrize('num_layers,bidirectional', [(1, False), (2, False),
                                                      (1, True)])
@pytest.mark.parametrize('root_weight,bias', [(True, True), (False, False)])
@pytest.mark.parametrize('add_mean,gru_scale', [(False, False),
                                                (True, True)])
def test_matches_reference(device, num_layers, bidirectional, root_weight,
                           bias, add_mean, gru_scale):
    torch.manual_seed(0)
    edge_index = hub_graph().to(device)
    x = torch.randn(12, 5, dtype=torch.double, device=device,
                    requires_grad=True)
    conv = GRUConv(5, 8, root_weight=root_weight, bias=bias,
                   num_layers=num_layers, bidirectional=bidirectional,
                   add_mean=add_mean, gru_scale=gru_scale, edge_dropout=0.0)
    conv = conv.double().to(device)
    out = _check(conv, x, edge_index)
    assert out.shape == (12, 8)


def test_edge_features():
    torch.manual_seed(0)
    edge_index = hub_graph()
    edge_attr = torch.randn(edge_index.size(1), 3, dtype=torch.double)
    x = torch.randn(12, 5, dtype=torch.double, requires_grad=True)
    conv = GRUConv(5, 8, edge_dim=3, edge_dropout=0.0).double()
    _check(conv, x, edge_index, edge_attr)
    assert str(conv) == 'GRUConv(5, 8, edge_dim=3, edge_dropout=0.0)'
    conv = GRUConv(5, 8, edge_dim=3, add_mean=True, cell='mingru',
                   edge_dropout=0.0).double()
    _check_mingru_mean(conv, x, edge_index, edge_attr)


def _check_mingru_mean(conv, x, edge_index, edge_attr=None):
    # cell='mingru': the mean term beside a MinGRU state, which the
    # same conv without the mean computes.
    out = conv(x, edge_index, edge_attr)
    conv.add_mean = False
    without = conv(x, edge_index, edge_attr)
    assert 'add_mean=False' in str(conv)
    conv.add_mean = True
    msg = conv.lin(x)[edge_index[0]]
    if edge_attr is not None:
        msg = msg + conv.lin_edge(edge_attr)
    mean = mean_reference(msg, edge_index[1], x.size(0))
    assert torch.allclose(out, without + mean, atol=1e-10)
    assert 'add_mean' not in str(conv)  # The default.


def test_bipartite():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 3, 2, 0, 1, 3], [1, 0, 1, 1, 2, 0]])
    x_src = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    x_dst = torch.randn(3, 6, dtype=torch.double, requires_grad=True)
    conv = GRUConv((5, 6), 8, edge_dropout=0.0).double()
    out = _check(conv, (x_src, x_dst), edge_index)
    assert out.shape == (3, 8)
    assert str(conv) == 'GRUConv((5, 6), 8, edge_dropout=0.0)'

    conv = GRUConv((5, 6), 8, root_weight=False, edge_dropout=0.0).double()
    out = conv((x_src, None), edge_index, size=(4, 3))
    assert out.shape == (3, 8)
    assert torch.allclose(out, conv((x_src, x_dst), edge_index))


def test_lazy_in_channels():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 7)
    conv = GRUConv(-1, 8, edge_dropout=0.0)
    out = conv(x, edge_index)
    assert out.shape == (12, 8)
    assert conv.lin.weight.shape == (8, 7)
    assert torch.allclose(out, conv_reference(conv, x, edge_index),
                          atol=1e-5)


@pytest.mark.parametrize('add_mean', [False, True])  # Folded W, or not.
def test_hoisted_projection_equals_per_edge_messages(add_mean):
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5)
    conv = GRUConv(5, 8, add_mean=add_mean, edge_dropout=0.0)
    hoisted = conv(x, edge_index)
    expected = conv_reference(  # The aggregation on per-edge messages.
        conv, x, edge_index,
        aggregate=lambda msg, index, n: conv.aggr_module(msg, index,
                                                         dim_size=n))
    assert torch.allclose(hoisted, expected, atol=1e-6)


@pytest.mark.parametrize('in_channels,bidirectional,folded', [
    (5, False, True),  # F < H: W folds into the GRU's input weights.
    (16, False, False),  # F = 2H: W x first, then the GRU.
    (9, True, True),  # Two directions fold while 9 * 48 < 9 * 8 + 8 * 48.
    (11, True, False),
])
@pytest.mark.parametrize('add_mean', [False, True])
def test_message_weight_folds_into_the_input_projection_where_cheaper(
        monkeypatch, in_channels, bidirectional, folded, add_mean):
    from torch_geometric_gru.aggr import recurrence
    run = recurrence.ops.run_gru_layer
    widths = []

    def spy(x, src, w_ih, *args):
        widths.append((x.size(1), w_ih.size(1)))
        return run(x, src, w_ih, *args)

    monkeypatch.setattr(recurrence.ops, 'run_gru_layer', spy)
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, in_channels, dtype=torch.double, requires_grad=True)
    # With the mean, W folds too: the mean of W x_j is W (mean of x_j).
    conv = GRUConv(in_channels, 8, bidirectional=bidirectional,
                   add_mean=add_mean, edge_dropout=0.0).double()
    _check(conv, x, edge_index)  # Output and every gradient.
    width = in_channels if folded else 8
    assert widths == [(width, width)] * (2 if bidirectional else 1)


def test_hooks_on_the_message_weight_see_it_called():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5, dtype=torch.double)
    conv = GRUConv(5, 8, add_mean=False, edge_dropout=0.0).double()
    seen = []
    handle = conv.lin.register_forward_hook(
        lambda module, inputs, output: seen.append(output.shape))
    out = conv(x, edge_index)
    assert seen == [(12, 8)]  # Not folded away while hooked.
    handle.remove()
    assert torch.allclose(out, conv_reference(conv, x, edge_index))
    assert torch.allclose(conv(x, edge_index), out)  # Folded again.
    assert seen == [(12, 8)]


def _sorted_by_destination_then_source(edge_index):
    # The storage order of every sparse layout.
    key = edge_index[1] * 100 + edge_index[0]
    return edge_index[:, key.argsort()]


def test_sparse_layouts_and_edge_index():
    torch.manual_seed(0)
    edge_index = _sorted_by_destination_then_source(
        torch.unique(hub_graph(), dim=1))
    x = torch.randn(12, 5)
    conv = GRUConv(5, 8, edge_dropout=0.0)
    layouts = [torch.sparse_csc, torch.sparse_coo]
    if SparseTensor is not None and hasattr(SparseTensor, 'from_edge_index'):
        layouts.append('torch_sparse')
    expected = assert_module(conv, x, edge_index, expected_size=(12, 8),
                             test_edge_permutation=False,
                             test_sparse_layouts=layouts, atol=1e-6)
    ei = EdgeIndex(edge_index, sparse_size=(12, 12))
    assert torch.allclose(conv(x, ei), expected, atol=1e-6)


@withPackage('torch_sparse')
def test_torch_sparse_tensor():
    torch.manual_seed(0)
    edge_index = _sorted_by_destination_then_source(
        torch.unique(hub_graph(), dim=1))
    x = torch.randn(12, 5)
    conv = GRUConv(5, 8, edge_dropout=0.0)
    adj_t = SparseTensor.from_edge_index(edge_index,
                                         sparse_sizes=(12, 12)).t()
    assert torch.allclose(conv(x, adj_t), conv(x, edge_index), atol=1e-6)


def test_uncoalesced_adjacency_is_read_in_entry_order_and_left_as_is():
    torch.manual_seed(0)
    edge_index = hub_graph()  # Unsorted, with multi-edges.
    x = torch.randn(12, 5, dtype=torch.double)
    conv = GRUConv(5, 8, edge_dropout=0.0).double()
    adj_t = torch.sparse_coo_tensor(
        edge_index.flip(0), torch.ones(edge_index.size(1), dtype=torch.double),
        (12, 12))
    assert not adj_t.is_coalesced()
    out = conv(x, adj_t)
    assert not adj_t.is_coalesced()  # The caller's tensor is untouched.
    assert torch.equal(adj_t._indices(), edge_index.flip(0))
    # Its entries, in their order, as edges with weight one:
    assert torch.allclose(out, conv_reference(conv, x, edge_index))
    # The caller's later coalesce sums the duplicates, as it should:
    dense = torch.zeros(12, 12, dtype=torch.double)
    dense.index_put_((edge_index[1], edge_index[0]),
                     torch.ones(edge_index.size(1), dtype=torch.double),
                     accumulate=True)
    assert torch.equal(adj_t.coalesce().to_dense(), dense)
    values = torch.ones(edge_index.size(1), dtype=torch.double,
                        requires_grad=True)
    with pytest.raises(ValueError,
                       match=r"uncoalesced .* 'edge_index\.coalesce\(\)'"):
        conv(x, torch.sparse_coo_tensor(edge_index.flip(0), values,
                                        (12, 12)))


@pytest.mark.parametrize('layout', [torch.sparse_csc, torch.sparse_csr,
                                    torch.sparse_coo])
def test_sparse_adjacency_through_propagate_and_cached(layout, monkeypatch):
    # A message hook sends the edges through PyG's propagate: the sparse
    # adjacency is read there in the same order; a second call on the same
    # adjacency reuses the cached layout.
    from torch_geometric_gru.layout import cache as layout_cache
    torch.manual_seed(0)
    edge_index = _sorted_by_destination_then_source(
        torch.unique(hub_graph(), dim=1))
    x = torch.randn(12, 5, dtype=torch.double)
    conv = GRUConv(5, 8, edge_dropout=0.0).double()
    adj_t = torch.sparse_coo_tensor(
        edge_index.flip(0), torch.ones(edge_index.size(1), dtype=torch.double),
        (12, 12)).coalesce()
    if layout != torch.sparse_coo:
        adj_t = adj_t.to_sparse(layout=layout)
    expected = conv_reference(conv, x, edge_index)
    builds = []
    build = layout_cache.LayoutCache._build
    monkeypatch.setattr(layout_cache.LayoutCache, '_build', staticmethod(
        lambda *a, **k: builds.append(1) or build(*a, **k)))
    assert torch.allclose(conv(x, adj_t), expected)
    assert torch.allclose(conv(x, adj_t), expected)
    assert len(builds) == 1
    seen = []
    conv.register_message_forward_hook(lambda *args: seen.append(1))
    assert torch.allclose(conv(x, adj_t), expected)
    assert seen == [1]


def test_node_relabelling_equivariance():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5)
    conv = GRUConv(5, 8, edge_dropout=0.0)
    out = conv(x, edge_index)
    perm = torch.randperm(12)  # New id of node i is perm[i].
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(12)
    out_relabelled = conv(x[inv], perm[edge_index])
    assert torch.allclose(out_relabelled[perm], out, atol=1e-6)


@pytest.mark.parametrize('add_mean', [False, True])  # Folded W, or not.
def test_gradcheck(add_mean):
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 2, 1, 2, 0], [1, 1, 0, 1, 2]])
    x = torch.randn(3, 2, dtype=torch.double, requires_grad=True)
    conv = GRUConv(2, 3, bidirectional=True, add_mean=add_mean,
                   edge_dropout=0.0).double()
    assert torch.autograd.gradcheck(lambda x: conv(x, edge_index), (x, ))


def test_reset_parameters_and_repr():
    conv = GRUConv(16, 32, num_layers=2)
    assert str(conv) == 'GRUConv(16, 32, num_layers=2)'
    conv.bias.data.fill_(1)
    before = conv.lin.weight.clone()
    conv.reset_parameters()
    assert conv.bias.abs().sum() == 0
    assert not torch.equal(before, conv.lin.weight)


def test_defaults_drop_in_edges_in_training_and_add_the_mean():
    # As documented: edge_dropout=0.5, drawn per training forward from the
    # global generator (torch.manual_seed reproduces it), every in-edge read
    # in evaluation; add_mean=True, over every in-edge, the dropped too.
    conv = GRUConv(4, 8)
    assert conv.add_mean is True
    assert conv.aggr_module.edge_dropout == 0.5
    assert str(conv) == 'GRUConv(4, 8)'
    assert str(GRUConv(4, 8, add_mean=False, edge_dropout=0.0)) == \
        'GRUConv(4, 8, add_mean=False, edge_dropout=0.0)'
    torch.manual_seed(0)
    x = torch.randn(12, 4, dtype=torch.double)
    edge_index = hub_graph()
    conv = conv.double().eval()
    full = conv(x, edge_index)
    assert torch.equal(conv(x, edge_index), full)
    assert torch.allclose(full, conv_reference(conv, x, edge_index),
                          atol=1e-10)
    conv.train()
    outs = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        outs.append(conv(x, edge_index))
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2], atol=1e-3)
    assert not torch.allclose(outs[0], full, atol=1e-3)
    conv.add_mean = False  # The same draw, without the mean:
    torch.manual_seed(1)
    without = conv(x, edge_index)
    msg = conv.lin(x)[edge_index[0]]
    assert torch.allclose(outs[0] - without,
                          mean_reference(msg, edge_index[1], 12), atol=1e-10)


@pytest.mark.parametrize('args,error,match', [
    (dict(edge_index=torch.tensor([[0, 5], [1, 0]])), ValueError,
     r"'edge_index\[0\]' contains the entry 5, out of range for "
     r"num_src_nodes=3"),
    (dict(edge_index=torch.tensor([[0, 1], [-1, 0]])), ValueError,
     r"'edge_index\[1\]' contains the negative entry -1"),
    (dict(edge_index=torch.tensor([[0., 1.], [1., 0.]])), TypeError,
     r"'edge_index' must hold integer.*edge_index.long\(\)"),
    (dict(edge_index=torch.tensor([0, 1])), ValueError,
     r"'edge_index' must have shape \[2, num_edges\]"),
    (dict(x=torch.randn(3, 5)), ValueError,
     r"'x' has 5 features per row but the layer was built with "
     r"in_channels=4"),
    (dict(edge_attr=torch.randn(2, 3)), ValueError,
     r"'edge_attr' was given but the layer has no edge features; build it "
     r"with edge_dim"),
    (dict(size=(4, 3)), ValueError, r"'size\[0\]' is 4 but 'x' has 3"),
])
def test_errors(args, error, match):
    conv = GRUConv(4, 8)
    kwargs = dict(x=torch.randn(3, 4), edge_index=torch.tensor([[0, 1],
                                                               [1, 0]]))
    kwargs.update(args)
    with pytest.raises(error, match=match):
        conv(**kwargs)


def test_edge_attr_errors():
    conv = GRUConv(4, 8, edge_dim=3)
    x, edge_index = torch.randn(3, 4), torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match='edge_dim=3 but got no'):
        conv(x, edge_index)
    with pytest.raises(ValueError, match=r"'edge_attr' has 2 features per "
                       r"row but the layer was built with edge_dim=3"):
        conv(x, edge_index, torch.randn(2, 2))
    with pytest.raises(ValueError, match="'edge_attr' has 3 rows but"):
        conv(x, edge_index, torch.randn(3, 3))
    with pytest.raises(TypeError, match="aggregates with its own GRU"):
        GRUConv(4, 8, aggr='mean')


def test_out_of_range_edges_raise_index_and_value_errors():
    # PyG's layers raise IndexError; our checks ValueError: one error is
    # both, so code catching either works, on every call (the ranges are
    # checked again even where the layout is cached).
    conv = GRUConv(4, 8)
    x, edge_index = torch.randn(3, 4), torch.tensor([[0, 1], [1, 0]])
    conv(x, edge_index)
    edge_index.data[0, 0] = 7  # Untracked by the version counter.
    with pytest.raises(IndexError, match=r"'edge_index\[0\]' contains the "
                       r"entry 7, out of range"):
        conv(x, edge_index)
    with pytest.raises(ValueError, match='out of range'):
        conv(x, edge_index)
    with pytest.raises(IndexError, match="negative entry"):
        conv(x, torch.tensor([[0, 1], [-1, 0]]))


@pytest.mark.zero_gru_scale  # The layer's own initialisation.
def test_gru_scale_starts_at_zero_and_learns():
    # gru_scale=True (the default): at initialisation the layer is its
    # root term plus the mean of the messages, the GRU switched off; the
    # scale gets a gradient (the GRU's state), the GRU's weights none yet.
    torch.manual_seed(0)
    x = torch.randn(12, 4, dtype=torch.double)
    edge_index = hub_graph()
    conv = GRUConv(4, 8, edge_dropout=0.0).double()
    assert conv.gru_scale.shape == (8, )
    assert torch.equal(conv.gru_scale, torch.zeros(8, dtype=torch.double))
    out = conv(x, edge_index)
    msg = conv.lin(x)[edge_index[0]]
    expected = (mean_reference(msg, edge_index[1], 12) + conv.lin_root(x) +
                conv.bias)
    assert torch.allclose(out, expected, atol=1e-12)
    out.pow(2).sum().backward()
    state = conv.aggr_module(msg, edge_index[1], dim_size=12)
    grad = (2 * out * state).sum(0)
    assert torch.allclose(conv.gru_scale.grad, grad.detach(), atol=1e-10)
    assert conv.gru_scale.grad.abs().sum() > 0
    for name, param in conv.aggr_module.named_parameters():
        assert param.grad is None or param.grad.abs().sum() == 0, name
    # reset_parameters zeroes it again; gru_scale=False has none.
    with torch.no_grad():
        conv.gru_scale.fill_(2.0)
    conv.reset_parameters()
    assert conv.gru_scale.abs().sum() == 0
    without = GRUConv(4, 8, gru_scale=False)
    assert without.gru_scale is None
    assert 'gru_scale' not in dict(without.named_parameters())
    assert str(GRUConv(4, 8, gru_scale=False)) == \
        'GRUConv(4, 8, gru_scale=False)'
    with pytest.raises(TypeError, match="'gru_scale' must be True or False"):
        GRUConv(4, 8, gru_scale='yes')


def test_checkpoints_without_gru_scale():
    # A checkpoint saved without the scale loads into gru_scale=False;
    # into the default it raises, naming the argument (also non-strict:
    # the GRU would silently stay off); with the scale it round-trips.
    old = GRUConv(4, 8, gru_scale=False).state_dict()
    GRUConv(4, 8, gru_scale=False).load_state_dict(old)
    model = torch.nn.ModuleDict(dict(conv=GRUConv(4, 8)))
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"no 'conv\.gru_scale'.*"
                           r"'gru_scale=False'"):
            model.load_state_dict({f'conv.{k}': v for k, v in old.items()},
                                  strict=strict)
    conv = GRUConv(4, 8)
    with torch.no_grad():
        conv.gru_scale.uniform_()
    loaded = GRUConv(4, 8)
    loaded.load_state_dict(conv.state_dict())
    assert torch.equal(loaded.gru_scale, conv.gru_scale)
    # Partial loads of other modules are left alone:
    model.load_state_dict({}, strict=False)
    # A migration pre-hook that adds the scale is heard:
    conv = GRUConv(4, 8)
    conv.register_load_state_dict_pre_hook(
        lambda module, state, prefix, *args: state.setdefault(
            prefix + 'gru_scale', torch.ones(8)))
    conv.load_state_dict(old)
    assert torch.equal(conv.gru_scale, torch.ones(8))


def test_no_bias_anywhere():
    # bias=False: neither the layer nor its GRU learns additive biases.
    conv = GRUConv(4, 8, bias=False, edge_dropout=0.0)
    assert not any('bias' in name for name, _ in conv.named_parameters())
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.double, requires_grad=True)
    _check(conv.double(), x, hub_graph(6)[:, :12])


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_random_graphs_match_reference(data):
    # Empty graphs, single nodes, self-loops, multi-edges and hubs.
    num_nodes = data.draw(st.integers(1, 7), label='num_nodes')
    num_edges = data.draw(st.integers(0, 30), label='num_edges')
    node = st.integers(0, num_nodes - 1)
    pairs = data.draw(st.lists(st.tuples(node, node), min_size=num_edges,
                               max_size=num_edges), label='edges')
    edge_index = torch.tensor(pairs, dtype=torch.long).view(-1, 2).t()
    torch.manual_seed(data.draw(st.integers(0, 2**16), label='seed'))
    x = torch.randn(num_nodes, 3, dtype=torch.double, requires_grad=True)
    conv = GRUConv(3, 4, bidirectional=data.draw(st.booleans()),
                   add_mean=data.draw(st.booleans(), label='add_mean'),
                   edge_dropout=0.0).double()
    _check(conv, x, edge_index.contiguous())


def test_numpy_integer_size_as_pyg_takes_it():
    import numpy as np
    x, edge_index = torch.randn(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])
    conv = GRUConv(3, 5, edge_dropout=0.0)
    assert torch.equal(conv(x, edge_index, size=(np.int64(4), np.int64(4))),
                       conv(x, edge_index))


@pytest.mark.parametrize('cell', ['gru', 'mingru'])
def test_higher_order_gradients_on_a_graph_without_edges(cell):
    # A HeteroData edge type without edges: the gradient of the gradient
    # exists (the layer is then a function of the root term alone).
    torch.manual_seed(0)
    conv = GRUConv(3, 5, cell=cell).double()
    x = torch.randn(4, 3, dtype=torch.double, requires_grad=True)
    empty = torch.empty(2, 0, dtype=torch.long)
    (gx, ) = torch.autograd.grad((conv(x, empty)**2).sum(), x,
                                 create_graph=True)
    (ggx, ) = torch.autograd.grad(gx.sum(), x)
    root = lambda x: conv.lin_root(x) + conv.bias  # noqa: E731
    (want, ) = torch.autograd.grad((root(x)**2).sum(), x, create_graph=True)
    assert torch.allclose(gx, want)
    assert torch.allclose(ggx, torch.autograd.grad(want.sum(), x)[0])
    hess = torch.func.grad(lambda x: conv(x, empty).pow(2).sum())(x)
    assert torch.allclose(hess, want)


@pytest.mark.parametrize('cell', ['gru', 'mingru'])
def test_backward_inside_autocast(cell):
    # .backward() called inside torch.autocast, as training loops do: the
    # recurrence runs (and differentiates) in the weights' dtype.
    torch.manual_seed(0)
    conv = GRUConv(3, 5, cell=cell, edge_dropout=0.0)
    x = torch.randn(6, 3, requires_grad=True)
    edge_index = hub_graph(6)[:, :14]
    expected = torch.autograd.grad(conv(x, edge_index).sum(), x)[0]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(x, edge_index)
        out.float().sum().backward()
    assert x.grad.dtype == torch.float32
    assert torch.allclose(x.grad, expected, atol=0.1)


@pytest.mark.parametrize('edge_dim,weighted', [(None, False), (3, False),
                                               (None, True)])
def test_int32_edge_index_as_int64(edge_dim, weighted):
    # Every path, the mean's scatter included, reads int32 indices (PyG's
    # scatter_add_ needs int64 on some of PyTorch's paths, e.g. these
    # sizes).
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    x = torch.randn(4, 8)
    kwargs = {}
    if edge_dim is not None:
        kwargs['edge_attr'] = torch.randn(edge_index.size(1), edge_dim)
    if weighted:
        kwargs['edge_weight'] = torch.rand(edge_index.size(1))
    conv = GRUConv(8, 32, edge_dim=edge_dim).eval()
    out = conv(x, edge_index.int(), **kwargs)  # First: no cached layout.
    expected = copy.deepcopy(conv)(x, edge_index, **kwargs)
    assert torch.allclose(out, expected, atol=1e-6)
    conv = copy.deepcopy(conv)
    conv.register_message_forward_hook(lambda *args: None)  # propagate
    assert torch.allclose(conv(x, edge_index.int(), **kwargs), expected,
                          atol=1e-6)
