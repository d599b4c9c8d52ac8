r"""The C++ step loops (:mod:`torch_geometric_gru.ops.cpp`) against the
Python loops they replace and against the per-node :class:`torch.nn.GRU`
reference; the fallback when the extension is disabled or cannot be built.

The extension is compiled once per machine and cached (in PyTorch's
extensions folder); the :func:`extension` fixture builds or loads it once
per session: about 80 s for a first build on the two-core machine, well
under a second once cached. Without a compiler the tests that need it
skip."""
import os
import os.path as osp
import subprocess
import sys
import time
import warnings

import pytest
import torch
from reference import gru_reference, hub_graph

from torch_geometric_gru import GRUAggregation, GRUConv, PackedLayout
from torch_geometric_gru.ops import cpp
from torch_geometric_gru.ops.gru import cpu as cpu_kernel

TOL = {torch.float32: dict(atol=2e-5, rtol=1e-4),
       torch.float64: dict(atol=1e-12, rtol=1e-10)}


@pytest.fixture(scope='module')
def extension():
    r"""Builds (first run on a machine) or loads the extension."""
    if not cpp.enabled():
        pytest.skip(f'{cpp.ENV}=0 disables the C++ kernel')
    t = time.perf_counter()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        module = cpp.extension()
    if module is None:
        pytest.skip('the C++ kernel cannot be built here (no compiler or '
                    'ninja?)')
    print(f'\nC++ kernel built or loaded in {time.perf_counter() - t:.1f} s')
    return module


class _Spy:
    r"""Stands in for the extension and counts the calls that reach it."""
    def __init__(self, module):
        self.module, self.calls = module, {}

    def __getattr__(self, name):
        fn = getattr(self.module, name)

        def call(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(*args)
        return call


def _use(monkeypatch, module):
    r"""Makes the kernel use :obj:`module` (a spy of the extension) or the
    Python loops (:obj:`None`)."""
    monkeypatch.setattr(cpp, 'extension', lambda: module)


def _graph(kind):
    if kind == 'hub':  # A hub, isolated nodes, multi-edges, self-loops.
        return hub_graph(), 12
    if kind == 'one_node':  # One node reading itself three times.
        return torch.zeros(2, 3, dtype=torch.long), 1
    if kind == 'path':  # Every node one in-edge: one step.
        src = torch.arange(9)
        return torch.stack([src, (src + 1) % 9]), 9
    if kind == 'star':  # One sequence of 50: 50 steps of one row.
        return torch.stack([torch.arange(50), torch.zeros(50, dtype=int)]), 50
    if kind == 'wide':  # Steps of 300+ rows: several blocks of the C++.
        gen = torch.Generator().manual_seed(0)
        dst = torch.cat([torch.arange(300).repeat(2),
                         torch.randint(0, 300, (200, ), generator=gen)])
        src = torch.randint(0, 300, (dst.numel(), ), generator=gen)
        return torch.stack([src, dst]), 310
    raise ValueError(kind)


def _kernel_inputs(kind, dtype, hoisted, hidden, channels=5, seed=0):
    edge_index, num_nodes = _graph(kind)
    layout = PackedLayout.from_index(edge_index[1], num_nodes)
    gen = torch.Generator().manual_seed(seed)
    if hoisted:  # Node rows read through the row index (GRUConv).
        x = torch.randn(num_nodes, channels, generator=gen, dtype=dtype)
        src = edge_index[0].index_select(0, layout.perm)
    else:  # One row per element.
        x = torch.randn(edge_index.size(1), channels, generator=gen,
                        dtype=dtype)
        src = layout.perm
    gru = torch.nn.GRU(channels, hidden).to(dtype)
    params = [p.detach() for p in gru.parameters()]
    return layout, x, src, params


def _run_kernel(layout, x, src, params, sequence, seed=1):
    out, states = cpu_kernel.gru_layer(x, src, *params, layout, sequence,
                                       save=True)
    with torch.no_grad():
        final, none = cpu_kernel.gru_layer(x, src, *params, layout,
                                           sequence)
    gen = torch.Generator().manual_seed(seed)
    grad_out = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    grads = cpu_kernel.gru_layer_backward(grad_out, x, src, *params, states,
                                          layout, sequence)
    return [out, states, final] + list(grads)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('kind', ['hub', 'one_node', 'path', 'star',
                                  'wide'])
@pytest.mark.parametrize('sequence', [False, True])
@pytest.mark.parametrize('hoisted', [False, True])
@pytest.mark.parametrize('hidden', [7, 16])  # A vector tail, or none.
@pytest.mark.parametrize('chunk', [3, 200, cpu_kernel.CHUNK])
def test_matches_python_loops(extension, monkeypatch, dtype, kind, sequence,
                              hoisted, hidden, chunk):
    # Same outputs, saved states and gradients as the Python loops; tiny
    # chunks make windows and chunks split steps.
    monkeypatch.setattr(cpu_kernel, 'CHUNK', chunk)
    inputs = _kernel_inputs(kind, dtype, hoisted, hidden)
    _use(monkeypatch, None)
    expected = _run_kernel(*inputs, sequence)
    spy = _Spy(extension)
    _use(monkeypatch, spy)
    got = _run_kernel(*inputs, sequence)
    assert spy.calls['forward_rows'] >= 2  # Training and no-grad forward.
    assert spy.calls['backward_rows'] >= 1
    for a, b in zip(got, expected):
        if b is None:
            assert a is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('bidirectional', [False, True])
@pytest.mark.parametrize('chunk', [3, cpu_kernel.CHUNK])
def test_aggregation_matches_reference(extension, monkeypatch, dtype,
                                       bidirectional, chunk):
    monkeypatch.setattr(cpu_kernel, 'CHUNK', chunk)
    spy = _Spy(extension)
    _use(monkeypatch, spy)
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 5, dtype=dtype, requires_grad=True)
    aggr = GRUAggregation(5, 8, num_layers=2,
                          bidirectional=bidirectional).to(dtype)
    out = aggr(x, index, dim_size=15)  # Nodes 9-14 have no in-edges.
    expected = gru_reference(aggr.gru, x, index, 15)
    tol = TOL[dtype] if dtype == torch.float64 else dict(atol=1e-5)
    assert torch.allclose(out, expected, **tol)
    assert out[9:].abs().max() == 0
    inputs = [x] + list(aggr.parameters())
    weight = torch.randn(out.shape, dtype=dtype)
    got = torch.autograd.grad((out * weight).sum(), inputs)
    want = torch.autograd.grad((expected * weight).sum(), inputs)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, **tol)
    with torch.no_grad():
        assert torch.allclose(aggr(x, index, dim_size=15), expected, **tol)
    assert spy.calls['forward_rows'] > 0 and spy.calls['backward_rows'] > 0


