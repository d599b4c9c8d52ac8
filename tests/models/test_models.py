import copy

import pytest
import torch
from reference import gru_reference, hub_graph
from torch_geometric.nn import GATConv, SAGEConv, TransformerConv

from torch_geometric_gru import GRUAggregation, GRUGraphSAGE


def test_gru_graph_sage_builds_one_gru_per_layer():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5)
    model = GRUGraphSAGE(5, 16, num_layers=3, out_channels=3)
    grus = [conv.aggr_module.gru for conv in model.convs]
    assert [g.input_size for g in grus] == [5, 16, 16]
    assert [g.hidden_size for g in grus] == [5, 16, 16]
    assert len({id(g) for g in grus}) == 3  # Not one shared GRU.
    out = model(x, edge_index)
    assert out.shape == (12, 3)
    # Each layer is SAGEConv with its own exact GRU aggregation:
    h = x
    for i, conv in enumerate(model.convs):
        perm = torch.sort(edge_index[1], stable=True).indices
        agg = gru_reference(conv.aggr_module.gru, h[edge_index[0][perm]],
                            edge_index[1][perm], 12)
        h_next = conv.lin_l(agg) + conv.lin_r(h)
        h = h_next.relu() if i < 2 else h_next
    assert torch.allclose(out, h, atol=1e-5)
    with pytest.raises(TypeError, match="'aggr_kwargs'"):
        GRUGraphSAGE(5, 16, 2, aggr=GRUAggregation(5))


def test_lazy_aggregation_is_sized_by_its_first_input():
    torch.manual_seed(0)
    edge_index = hub_graph()
    conv = SAGEConv(-1, 8, aggr=GRUAggregation(-1))
    assert conv.aggr_module.gru is None
    out = conv(torch.randn(12, 5), edge_index)
    gru = conv.aggr_module.gru
    assert out.shape == (12, 8) and (gru.input_size, gru.hidden_size) == (5, 5)
    # A state_dict loads into a fresh lazy aggregation:
    fresh = GRUAggregation(-1)
    fresh.load_state_dict(conv.aggr_module.state_dict())
    x, index = torch.randn(7, 5), torch.tensor([0, 0, 1, 1, 1, 2, 0])
    assert torch.allclose(fresh(x, index), conv.aggr_module(x, index))
    assert str(GRUAggregation(-1)) == 'GRUAggregation(-1, -1)'


@pytest.mark.parametrize('conv_cls', [GATConv, TransformerConv])
def test_multi_head_messages_read_one_sequence_per_head(conv_cls):
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 6)
    aggr = GRUAggregation(4)
    conv = conv_cls(6, 4, heads=2, aggr=aggr, add_self_loops=False) \
        if conv_cls is GATConv else conv_cls(6, 4, heads=2, aggr=aggr)
    messages = []
    conv.register_message_forward_hook(
        lambda module, inputs, output: messages.append(output))
    conv(x, edge_index)
    msg = messages[0]  # [E, heads, 4], in edge order.
    out = aggr(msg, edge_index[1], dim_size=12, dim=0)
    assert out.shape == (12, 2, 4)
    for head in range(2):
        expected = gru_reference(aggr.gru, msg[:, head], edge_index[1], 12)
        assert torch.allclose(out[:, head], expected, atol=1e-6)


def test_multi_head_index_errors_name_the_node_index():
    aggr = GRUAggregation(4)
    x = torch.randn(3, 2, 4)
    with pytest.raises(ValueError, match="entry 5, out of range for "
                       "dim_size=3"):
        aggr(x, torch.tensor([0, 1, 5]), dim_size=3, dim=0)


def test_gru_gnn_is_a_stack_of_gru_convs():
    from torch_geometric_gru import GRUGNN, GRUConv
    torch.manual_seed(0)
    edge_index = hub_graph()
    x, edge_attr = torch.randn(12, 5), torch.randn(edge_index.size(1), 3)
    order = torch.randperm(edge_index.size(1))
    model = GRUGNN(5, 16, num_layers=2, out_channels=4, edge_dim=3,
                   gru_num_layers=2, gru_dropout=0.25, bidirectional=True)
    assert all(isinstance(conv, GRUConv) for conv in model.convs)
    assert [conv.aggr_module.gru.num_layers for conv in model.convs] == [2, 2]
    assert model.convs[0].aggr_module.gru.dropout == 0.25
    assert str(model) == 'GRUGNN(5, 4, num_layers=2)'
    model.eval()  # No dropout between the GRU layers.
    out = model(x, edge_index, edge_attr=edge_attr, order=order)
    h = model.convs[0](x, edge_index, edge_attr=edge_attr, order=order)
    h = model.convs[1](h.relu(), edge_index, edge_attr=edge_attr,
                       order=order)
    assert torch.allclose(out, h, atol=1e-6)
    # The order reaches every layer: another one changes the output.
    other = model(x, edge_index, edge_attr=edge_attr)
    assert not torch.allclose(out, other, atol=1e-3)


def test_gru_graph_sage_reads_the_order_and_refuses_edge_inputs():
    torch.manual_seed(0)
    edge_index = hub_graph()
    x = torch.randn(12, 5)
    model = GRUGraphSAGE(5, 8, num_layers=1)
    perm = torch.randperm(edge_index.size(1))
    rank = torch.empty_like(perm)
    rank[perm] = torch.arange(perm.numel())
    # Reading the edges sorted by `rank` is reading them stored that way:
    out = model(x, edge_index, order=rank)
    assert torch.allclose(out, model(x, edge_index[:, perm]), atol=1e-6)
    assert str(model.convs[0]) == 'SAGEConv(5, 8, aggr=GRUAggregation(5, 5))'
    with pytest.raises(ValueError, match="takes no 'edge_weight'"):
        model(x, edge_index, edge_weight=torch.ones(edge_index.size(1)))


@pytest.mark.parametrize('model_cls', ['GRUGNN', 'GRUGraphSAGE'])
def test_layers_build_one_layout_per_graph(model_cls, monkeypatch):
    import torch_geometric_gru
    from torch_geometric_gru.layout import packed as packing
    built = []
    init = packing.PackedLayout.__init__

    def spy(self, *args, **kwargs):
        built.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(packing.PackedLayout, '__init__', spy)
    torch.manual_seed(0)
    edge_index = hub_graph()
    # Every in-edge, in every layer (GRUGNN's GRUConv drops some in
    # training by default):
    kwargs = dict(edge_dropout=0.0) if model_cls == 'GRUGNN' else {}
    model = getattr(torch_geometric_gru, model_cls)(5, 8, num_layers=3,
                                                    **kwargs)
    out = model(torch.randn(12, 5), edge_index)
    assert len(built) == 1  # Three layers, one graph: one layout.
    # The shared layout gives what a layer's own would:
    fresh = copy.deepcopy(model.convs[2])
    fresh.aggr_module._layouts = type(fresh.aggr_module._layouts)()
    h = model.convs[1](model.convs[0](torch.randn(12, 5), edge_index).relu(),
                       edge_index).relu()
    assert torch.allclose(model.convs[2](h, edge_index), fresh(h, edge_index),
                          atol=1e-6)
    assert out.shape == (12, 8)
