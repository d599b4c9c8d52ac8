r"""ONNX export (:mod:`torch_geometric_gru.onnx`): models exported with a
dynamic number of nodes and edges run in onnxruntime and equal eager
PyTorch (and the per-node reference) on graphs of other sizes and maximum
degrees; unsupported options and TorchScript raise clear errors."""
import importlib.util
import warnings

import pytest
import torch
from torch_geometric.nn import SAGEConv

from reference import gru_reference, hub_graph
from torch_geometric_gru import GRUAggregation, GRUConv, GRUGNN

MISSING = [name for name in ('onnx', 'onnxscript', 'onnxruntime')
           if importlib.util.find_spec(name) is None]
needs_onnx = pytest.mark.skipif(
    bool(MISSING), reason=f"needs {', '.join(MISSING)} "
    f"(pip install -e '.[onnx]')")

if not MISSING:
    import onnxruntime

    import torch_geometric_gru.onnx as tgo

F, H = 8, 16


def random_graph(num_nodes, num_edges, seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, F, generator=gen, dtype=dtype)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    return x, edge_index


def graphs():
    r"""The export example and two graphs of other sizes: a hub graph
    (isolated nodes, self-loops, multi-edges, a node of degree 24+) and a
    larger sparse one."""
    x, edge_index = random_graph(7, 20, seed=0)
    hub = hub_graph(12)
    others = [(torch.randn(12, F, generator=torch.Generator().manual_seed(1)),
               hub), random_graph(30, 120, seed=2)]
    degrees = [int(torch.bincount(e[1]).max()) for _, e in others]
    example_degree = int(torch.bincount(edge_index[1]).max())
    assert len({example_degree, *degrees}) == 3  # Three maximum degrees.
    return (x, edge_index), others


def session(program):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return onnxruntime.InferenceSession(
            program.model_proto.SerializeToString(),
            providers=['CPUExecutionProvider'])


def run(sess, *inputs):
    feed = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs)}
    return [torch.from_numpy(out) for out in sess.run(None, feed)]