def test_conv_matches_reference_and_empty_graph(extension, monkeypatch):
    _use(monkeypatch, _Spy(extension))
    torch.manual_seed(0)
    conv = GRUConv(4, 6, add_mean=False, edge_dropout=0.0).double()
    x = torch.randn(12, 4, dtype=torch.double)
    edge_index = hub_graph()
    out = conv(x, edge_index)
    with torch.no_grad():
        _use(monkeypatch, None)
        assert torch.allclose(out, conv(x, edge_index), atol=1e-12)
    _use(monkeypatch, _Spy(extension))
    empty = torch.empty(2, 0, dtype=torch.long)
    out = conv(x, empty)  # No packed rows: no step runs anywhere.
    assert out.shape == (12, 6) and torch.isfinite(out).all()
    aggr = GRUAggregation(4, 6).double()
    agg = aggr(x[:0], torch.empty(0, dtype=torch.long), dim_size=3)
    assert agg.shape == (3, 6) and agg.abs().max() == 0


def test_gradcheck(extension, monkeypatch):
    spy = _Spy(extension)
    _use(monkeypatch, spy)
    monkeypatch.setattr(cpu_kernel, 'CHUNK', 4)
    torch.manual_seed(0)
    index = torch.tensor([0, 2, 0, 1, 0, 2, 0])
    x = torch.randn(index.numel(), 3, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(3, 5).double()
    params = list(aggr.parameters())

    def fn(x, *params):
        return torch.func.functional_call(
            aggr, dict(zip([n for n, _ in aggr.named_parameters()], params)),
            (x, index), dict(dim_size=4))

    assert torch.autograd.gradcheck(fn, (x, *params))
    assert spy.calls['backward_rows'] > 0


def _hub_graph_against_reference():
    r"""A GRUAggregation's output on the hub graph, and the per-node
    torch.nn.GRU loop's."""
    torch.manual_seed(0)
    index = hub_graph()[1]
    x = torch.randn(index.numel(), 5, dtype=torch.double)
    aggr = GRUAggregation(5, 8).double()
    out = aggr(x, index, dim_size=15)
    return out, gru_reference(aggr.gru, x, index, 15)


def test_disabled_by_environment(extension, monkeypatch):
    # TORCH_GEOMETRIC_GRU_CPP=0: the kernel runs its Python loops.
    monkeypatch.setenv(cpp.ENV, '0')
    assert not cpp.enabled() and cpp.extension() is None
    assert not cpp.is_available()
    out, expected = _hub_graph_against_reference()
    assert torch.allclose(out, expected, atol=1e-12)
    monkeypatch.setenv(cpp.ENV, '1')
    assert cpp.extension() is extension


def test_failed_build_warns_once_and_falls_back(monkeypatch):
    # No compiler (or a failed build): one warning, then the Python loops.
    def fail(kind):
        raise RuntimeError('no compiler here')

    monkeypatch.setenv(cpp.ENV, '1')
    monkeypatch.setattr(cpp, '_build', fail)
    monkeypatch.setattr(cpp, '_modules', {})
    monkeypatch.setattr(cpp, '_failed', set())
    with pytest.warns(RuntimeWarning, match='no compiler here'):
        assert cpp.extension() is None
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert cpp.extension() is None
        out, expected = _hub_graph_against_reference()
    assert torch.allclose(out, expected, atol=1e-12)


def test_other_dtypes_use_python_loops(extension, monkeypatch):
    # bfloat16 (or tensors off the CPU) never reach the C++ loops.
    spy = _Spy(extension)
    _use(monkeypatch, spy)
    layout, x, src, params = _kernel_inputs('hub', torch.bfloat16, False, 8)
    with torch.no_grad():
        out, _ = cpu_kernel.gru_layer(x, src, *params, layout, False)
    assert out.dtype == torch.bfloat16 and not spy.calls


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_threads_split_large_steps(extension, monkeypatch, dtype):
    # Steps of 300+ rows are split over threads (at::parallel_for, in blocks
    # of 128 rows): the same results as the Python loops on one thread.
    inputs = _kernel_inputs('wide', dtype, False, 16)
    _use(monkeypatch, None)
    expected = _run_kernel(*inputs, sequence=True)
    _use(monkeypatch, extension)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        got = _run_kernel(*inputs, sequence=True)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, **TOL[dtype])


