import pytest
import torch
from reference import gru_reference, hub_graph

from torch_geometric_gru import GRUAggregation, GRUConv
from torch_geometric_gru.recurrence import resolve_kernel


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