def export(model, args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return tgo.export(model, args, verbose=False, **kwargs)


MODELS = {
    'GRUConv': lambda: GRUConv(F, H),
    'SAGEConv(GRUAggregation)': lambda: SAGEConv(F, H,
                                                 aggr=GRUAggregation(F)),
    'GRUGNN': lambda: GRUGNN(F, H, num_layers=2),
    'GRUConv(2 layers, bidirectional, no bias)': lambda: GRUConv(
        F, H, num_layers=2, bidirectional=True, bias=False),
    # Dropped in-edges are a training-time draw; evaluation reads all:
    'GRUConv(edge_dropout)': lambda: GRUConv(F, H, edge_dropout=0.5),
    'GRUConv(add_mean, bidirectional)': lambda: GRUConv(
        F, H, add_mean=True, bidirectional=True),
}


@needs_onnx
@pytest.mark.parametrize('name', list(MODELS))
def test_models_match_eager(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    example, others = graphs()
    sess = session(export(model, example))
    for x, edge_index in [example] + others:
        with torch.no_grad():
            expected = model(x, edge_index)
        out, = run(sess, x, edge_index)
        assert out.shape == expected.shape
        assert torch.allclose(out, expected, atol=1e-5, rtol=0)


class Aggregate(torch.nn.Module):
    def __init__(self, aggr):
        super().__init__()
        self.aggr = aggr

    def forward(self, nodes, messages, index):
        return self.aggr(messages, index, dim_size=nodes.size(0))


@needs_onnx
def test_aggregation_matches_reference():
    # Against the per-node torch.nn.GRU loop, not against our own layer.
    torch.manual_seed(0)
    aggr = GRUAggregation(F, H, num_layers=2, bidirectional=True).eval()
    module = Aggregate(aggr)
    nodes, messages = torch.zeros(6, 1), torch.randn(17, F)
    index = torch.randint(0, 6, (17, ))
    shapes = ({0: 'num_nodes'}, {0: 'num_edges'}, {0: 'num_edges'})
    sess = session(export(module, (nodes, messages, index),
                          dynamic_shapes=shapes))
    gen = torch.Generator().manual_seed(3)
    for num_nodes, num_elements in [(9, 40), (25, 30)]:
        messages = torch.randn(num_elements, F, generator=gen)
        index = torch.randint(0, num_nodes - 2, (num_elements, ),
                              generator=gen)
        index[:num_elements // 3] = 1  # A long sequence.
        out, = run(sess, torch.zeros(num_nodes, 1), messages, index)
        with torch.no_grad():
            expected = gru_reference(aggr.gru, messages, index, num_nodes)
        assert torch.allclose(out, expected, atol=1e-5, rtol=0)


@needs_onnx
def test_pack_matches_operator():
    # The translated layout equals the operator's, index for index, with
    # and without an order, with isolated nodes and an unsorted index.
    class Pack(torch.nn.Module):
        def forward(self, nodes, index, order, x_index):
            return torch.ops.torch_geometric_gru.pack(
                index, nodes.size(0), order, x_index, nodes.size(0))

    index = torch.tensor([3, 0, 3, 1, 0, 3, 1, 3])
    args = (torch.zeros(5, 1), index, torch.randperm(8), torch.arange(8) % 5)
    edges = {0: 'num_edges'}
    sess = session(export(Pack(), args,
                          dynamic_shapes=({0: 'num_nodes'}, edges, edges,
                                          edges)))
    gen = torch.Generator().manual_seed(0)
    for num_nodes, num in [(5, 8), (11, 60), (4, 0)]:
        index = torch.randint(0, max(num_nodes - 2, 1), (num, ),
                              generator=gen)
        order = torch.randperm(num, generator=gen)
        x_index = torch.randint(0, num_nodes, (num, ), generator=gen)
        nodes = torch.zeros(num_nodes, 1)
        got = run(sess, nodes, index, order, x_index)
        expected = Pack()(nodes, index, order, x_index)
        for a, b in zip(got, expected):
            assert torch.equal(a, b)


@needs_onnx
def test_table_with_torch_onnx_export():
    # The translation table alone, passed to torch.onnx.export; edge
    # features, an order and float64.
    torch.manual_seed(0)
    model = GRUConv(F, H, edge_dim=3).double().eval()
    x, edge_index = random_graph(7, 20, seed=0, dtype=torch.double)
    edge_attr = torch.randn(20, 3, dtype=torch.double)
    edges = {0: 'num_edges'}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        program = torch.onnx.export(
            model, (x, edge_index), kwargs=dict(edge_attr=edge_attr,
                                                order=torch.randperm(20)),
            dynamo=True, verbose=False,
            dynamic_shapes=dict(x={0: 'num_nodes'},
                                edge_index={1: 'num_edges'},
                                edge_attr=edges, order=edges),
            custom_translation_table=tgo.custom_translation_table)
    sess = session(program)
    for num_nodes, num_edges in [(12, 50), (4, 0)]:
        x, edge_index = random_graph(num_nodes, num_edges, seed=num_nodes,
                                     dtype=torch.double)
        edge_attr = torch.randn(num_edges, 3, dtype=torch.double)
        order = torch.randperm(num_edges)
        with torch.no_grad():
            expected = model(x, edge_index, edge_attr=edge_attr, order=order)
        out, = run(sess, x, edge_index, edge_attr, order)
        assert torch.allclose(out, expected, atol=1e-10, rtol=0)


@needs_onnx
def test_graph_dynamic_shapes():
    x, edge_index = random_graph(7, 20, seed=0)
    shapes = tgo.graph_dynamic_shapes(GRUGNN(F, H, num_layers=1),
                                      (x, edge_index),
                                      dict(edge_weight=torch.ones(20)))
    assert shapes['x'] == {0: 'num_nodes'}
    assert shapes['edge_index'] == {1: 'num_edges'}
    assert shapes['edge_weight'] == {0: 'num_edges'}
    assert shapes.get('batch') is None


@needs_onnx
@pytest.mark.parametrize('make,match', [
    (lambda: GRUConv(F, H, cell='mingru'), "cell='mingru'"),
    (lambda: GRUConv(F, H, positional_encoding='sinusoidal'),
     'positional_encoding'),
    (lambda: GRUGNN(F, H, num_layers=1, num_permutations=2),
     'num_permutations'),
    (lambda: SAGEConv(F, H, aggr=GRUAggregation(F, max_length=4)),
     'max_length'),
    (lambda: GRUConv(F, H, kernel='cudnn'), "kernel='cudnn'"),
])
def test_unsupported_options_raise(make, match):
    x, edge_index = random_graph(7, 20, seed=0)
    with pytest.raises(ValueError, match=match):
        tgo.export(make().eval(), (x, edge_index))


@needs_onnx
def test_training_draws_raise():
    x, edge_index = random_graph(7, 20, seed=0)
    for model in (GRUConv(F, H, edge_dropout=0.5),
                  GRUConv(F, H, shuffle=True)):
        with pytest.raises(ValueError, match='in training mode'):
            tgo.export(model.train(), (x, edge_index))


@pytest.mark.parametrize('make', [
    lambda: GRUConv(F, H),
    lambda: GRUConv(F, H, cell='mingru'),
    lambda: GRUGNN(F, H, num_layers=2),
    lambda: SAGEConv(F, H, aggr=GRUAggregation(F)),
])
def test_torchscript_raises(make):
    with pytest.raises(TypeError, match='torch.compile, torch.export'):
        torch.jit.script(make())
