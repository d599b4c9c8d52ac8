r""":func:`torch.compile` and :func:`torch.export` of models with our layers,
in the style of PyG's ``test/nn/test_compile_conv.py``: no graph break, the
compiled output and gradients equal eager's, no recompilation across graph
sizes, and an exported program that runs on another graph after a save and
load round trip."""
import pytest
import torch
from reference import mean_reference
from torch_geometric.nn import SAGEConv

from torch_geometric_gru import GRUAggregation, GRUConv

SIZES = [(50, 200), (80, 333), (120, 900)]


def _graph(num_nodes, num_edges, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, 16, generator=gen)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    return x, edge_index


def _convs():
    torch.manual_seed(0)
    exact = dict(edge_dropout=0.0)  # Compiled and eager read every edge.
    return {
        'GRUConv': GRUConv(16, 32, **exact),
        'GRUConv-bidirectional-2-layers': GRUConv(16, 32, num_layers=2,
                                                  bidirectional=True,
                                                  **exact),
        'SAGEConv-GRUAggregation': SAGEConv(16, 32,
                                            aggr=GRUAggregation(16)),
    }


@pytest.mark.parametrize('name', list(_convs()))
def test_no_graph_breaks(name):
    conv = _convs()[name]
    torch._dynamo.reset()
    explain = torch._dynamo.explain(conv)(*_graph(*SIZES[0]))
    assert explain.graph_break_count == 0, explain.break_reasons


@pytest.mark.slow
@pytest.mark.parametrize('name', list(_convs()))
def test_fullgraph_dynamic_equals_eager_without_recompiling(name):
    from torch._dynamo.utils import counters
    conv = _convs()[name]
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(conv, fullgraph=True, dynamic=True)
    params = list(conv.parameters())
    for size in SIZES:
        x, edge_index = _graph(*size)
        out = compiled(x, edge_index)
        expected = conv(x, edge_index)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        got = torch.autograd.grad(out.square().sum(), params)
        want = torch.autograd.grad(expected.square().sum(), params)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)
    assert counters['stats']['unique_graphs'] == 1  # One for all sizes.


@pytest.mark.slow
def test_compiled_training_step_equals_eager():
    torch.manual_seed(0)
    eager = GRUConv(16, 8, edge_dropout=0.0)
    compiled_model = GRUConv(16, 8, edge_dropout=0.0)
    compiled_model.load_state_dict(eager.state_dict())
    torch._dynamo.reset()
    compiled = torch.compile(compiled_model, fullgraph=True, dynamic=True)
    optims = [torch.optim.Adam(m.parameters(), lr=0.01)
              for m in (eager, compiled_model)]
    for step, size in enumerate(SIZES):
        x, edge_index = _graph(*size, seed=step)
        y = torch.randn(size[0], 8)
        for model, optim in zip((eager, compiled), optims):
            optim.zero_grad()
            loss = (model(x, edge_index) - y).square().mean()
            loss.backward()
            optim.step()
        for a, b in zip(eager.parameters(), compiled_model.parameters()):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['GRUConv', 'SAGEConv-GRUAggregation'])
def test_export_dynamic_save_load(name, tmp_path):
    from torch.export import Dim, export, load, save
    conv = _convs()[name].eval()
    x, edge_index = _graph(*SIZES[0])
    program = export(conv, (x, edge_index),
                     dynamic_shapes=({0: Dim.DYNAMIC}, {1: Dim.DYNAMIC}))
    path = tmp_path / 'conv.pt2'
    save(program, path)
    loaded = load(path)
    x, edge_index = _graph(*SIZES[2], seed=1)  # Another size.
    expected = conv(x, edge_index)
    for module in (program.module(), loaded.module()):
        torch.testing.assert_close(module(x, edge_index), expected,
                                   atol=1e-6, rtol=0)
    ops = {str(node.target) for node in program.graph.nodes
           if node.op == 'call_function'}
    assert 'torch_geometric_gru.gru_layer.default' in ops
    assert 'torch_geometric_gru.pack.default' in ops


@pytest.mark.slow
@pytest.mark.parametrize('row,name', [(0, 'num_src_nodes'),
                                      (1, 'num_dst_nodes')])
def test_compiled_range_error_names_the_edge_index(row, name):
    # The same error as in eager mode: both IndexError and ValueError,
    # naming the row of 'edge_index', not an internal argument.
    conv = GRUConv(16, 8)
    torch._dynamo.reset()
    compiled = torch.compile(conv, fullgraph=True, dynamic=True)
    x, edge_index = _graph(*SIZES[0])
    compiled(x, edge_index)
    edge_index[row, 3] = 50  # Past the last node.
    with pytest.raises(IndexError, match=rf"'edge_index\[{row}\]' contains "
                       rf"the entry 50, out of range for {name}"):
        compiled(x, edge_index)
    with pytest.raises(ValueError, match=rf"'edge_index\[{row}\]'"):
        compiled(x, edge_index)


@pytest.mark.slow
@pytest.mark.parametrize('cell', ['gru', 'mingru'])
def test_edge_dropout_compiles_in_one_graph(cell):
    # In training, the dropped in-edges are drawn inside the graph; the
    # compiled layer reads exactly the in-edges that the same draw keeps.
    # (The minGRU cell's scan runs eagerly: a graph break, not one graph.)
    # The mean (add_mean=True) reads every in-edge, the dropped ones too.
    torch.manual_seed(0)
    conv = GRUConv(16, 8, edge_dropout=0.5, cell=cell).train()
    x, edge_index = _graph(30, 120)
    torch._dynamo.reset()
    compiled = torch.compile(conv, fullgraph=cell == 'gru', dynamic=True,
                             backend='aot_eager')
    torch.manual_seed(3)
    out = compiled(x, edge_index)
    torch.manual_seed(3)
    keep = torch.rand(120) >= 0.5
    assert 30 < int(keep.sum()) < 90
    conv.eval()
    conv.add_mean = False  # The GRU alone reads every edge given,
    expected = conv(x, edge_index[:, keep])
    conv.train()
    conv.add_mean = True  # and the mean every edge.
    msg = conv.lin(x)[edge_index[0]]
    expected = expected + mean_reference(msg, edge_index[1], 30)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    params = list(conv.parameters())
    got = torch.autograd.grad(out.square().sum(), params)
    want = torch.autograd.grad(expected.square().sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)
