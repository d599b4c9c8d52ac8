import pytest
import torch
from reference import gru_reference, hub_graph

from torch_geometric_gru import GRUAggregation, GRUConv
from torch_geometric_gru.aggr.recurrence import (
    folds_input_weight,
    resolve_kernel,
)


@pytest.mark.parametrize('num_layers,bidirectional', [(1, False), (2, True)])
def test_cudnn_kernel_on_cpu_matches_reference(num_layers, bidirectional):
    # kernel='cudnn' is PyTorch's packed nn.GRU (cuDNN on CUDA, PyTorch's
    # own kernel on CPU): the same function.
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 5, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(5, 7, num_layers=num_layers,
                          bidirectional=bidirectional, kernel='cudnn')
    aggr = aggr.double()
    out = aggr(x, index, dim_size=15)
    expected = gru_reference(aggr.gru, x, index, 15)
    assert torch.allclose(out, expected, atol=1e-10)
    inputs = [x] + list(aggr.parameters())
    got = torch.autograd.grad(out.sum(), inputs)
    want = torch.autograd.grad(expected.sum(), inputs)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(got, want))


def test_kernel_choice():
    x = torch.randn(3, 4)
    assert resolve_kernel('auto', x) == 'native'
    assert resolve_kernel('cudnn', x) == 'cudnn'
    with pytest.raises(ValueError, match="'kernel' must be one of"):
        GRUAggregation(4, 8, kernel='cuda')
    with pytest.raises(ValueError, match="'kernel' and 'checkpoint' are"):
        GRUConv(4, 8, cell='mingru', kernel='native')
    with pytest.raises(ValueError, match="'kernel' and 'checkpoint' are"):
        GRUConv(4, 8, cell='mingru', checkpoint=True)
    assert 'checkpoint=True' in repr(GRUConv(4, 8, checkpoint=True))
    assert "kernel='cudnn'" in repr(GRUAggregation(4, 8, kernel='cudnn'))
    assert "kernel='native'" in repr(GRUConv(4, 8, kernel='native'))


@pytest.mark.parametrize('in_features,input_size,hidden,dirs,folds', [
    (5, 8, 8, 1, True),  # 5 * 24 < 5 * 8 + 8 * 24
    (12, 8, 8, 1, False),  # 12 * 24 = 288 = 96 + 192: not less
    (11, 8, 8, 1, True),  # 264 < 88 + 192
    (128, 256, 256, 1, True),  # Mini-batch benchmark: F = 128, H = 256.
    (256, 256, 256, 1, True),  # A second layer of the same width.
    (1433, 64, 64, 1, False),  # Cora's features: project them first.
    (9, 8, 8, 2, True),  # 9 * 48 = 432 < 72 + 384
    (10, 8, 8, 2, False),  # 10 * 48 = 480 > 80 + 384
])
def test_folds_input_weight_where_it_costs_less(in_features, input_size,
                                                hidden, dirs, folds):
    assert folds_input_weight(in_features, input_size, hidden, dirs) is folds


@pytest.mark.parametrize('cls_name,kwargs', [
    ('GRUAggregation', {}),
    ('GRUAggregation', dict(positional_encoding='sinusoidal')),
    ('GRUAggregation', dict(bidirectional=True, num_layers=2)),
    ('MinGRUAggregation', {}),
])
def test_x_weight_equals_mapping_the_rows_first(cls_name, kwargs):
    import torch_geometric_gru
    torch.manual_seed(0)
    index = hub_graph()[1]
    src = torch.randint(0, 7, (index.numel(), ))
    x = torch.randn(7, 5, dtype=torch.double, requires_grad=True)
    weight = torch.randn(8, 5, dtype=torch.double, requires_grad=True)
    aggr = getattr(torch_geometric_gru, cls_name)(8, 6, **kwargs).double()
    out = aggr(x, index, dim_size=12, x_index=src, x_weight=weight)
    want = aggr(x @ weight.t(), index, dim_size=12, x_index=src)
    assert torch.allclose(out, want, atol=1e-10)
    grads = torch.autograd.grad(out.sum(), [x, weight])
    expected = torch.autograd.grad(want.sum(), [x, weight])
    for g, e in zip(grads, expected):
        assert torch.allclose(g, e, atol=1e-10)


def test_x_weight_misuse():
    index = hub_graph()[1]
    aggr = GRUAggregation(8, 6)
    x = torch.randn(index.numel(), 5)
    with pytest.raises(ValueError, match=r"'x_weight' must have shape "
                       r"\[in_channels, F\] = \[8, F\]"):
        aggr(x, index, x_weight=torch.randn(6, 5))
    with pytest.raises(ValueError, match="'x_weight' maps 4"):
        aggr(x, index, x_weight=torch.randn(8, 4))
    with pytest.raises(TypeError, match="'x_weight' must be a tensor"):
        aggr(x, index, x_weight=[[1.0] * 5] * 8)
    with pytest.raises(TypeError, match="'x_weight' is torch.float64"):
        aggr(x, index, x_weight=torch.randn(8, 5, dtype=torch.double))