def test_build_does_not_depend_on_the_checkout(extension, monkeypatch,
                                               tmp_path):
    # Another checkout (or environment) with the same source shares the
    # cached build instead of rebuilding it: the build is named by content.
    copy = tmp_path / 'gru_cpu.cpp'
    with open(cpp.SOURCES['gru'], 'rb') as f:
        source = f.read()
    copy.write_bytes(source)
    monkeypatch.setitem(cpp.SOURCES, 'gru', str(copy))
    built = osp.getmtime(extension.__file__)
    module = cpp._build()
    assert module.__name__ == extension.__name__
    assert osp.getmtime(module.__file__) == built  # Not compiled again.
    with open(osp.join(osp.dirname(module.__file__), 'build.ninja')) as f:
        assert str(tmp_path) not in f.read()


@pytest.mark.slow  # A fresh interpreter (3-4 s).
def test_build_runs_the_environments_ninja(extension, monkeypatch,
                                           tmp_path):
    # A process of the same environment whose PATH finds another ninja
    # first (the environment not activated: the system's ninja) neither
    # runs that ninja nor rebuilds the extension. Two ninja versions read
    # each other's build log as out of date (ninja 1.11 and 1.13 rebuilt it
    # in turn, each process 20-60 s, before the build ran its own).
    ninja = cpp._ninja()
    if ninja is None or osp.dirname(ninja) not in (
            osp.dirname(sys.executable), osp.join(sys.prefix, 'bin')):
        pytest.skip("needs the ninja package in this Python environment "
                    "(pip install ninja)")
    ran = tmp_path / 'ran'
    fake = tmp_path / 'bin' / 'ninja'
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\ntouch {ran}\nexit 1\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f'{fake.parent}{os.pathsep}'
               f'{os.environ.get("PATH", "")}')
    env.pop(cpp.ENV, None)
    built = osp.getmtime(extension.__file__)
    # A fresh process: PyTorch runs ninja once per process and extension.
    script = ('import os, shutil\n'
              'from torch_geometric_gru.ops import cpp\n'
              'path = os.environ["PATH"]\n'
              f'assert shutil.which("ninja") == {str(fake)!r}\n'
              'print(cpp._build().__file__)\n'
              'assert os.environ["PATH"] == path\n')
    proc = subprocess.run([sys.executable, '-c', script], env=env,
                          capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == extension.__file__
    assert osp.getmtime(extension.__file__) == built  # Not compiled again,
    assert not ran.exists()  # and the other ninja never ran.


def test_build_is_named_by_its_ninja(monkeypatch):
    name = cpp._name_and_flags()[0]
    assert cpp._name_and_flags()[0] == name
    monkeypatch.setattr(cpp, '_ninja', lambda: '/elsewhere/bin/ninja')
    assert cpp._name_and_flags()[0] != name


def test_path_is_left_alone_without_an_environment_ninja(monkeypatch):
    # Without a ninja in the environment PATH keeps its order (its first
    # ninja runs, and a compiler placed before /usr/bin stays first).
    path = os.environ.get('PATH', '')
    monkeypatch.setattr(cpp, '_environment_ninja', lambda: None)
    with cpp._ninja_first():
        assert os.environ.get('PATH', '') == path
    monkeypatch.setattr(cpp, '_environment_ninja',
                        lambda: '/env/bin/ninja')
    with cpp._ninja_first():
        assert os.environ['PATH'].split(os.pathsep)[0] == '/env/bin'
    assert os.environ.get('PATH', '') == path
