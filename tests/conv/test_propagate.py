r"""GRUConv as a PyG citizen: what PyG builds on propagate (explainers,
hooks, basis weights, flow) acts on the messages the GRU reads."""
import pytest
import torch
from reference import conv_reference, hub_graph
from torch_geometric.data import HeteroData
from torch_geometric.explain import Explainer, GNNExplainer
from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
from torch_geometric.nn import to_hetero_with_bases

from torch_geometric_gru import GRUConv


def _graph(seed=0):
    torch.manual_seed(seed)
    edge_index = hub_graph()
    x = torch.randn(12, 5, dtype=torch.double)
    return x, edge_index


def _scaled_reference(conv, x, edge_index, weight):
    r"""GRUConv with every message scaled by :obj:`weight`."""
    return conv_reference(conv, x, edge_index, edge_weight=weight)


def test_edge_weight_scales_messages():
    x, edge_index = _graph()
    conv = GRUConv(5, 8, edge_dropout=0.0).double()
    weight = torch.rand(edge_index.size(1), dtype=torch.double)
    out = conv(x, edge_index, edge_weight=weight)
    expected = _scaled_reference(conv, x, edge_index, weight)
    assert torch.allclose(out, expected, atol=1e-10)
    # A torch.sparse adjacency's values are the same weights (in its
    # storage order: sorted by destination, then source):
    edges = torch.unique(edge_index, dim=1)
    edges = edges[:, (edges[1] * 12 + edges[0]).argsort()]
    weight = weight[:edges.size(1)]
    adj_t = torch.sparse_coo_tensor(edges.flip(0), weight, (12, 12))
    assert torch.allclose(conv(x, adj_t.coalesce()),
                          conv(x, edges, edge_weight=weight), atol=1e-10)


def test_explainer_mask_scales_the_messages_the_gru_reads():
    x, edge_index = _graph()
    conv = GRUConv(5, 8, edge_dropout=0.0).double()
    mask = torch.rand(edge_index.size(1), dtype=torch.double)
    plain = conv(x, edge_index)
    set_masks(conv, mask, edge_index, apply_sigmoid=False)
    masked = conv(x, edge_index)
    clear_masks(conv)
    assert not torch.allclose(masked, plain, atol=1e-3)
    assert torch.allclose(masked, _scaled_reference(conv, x, edge_index,
                                                    mask), atol=1e-10)
    assert torch.allclose(conv(x, edge_index), plain)  # Masks cleared.


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GRUConv(5, 16)
        self.conv2 = GRUConv(16, 3)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_gnn_explainer_learns_an_edge_mask():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5)
    explainer = Explainer(
        _Net(), algorithm=GNNExplainer(epochs=5), explanation_type='model',
        node_mask_type=None, edge_mask_type='object',
        model_config=dict(mode='multiclass_classification',
                          task_level='node', return_type='raw'))
    explanation = explainer(x, edge_index, index=1)
    mask = explanation.edge_mask
    assert mask.shape == (edge_index.size(1), )
    # Gradients reached the mask: it moved off its constant start for the
    # edges that node 1's output reads (its in-edges and theirs).
    assert float(mask.std()) > 0


def test_every_propagate_hook_fires_and_can_change_the_messages():
    x, edge_index = _graph()
    conv = GRUConv(5, 8, edge_dropout=0.0).double()
    plain = conv(x, edge_index)
    fired = []
    for kind in ('propagate_forward_pre', 'propagate_forward',
                 'message_forward_pre', 'message_forward',
                 'aggregate_forward_pre', 'aggregate_forward'):
        register = getattr(conv, f'register_{kind}_hook')
        if kind.endswith('_pre'):
            register(lambda module, inputs, kind=kind: fired.append(kind))
        else:
            register(lambda module, inputs, output, kind=kind:
                     fired.append(kind))
    out = conv(x, edge_index)
    assert len(fired) == 6
    assert torch.allclose(out, plain, atol=1e-12)  # Hooks that only look.
    weight = torch.rand(edge_index.size(1), dtype=torch.double)
    conv.register_message_forward_hook(
        lambda module, inputs, output: output * weight.view(-1, 1))
    assert torch.allclose(conv(x, edge_index),
                          _scaled_reference(conv, x, edge_index, weight),
                          atol=1e-10)


