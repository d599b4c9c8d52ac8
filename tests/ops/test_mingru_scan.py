import pytest
import torch
from reference import NO_TRITON

from torch_geometric_gru.ops.mingru import mingru_scan, mingru_scan_backward
from torch_geometric_gru.ops.mingru import cpp as cpp_kernel
from torch_geometric_gru.ops.mingru import triton as triton_kernel
from torch_geometric_gru.ops.mingru.triton import CHUNK as TRITON_CHUNK

CPP_CHUNK = 256  # kChunk of csrc/mingru_cpu.cpp: the backward's chunk.
HAS_CPP = cpp_kernel.available()
HAS_TRITON = triton_kernel.is_available(torch.device('cpu'))
KERNELS = [
    'reference',
    pytest.param('cpp', marks=pytest.mark.skipif(
        not HAS_CPP, reason='the C++ extension could not be built')),
    pytest.param('triton', marks=pytest.mark.skipif(not HAS_TRITON,
                                                    reason=NO_TRITON)),
]


def sequential(gates, rows, ptr):
    r"""The definition, one segment and one element at a time."""
    hidden = gates.size(1) // 2
    out = []
    for s in range(ptr.numel() - 1):
        h = gates.new_zeros(hidden)
        for e in range(int(ptr[s]), int(ptr[s + 1])):
            g = gates[rows[e]]
            z = torch.sigmoid(g[:hidden])
            h = (1 - z) * h + z * g[hidden:]
        out.append(h)
    return torch.stack(out) if out else gates.new_zeros(0, hidden)


def sample(lengths, num_rows=None, hidden=5, dtype=torch.double, seed=0):
    r"""Gates, rows and ptr of segments of the given lengths; rows drawn
    with repeats (hoisted node projections) unless :obj:`num_rows` is
    :obj:`None` (one row per element, in a shuffled order)."""
    gen = torch.Generator().manual_seed(seed)
    ptr = torch.tensor([0] + lengths).cumsum(0)
    num = int(ptr[-1])
    if num_rows is None:
        num_rows, rows = num, torch.randperm(num, generator=gen)
    else:
        rows = torch.randint(0, num_rows, (num, ), generator=gen)
    gates = torch.randn(num_rows, 2 * hidden, generator=gen, dtype=dtype)
    return gates, rows, ptr


def tolerance(kernel):
    return 1e-5 if kernel == 'triton' else 1e-12


# Lengths around the chunk boundaries of both kernels, empty segments, one
# element, and a hub several chunks long.
LENGTHS = [
    [3, 0, 1, 7],
    [TRITON_CHUNK - 1, TRITON_CHUNK, TRITON_CHUNK + 1, 0, 2 * TRITON_CHUNK],
    [CPP_CHUNK - 1, CPP_CHUNK, CPP_CHUNK + 1, 2 * CPP_CHUNK + 1, 1],
]


@pytest.mark.parametrize('kernel', KERNELS)
@pytest.mark.parametrize('lengths', LENGTHS)
@pytest.mark.parametrize('num_rows', [None, 9])
def test_matches_sequential_definition(kernel, lengths, num_rows):
    gates, rows, ptr = sample(lengths, num_rows)
    gates.requires_grad_()
    out = mingru_scan(gates, rows, ptr, kernel)
    expected = sequential(gates, rows, ptr)
    atol = tolerance(kernel)
    assert out.dtype == gates.dtype and out.shape == expected.shape
    assert torch.allclose(out, expected, rtol=0, atol=atol)
    w = torch.randn_like(out)
    got, = torch.autograd.grad((out * w).sum(), gates)
    want, = torch.autograd.grad((expected * w).sum(), gates)
    assert torch.allclose(got, want, rtol=0, atol=atol)


def test_empty():
    gates = torch.randn(4, 6, dtype=torch.double, requires_grad=True)
    rows, ptr = torch.zeros(0, dtype=torch.long), torch.zeros(3).long()
    out = mingru_scan(gates, rows, ptr)
    assert out.shape == (2, 3) and not out.any()
    out.sum().backward()
    assert not gates.grad.any()


@pytest.mark.skipif(not HAS_CPP, reason='the C++ extension not built')
def test_cpp_backward_per_element_path():
    # What several threads run: one gradient row per element, summed into
    # the rows afterwards (rows repeat across segments).
    gates, rows, ptr = sample([5, CPP_CHUNK + 3, 0, 2], num_rows=6)
    grad_out = torch.randn(4, 5, dtype=torch.double)
    direct = cpp_kernel.scan_backward(grad_out, gates, rows, ptr, True)
    per_element = cpp_kernel.scan_backward(grad_out, gates, rows, ptr, False)
    assert torch.allclose(direct, per_element, rtol=0, atol=1e-12)


@pytest.mark.parametrize('kernel', ['reference', 'cpp'])
def test_gradcheck(kernel):
    if kernel == 'cpp' and not HAS_CPP:
        pytest.skip('the C++ extension could not be built')
    gates, rows, ptr = sample([3, 0, 5, 1], num_rows=4, hidden=3)
    gates.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda g: mingru_scan(g, rows, ptr, kernel), (gates, ))