@pytest.mark.parametrize('kind', ['message_and_aggregate_forward_pre',
                                  'message_and_aggregate_forward',
                                  'edge_update_forward_pre',
                                  'edge_update_forward'])
def test_hooks_that_cannot_fire_are_refused(kind):
    conv = GRUConv(5, 8)
    with pytest.raises(TypeError, match='would never fire'):
        getattr(conv, f'register_{kind}_hook')(lambda *args: None)


def test_propagate_path_equals_the_hoisted_path():
    # With a hook that only looks, messages are formed through propagate;
    # without, no message matrix is formed. The same function, on every
    # input kind.
    x, edge_index = _graph()
    x_dst = torch.randn(14, 3, dtype=torch.double)
    edge_attr = torch.randn(edge_index.size(1), 2, dtype=torch.double)
    exact = dict(edge_dropout=0.0)  # The same edges on both paths.
    cases = [
        (GRUConv(5, 8, add_mean=False, **exact), (x, edge_index), {}),
        (GRUConv(5, 8, add_mean=False, edge_dim=2, **exact), (x, edge_index),
         dict(edge_attr=edge_attr)),
        (GRUConv((5, 3), 8, add_mean=False, **exact),
         ((x, x_dst), edge_index), {}),
        (GRUConv(5, 8, add_mean=False, bidirectional=True, num_layers=2,
                 **exact), (x, edge_index), {}),
        (GRUConv(5, 8, add_mean=True, bidirectional=True, **exact),
         (x, edge_index), {}),
        (GRUConv(5, 8, add_mean=True, edge_dim=2, **exact), (x, edge_index),
         dict(edge_attr=edge_attr)),
        (GRUConv(5, 8, add_mean=True, cell='mingru', **exact),
         (x, edge_index), {}),
    ]
    for conv, args, kwargs in cases:
        conv = conv.double()
        fast = conv(*args, **kwargs)
        if not kwargs:  # Unobserved, the hoisted path forms no messages.
            formed = []
            conv.message = lambda *a, **k: formed.append(1)
            conv(*args)
            assert not formed
            del conv.message
        conv.register_message_forward_hook(lambda *args: None)
        assert torch.allclose(conv(*args, **kwargs), fast, atol=1e-12)


def test_flow_target_to_source_reverses_the_edges():
    x, edge_index = _graph()
    conv = GRUConv(5, 8, flow='target_to_source', edge_dropout=0.0).double()
    forward = GRUConv(5, 8, edge_dropout=0.0).double()
    forward.load_state_dict(conv.state_dict())
    assert torch.allclose(conv(x, edge_index), forward(x, edge_index.flip(0)),
                          atol=1e-12)
    with pytest.raises(ValueError, match='bipartite'):
        conv((x, x[:4]), edge_index[:, edge_index[1] < 4])


def test_decomposed_layers_is_refused():
    with pytest.raises(ValueError, match="'decomposed_layers'"):
        GRUConv(5, 8, decomposed_layers=2)


def test_in_channels_is_an_int_unless_bipartite():
    # As in PyG's convs (GraphMaskExplainer reads it).
    assert GRUConv(5, 8).in_channels == 5
    assert GRUConv((5, 3), 8).in_channels == (5, 3)


def test_to_hetero_with_bases_weights_reach_the_messages():
    torch.manual_seed(0)
    data = HeteroData()
    data['paper'].x = torch.randn(6, 5)
    data['author'].x = torch.randn(4, 5)
    data['paper', 'cites', 'paper'].edge_index = torch.randint(0, 6, (2, 12))
    writes = torch.stack([torch.randint(0, 4, (8, )),
                          torch.randint(0, 6, (8, ))])
    data['author', 'writes', 'paper'].edge_index = writes
    data['paper', 'rev_writes', 'author'].edge_index = writes.flip(0)

    class Homo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GRUConv(5, 8)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    model = to_hetero_with_bases(Homo(), data.metadata(), num_bases=2)
    out = model(data.x_dict, data.edge_index_dict)['paper']
    out.sum().backward()
    weights = [conv.edge_type_weight for conv in model.conv.convs]
    assert all(w.grad is not None and w.grad.abs().sum() > 0
               for w in weights)
    with torch.no_grad():
        for w in weights:
            w.mul_(-3)
    changed = model(data.x_dict, data.edge_index_dict)['paper']
    assert not torch.allclose(changed, out, atol=1e-3)