def test_double_backward():
    gates, rows, ptr = sample([3, 0, 5, 1], num_rows=4, hidden=3)
    gates.requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda g: mingru_scan(g, rows, ptr), (gates, ))
    # And the values of a second derivative, against the definition's:
    w = torch.randn(4, 3, dtype=torch.double)
    grads = []
    for f in (lambda g: mingru_scan(g, rows, ptr), lambda g: sequential(
            g, rows, ptr)):
        g1, = torch.autograd.grad((f(gates) * w).sum(), gates,
                                  create_graph=True)
        g2, = torch.autograd.grad(g1.pow(2).sum(), gates)
        grads.append(g2)
    assert torch.allclose(grads[0], grads[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16,
                                   torch.float16])
def test_low_precision(dtype):
    gates, rows, ptr = sample([4, 0, 30, 1], num_rows=7)
    out = mingru_scan(gates.to(dtype), rows, ptr)
    assert out.dtype == dtype
    expected = sequential(gates.to(dtype).double(), rows, ptr)
    atol = 1e-5 if dtype == torch.float32 else 2e-2
    assert torch.allclose(out.double(), expected, rtol=0, atol=atol)
    g = gates.to(dtype).requires_grad_()
    mingru_scan(g, rows, ptr).sum().backward()
    assert g.grad.dtype == dtype and torch.isfinite(g.grad).all()


def test_opcheck():
    for grad in (False, True):
        gates, rows, ptr = sample([3, 0, 5, 1], num_rows=4)
        gates.requires_grad_(grad)
        torch.library.opcheck(mingru_scan, (gates, rows, ptr))
        torch.library.opcheck(mingru_scan, (gates.float(), rows, ptr,
                                            'reference'))
    grad_out = torch.randn(4, 5, dtype=torch.double)
    torch.library.opcheck(mingru_scan_backward,
                          (grad_out, gates.detach(), rows, ptr, 'auto'))


def test_compile_fullgraph():
    gates, rows, ptr = sample([3, 0, 5, 1], num_rows=4)

    def f(gates, rows, ptr):
        return mingru_scan(gates * 2, rows, ptr).sum(-1)

    compiled = torch.compile(f, fullgraph=True, dynamic=True,
                             backend='aot_eager')
    g1 = gates.clone().requires_grad_()
    g2 = gates.clone().requires_grad_()
    out = compiled(g1, rows, ptr)
    expected = f(g2, rows, ptr)
    assert torch.allclose(out, expected, rtol=0, atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    assert torch.allclose(g1.grad, g2.grad, rtol=0, atol=1e-12)


def test_export():
    gates, rows, ptr = sample([3, 0, 5, 1], num_rows=4)

    class Scan(torch.nn.Module):
        def forward(self, gates, rows, ptr):
            return mingru_scan(gates, rows, ptr)

    program = torch.export.export(Scan(), (gates, rows, ptr))
    assert 'torch_geometric_gru.mingru_scan' in str(program.graph)
    gates2, rows2, ptr2 = sample([3, 0, 5, 1], num_rows=4, seed=1)
    assert torch.allclose(program.module()(gates2, rows2, ptr2),
                          sequential(gates2, rows2, ptr2), rtol=0,
                          atol=1e-12)


def test_bad_input():
    gates, rows, ptr = sample([3, 1], num_rows=4)
    with pytest.raises(RuntimeError, match="'kernel' must be one of"):
        mingru_scan(gates, rows, ptr, 'cuda')
    with pytest.raises(RuntimeError, match=r"'gates' must be \[R, 2H\]"):
        mingru_scan(gates[:, :5], rows, ptr)
    with pytest.raises(RuntimeError, match="'rows' must be a 1-D int64"):
        mingru_scan(gates, rows.int(), ptr)
    with pytest.raises(RuntimeError, match="'ptr' must be a non-empty"):
        mingru_scan(gates, rows, ptr[:0])


@pytest.mark.parametrize('kernel', KERNELS)
def test_wide_state_and_strided_gates(kernel):
    # H = 70: several vector registers plus a tail on CPU, two column
    # blocks in Triton; the gates a column slice of a wider tensor.
    gates, rows, ptr = sample([TRITON_CHUNK + 5, 0, 3], num_rows=6,
                              hidden=70)
    wide = torch.cat([gates, torch.randn(6, 3, dtype=gates.dtype)], dim=1)
    gates = wide[:, :140].requires_grad_()
    out = mingru_scan(gates, rows, ptr, kernel)
    expected = sequential(gates, rows, ptr)
    assert torch.allclose(out, expected, rtol=0, atol=tolerance(kernel))
    w = torch.randn_like(out)
    got, = torch.autograd.grad((out * w).sum(), gates)
    want, = torch.autograd.grad((expected * w).sum(), gates)
    assert torch.allclose(got, want, rtol=0, atol=tolerance(kernel))
