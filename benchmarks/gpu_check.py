r"""The GPU check, in one script: the test suite on the GPU, then the GRU
aggregation's kernels side by side with PyG's layers on the same card, as
Markdown tables with the card's name. Usage::

    python benchmarks/gpu_check.py --out docs/results/gpu_check

It writes :obj:`<out>.md` (the tables) and :obj:`<out>.json` (the raw
figures). Sections:

1. the test suite (:obj:`pytest -m "not slow"`), whose CUDA cases run on
   the GPU (:obj:`--skip-tests` skips it);
2. the aggregation alone, F = H = 64, fp32, on real graphs, a hub graph
   (Barabási-Albert, n = 100k, m = 10) and Tolokers: our Triton kernels
   (fp32-accurate dots by default; TF32 and IEEE-fp32 dots beside them),
   our cuDNN path, PyG's padded
   :class:`~torch_geometric.nn.aggr.GRUAggregation` and
   :class:`~torch_geometric.nn.aggr.MeanAggregation`; forward and a
   training step (forward + backward with the input gradient); the
   largest difference to the CPU kernel; and the forward at H = 256;
3. end to end: the training epoch (forward, loss, backward, Adam step) of
   two-layer models with 64 hidden channels on Cora, PubMed and Tolokers:
   :class:`~torch_geometric_gru.GRUConv` (Triton and cuDNN), GCN,
   SAGE-mean, and SAGE with PyG's padded LSTM and GRU aggregations.

Every PyG sequence aggregation runs in its own process: its padded GRU can
fail with an illegal memory access that poisons the whole CUDA context.
Each measurement synchronises the device; times are the minimum over
repeats after a warm-up (which also compiles the kernels and builds the
cached layout); peak memory is :func:`torch.cuda.max_memory_allocated`
above the memory held before the call. The targets of the Triton path are
printed beside the figures. With :obj:`--device cpu` (and
:obj:`TRITON_INTERPRET=1`) the script runs on a tiny graph, as its smoke
test does.
"""
import argparse
import contextlib
import functools
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import torch

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, osp.join(HERE, 'citation'))
sys.path.insert(0, osp.join(HERE, '..'))

GRAPHS = {
    'tiny': 'BA n=300 m=3',
    'cora': 'Cora',
    'pubmed': 'PubMed',
    'proteins': 'PROTEINS (all 1113 graphs)',
    'tolokers': 'Tolokers',
    'ba100k': 'BA n=100k m=10',
}
DATASETS = {'tiny': 'BA n=300 m=3 (random features)', 'Cora': 'Cora',
            'PubMed': 'PubMed', 'Tolokers': 'Tolokers'}
AGGRS = ['triton', 'triton-tf32', 'triton-ieee', 'cudnn', 'mingru', 'pyg',
         'mean']
MODELS = ['gru', 'gru-cudnn', 'gcn', 'sage', 'sage-lstm', 'sage-pyg-gru']
MODEL_NAMES = {
    'gru': 'GRUConv (Triton)',
    'gru-cudnn': 'GRUConv (cuDNN)',
    'gcn': 'GCNConv',
    'sage': 'SAGEConv (mean)',
    'sage-lstm': 'SAGEConv (PyG LSTM aggr.)',
    'sage-pyg-gru': 'SAGEConv (PyG GRU aggr.)',
}
IN_CHILD = ('pyg', 'sage-lstm', 'sage-pyg-gru')
# Targets of the Triton path (F = H = 64, fp32): forward time, and
# the speed-up of its training step over the cuDNN path's.
FORWARD_TARGET = {'cora': 0.3e-3, 'pubmed': 0.5e-3, 'ba100k': 4e-3,
                  'tolokers': 4e-3}
SPEEDUP_TARGET = {'cora': 5, 'pubmed': 5, 'ba100k': 10}


# Graphs and datasets ########################################################


def by_destination(edge_index: torch.Tensor) -> torch.Tensor:
    r"""Edges grouped by destination with a stable sort, which PyG's
    sequence aggregations need; every method reads the same order."""
    return edge_index[:, torch.sort(edge_index[1], stable=True).indices]


def build_graph(name: str) -> Dict:
    from datasets import barabasi_albert, load_dataset
    if name == 'tiny':
        return dict(edge_index=barabasi_albert(300, 3), num_nodes=300)
    if name == 'ba100k':
        return dict(edge_index=barabasi_albert(100_000, 10),
                    num_nodes=100_000)
    if name == 'proteins':
        from torch_geometric.data import Batch
        data = Batch.from_data_list(list(load_dataset('PROTEINS')))
    else:
        data = load_dataset(GRAPHS[name])[0]
    return dict(edge_index=by_destination(data.edge_index),
                num_nodes=data.num_nodes)


def load_data(name: str):
    from datasets import barabasi_albert, load_dataset
    from torch_geometric.data import Data
    if name == 'tiny':
        gen = torch.Generator().manual_seed(0)
        return Data(x=torch.randn(300, 16, generator=gen),
                    edge_index=barabasi_albert(300, 3),
                    y=torch.randint(0, 4, (300, ), generator=gen),
                    train_mask=torch.ones(300, dtype=torch.bool))
    data = load_dataset(name)[0]
    data.edge_index = by_destination(data.edge_index)
    if data.train_mask.dim() == 2:  # Tolokers: 10 splits; the first.
        data.train_mask = data.train_mask[:, 0]
    return data


# Measuring ##################################################################


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure(fn: Callable, device: torch.device, repeats: int,
            budget: float) -> Dict:
    r"""Runs :obj:`fn` once to warm up, then times it: the minimum over
    :obj:`repeats` calls (fewer if they take over :obj:`budget` s)."""
    fn()
    sync(device)
    base = peak = 0
    if device.type == 'cuda':
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    times: List[float] = []
    while len(times) < repeats and sum(times) < budget:
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) - base
    return dict(time=min(times), peak_bytes=peak, repeats=len(times))


@contextlib.contextmanager
def dot_precision(method: str):
    r"""The dot precision of a Triton method, set through PyTorch's switch
    (:obj:`triton-tf32`) or, for the IEEE-fp32 comparison only, by
    replacing the package's choice in this process (:obj:`triton-ieee`)."""
    from torch_geometric_gru.ops.gru import triton as triton_gru
    saved = torch.get_float32_matmul_precision(), triton_gru.dot_precision
    try:
        if method == 'triton-tf32':
            torch.set_float32_matmul_precision('high')
        if method == 'triton-ieee':
            triton_gru.dot_precision = lambda device: 'ieee'
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        triton_gru.dot_precision = saved[1]


def aggr_case(method: str, graph: Dict, channels: int, hidden: int,
              device: torch.device) -> Dict:
    from torch_geometric.nn.aggr import GRUAggregation as PyGGRU
    from torch_geometric.nn.aggr import MeanAggregation

    from torch_geometric_gru import GRUAggregation, MinGRUAggregation

    edge_index = graph['edge_index'].to(device)
    num_nodes = graph['num_nodes']
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(num_nodes, channels, generator=gen).to(device)
    msg = x.index_select(0, edge_index[0])
    torch.manual_seed(1)
    reference = PyGGRU(channels, hidden)
    if method == 'pyg':
        module = reference
    elif method == 'mean':
        module = MeanAggregation()
    elif method == 'mingru':  # The fused scan (Triton on CUDA).
        module = MinGRUAggregation(channels, hidden)
    else:
        kernel = 'cudnn' if method == 'cudnn' else 'triton'
        module = GRUAggregation(channels, hidden, kernel=kernel)
        module.load_state_dict(reference.state_dict())
    return dict(module=module.to(device), msg=msg, index=edge_index[1],
                num_nodes=num_nodes)


def run_aggr(case: Dict, train: bool) -> Callable:
    module, index, num_nodes = case['module'], case['index'], \
        case['num_nodes']
    leaf = case['msg'].detach().clone().requires_grad_(train)

    def fn():
        if not train:
            with torch.no_grad():
                return module(leaf, index, dim_size=num_nodes)
        out = module(leaf, index, dim_size=num_nodes)
        out.sum().backward()
        leaf.grad = None
        return out

    return fn


def padded_bytes(graph: Dict, channels: int) -> float:
    deg = torch.bincount(graph['edge_index'][1], minlength=graph['num_nodes'])
    return graph['num_nodes'] * int(deg.max()) * channels * 4


def bench_aggr(method: str, graph: Dict, args, device: torch.device,
               modes=('forward', 'train'), hidden: Optional[int] = None,
               emit: Callable = None) -> None:
    case = aggr_case(method, graph, args.channels, hidden or args.hidden,
                     device)
    for mode in modes:
        if method == 'pyg' and device.type == 'cuda':
            # Its padded tensors: about 6x (forward) and 12x (training) the
            # padded input, measured on Cora.
            need = padded_bytes(graph, args.channels) * (
                6.5 if mode == 'forward' else 12.5)
            if need > 0.8 * torch.cuda.mem_get_info(device)[0]:
                emit(mode, dict(skipped=f'needs about {need / 2**30:.0f} '
                                'GB'))
                continue
        emit(mode, measure(run_aggr(case, mode == 'train'), device,
                           args.repeats, args.budget))


def exactness(graph: Dict, args, device: torch.device) -> Dict:
    r"""The largest differences of the Triton and cuDNN paths to the CPU
    kernel: outputs, and input gradients of a weighted sum."""
    from torch_geometric_gru import GRUAggregation
    case = aggr_case('triton', graph, args.channels, args.hidden, device)
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(graph['num_nodes'], args.hidden, generator=gen)
    results = {}
    outs = {}
    for kernel, dev in [('native', torch.device('cpu')), ('triton', device),
                        ('cudnn', device)]:
        module = GRUAggregation(args.channels, args.hidden, kernel=kernel)
        module.load_state_dict(case['module'].state_dict())
        module = module.to(dev)
        leaf = case['msg'].detach().to(dev).requires_grad_()
        out = module(leaf, case['index'].to(dev),
                     dim_size=graph['num_nodes'])
        (out * weight.to(dev)).sum().backward()
        outs[kernel] = (out.detach().cpu(), leaf.grad.cpu())
    for kernel in ('triton', 'cudnn'):
        results[kernel] = dict(
            out=float((outs[kernel][0] - outs['native'][0]).abs().max()),
            grad=float((outs[kernel][1] - outs['native'][1]).abs().max()))
    # MinGRU's Triton scan against its CPU kernel, the same weights:
    mingru = aggr_case('mingru', graph, args.channels, args.hidden, device)
    got = []
    for dev in (torch.device('cpu'), device):
        module = mingru['module'].to(dev)
        leaf = case['msg'].detach().to(dev).requires_grad_()
        out = module(leaf, case['index'].to(dev),
                     dim_size=graph['num_nodes'])
        (out * weight.to(dev)).sum().backward()
        got.append((out.detach().cpu(), leaf.grad.cpu()))
    results['mingru'] = dict(
        out=float((got[1][0] - got[0][0]).abs().max()),
        grad=float((got[1][1] - got[0][1]).abs().max()))
    return results


@contextlib.contextmanager
def tile_shape(block: int, num_warps: int):
    r"""Launches the Triton kernels with :obj:`block` sequences per
    program and :obj:`num_warps` warps in this process."""
    from torch_geometric_gru.ops.gru import triton as triton_gru
    saved = triton_gru.launch_options
    triton_gru.launch_options = functools.partial(saved, block=block,
                                                  num_warps=num_warps)
    try:
        yield
    finally:
        triton_gru.launch_options = saved


def sweep(graph: Dict, args, device: torch.device) -> Dict:
    r"""The Triton path's forward and training step at every tile shape
    of :obj:`args.sweep_shapes`."""
    results = {}
    for shape in args.sweep_shapes:
        block, warps = (int(v) for v in shape.split('x'))
        found = {}
        with tile_shape(block, warps):
            bench_aggr('triton', graph, args, device,
                       emit=lambda mode, value: found.__setitem__(mode,
                                                                  value))
        results[shape] = found
    return results


def make_e2e_model(name: str, data, hidden: int):
    import torch.nn.functional as F
    from models import GRUNet, make_model
    in_channels = data.num_features
    out_channels = int(data.y.max()) + 1
    if name in ('gru', 'gru-cudnn'):
        kernel = 'triton' if name == 'gru' else 'cudnn'
        model = GRUNet(in_channels, hidden, out_channels, dropout=0.5,
                       drop_edge=0.0, kernel=kernel)
    else:
        model = make_model(name, in_channels, hidden, out_channels)

    def loss_fn(out):
        return F.cross_entropy(out[data.train_mask], data.y[data.train_mask])

    return model, loss_fn


def bench_e2e(name: str, data, args, device: torch.device) -> Dict:
    torch.manual_seed(0)
    model, loss_fn = make_e2e_model(name, data, args.hidden)
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def epoch():
        optimizer.zero_grad()
        loss_fn(model(data.x, data.edge_index)).backward()
        optimizer.step()

    return measure(epoch, device, args.repeats, args.budget)


# Children: PyG's padded layers, one process each ############################


def child_main(spec: Dict) -> None:
    args = argparse.Namespace(**spec['args'])
    device = torch.device(args.device)
    with open(spec['result'], 'a') as f:

        def emit(key, value):
            f.write(json.dumps(dict(key=key, value=value)) + '\n')
            f.flush()

        if spec['kind'] == 'aggr':
            graph = torch.load(spec['graph'])
            bench_aggr(spec['method'], graph, args, device,
                       emit=lambda mode, value: emit(mode, value))
        else:
            data = torch.load(spec['data'], weights_only=False).to(device)
            emit('train', bench_e2e(spec['model'], data, args, device))


def in_child(spec: Dict, keys: List[str], timeout: float) -> Dict:
    r"""Runs :obj:`spec` in a fresh process; what it did not report is
    marked as failed, with the tail of its output."""
    with tempfile.NamedTemporaryFile('r', suffix='.jsonl') as result:
        spec = dict(spec, result=result.name)
        try:
            proc = subprocess.run(
                [sys.executable, osp.abspath(__file__), '--child',
                 json.dumps(spec)], capture_output=True, text=True,
                timeout=timeout)
            failure = (None if proc.returncode == 0 else
                       (proc.stderr or proc.stdout).strip().splitlines()[-1:])
        except subprocess.TimeoutExpired:
            failure = [f'timed out after {timeout:.0f} s']
        out = {}
        for line in result.read().splitlines():
            item = json.loads(line)
            out[item['key']] = item['value']
    for key in keys:
        if key not in out:
            reason = ' '.join(failure or ['no result'])[:160]
            out[key] = dict(failed=reason)
    return out


# The run ####################################################################


def run_tests(root: str) -> int:
    code = subprocess.call([sys.executable, '-m', 'pytest', '-q', '-x', '-m',
                            'not slow', '-p', 'no:cacheprovider'], cwd=root)
    print(f'pytest exit code: {code}', flush=True)
    return code


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='The test suite on the GPU, then the GRU kernels side '
        "by side with PyG's layers on the same card, as Markdown tables.")
    parser.add_argument('--graphs', nargs='+', choices=list(GRAPHS),
                        default=['cora', 'pubmed', 'proteins', 'tolokers',
                                 'ba100k'],
                        help='graphs of the aggregation tables')
    parser.add_argument('--datasets', nargs='*', choices=list(DATASETS),
                        default=['Cora', 'PubMed', 'Tolokers'],
                        help='datasets of the end-to-end table')
    parser.add_argument('--methods', nargs='+', choices=AGGRS,
                        default=AGGRS, help='aggregations to measure')
    parser.add_argument('--models', nargs='+', choices=MODELS,
                        default=MODELS, help='end-to-end models')
    parser.add_argument('--wide-graphs', nargs='*', choices=list(GRAPHS),
                        default=['cora', 'ba100k'],
                        help='graphs on which the Triton path also runs at '
                        'H = --wide-hidden')
    parser.add_argument('--wide-hidden', type=int, default=256)
    parser.add_argument('--sweep', nargs='*', choices=list(GRAPHS),
                        default=[],
                        help='graphs on which the Triton path also runs '
                        'with every tile shape of --sweep-shapes (tuning)')
    parser.add_argument('--sweep-shapes', nargs='+', default=[
        '16x4', '16x8', '32x4', '32x8', '64x8'
    ], help='tile shapes to sweep, as <sequences per program>x<warps>')
    parser.add_argument('--channels', type=int, default=64,
                        help='message width F')
    parser.add_argument('--hidden', type=int, default=64,
                        help='GRU hidden size H (and hidden channels of the '
                        'end-to-end models)')
    parser.add_argument('--repeats', type=int, default=20,
                        help='timed calls per measurement (after a warm-up)')
    parser.add_argument('--budget', type=float, default=5.0,
                        help='seconds of timed calls per measurement, at '
                        'most')
    parser.add_argument('--child-timeout', type=float, default=300.0,
                        help="seconds a child process (PyG's padded layers) "
                        'may run')
    parser.add_argument('--device', default='cuda',
                        help="'cuda', or 'cpu' for a smoke run under "
                        'TRITON_INTERPRET=1 (on the tiny graph)')
    parser.add_argument('--skip-tests', action='store_true',
                        help='do not run the test suite first')
    parser.add_argument('--out', default=None,
                        help='write <out>.md and <out>.json')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child_main(json.loads(args.child))

    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        sys.exit('No CUDA device: run this on a machine with a GPU (or pass '
                 '--device cpu with TRITON_INTERPRET=1 for a smoke run).')
    report: Dict = dict(machine=machine(device), args=vars(args), aggr={},
                        wide={}, exact={}, e2e={}, sweep={})
    if not args.skip_tests:
        report['pytest_exit_code'] = run_tests(osp.join(HERE, '..'))

    child_args = {k: v for k, v in vars(args).items() if k != 'child'}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.graphs:
            graph = build_graph(name)
            path = osp.join(tmp, f'{name}.pt')
            torch.save(graph, path)
            deg = torch.bincount(graph['edge_index'][1],
                                 minlength=graph['num_nodes'])
            row = dict(num_nodes=graph['num_nodes'],
                       num_edges=graph['edge_index'].size(1),
                       max_degree=int(deg.max()))
            for method in args.methods:
                print(f'{name}: {method}', flush=True)
                if method in IN_CHILD:
                    spec = dict(kind='aggr', method=method, graph=path,
                                args=child_args)
                    found = in_child(spec, ['forward', 'train'],
                                     args.child_timeout)
                    for mode, value in found.items():
                        row[f'{method}/{mode}'] = value
                    continue
                modes = (('forward', ) if method in ('triton-tf32',
                                                     'triton-ieee') else
                         ('forward', 'train'))
                with dot_precision(method):
                    bench_aggr(method, graph, args, device, modes,
                               emit=lambda mode, value, method=method: row.
                               __setitem__(f'{method}/{mode}', value))
            report['aggr'][name] = row
            report['exact'][name] = exactness(graph, args, device)
            if name in args.sweep:
                report['sweep'][name] = sweep(graph, args, device)
            if name in args.wide_graphs:
                wide = {}
                bench_aggr('triton', graph, args, device,
                           hidden=args.wide_hidden,
                           emit=lambda mode, value: wide.__setitem__(
                               mode, value))
                report['wide'][name] = wide

        for name in args.datasets:
            data = load_data(name)
            path = osp.join(tmp, f'{name}-data.pt')
            torch.save(data, path)
            data = data.to(device)
            row = {}
            for model in args.models:
                print(f'{name}: {model}', flush=True)
                if model in IN_CHILD:
                    spec = dict(kind='e2e', model=model, data=path,
                                args=child_args)
                    row[model] = in_child(spec, ['train'],
                                          args.child_timeout)['train']
                else:
                    row[model] = bench_e2e(model, data, args, device)
            report['e2e'][name] = row

    text = render(report, args)
    print(text)
    if args.out:
        with open(f'{args.out}.md', 'w') as f:
            f.write(text)
        with open(f'{args.out}.json', 'w') as f:
            json.dump(report, f, indent=1)


def machine(device: torch.device) -> str:
    import torch_geometric
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = 'not installed'
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        card = f'{props.name}, {props.total_memory / 2**30:.0f} GiB'
        cudnn = torch.backends.cudnn.version()
        return (f'{card}; torch {torch.__version__}, CUDA '
                f'{torch.version.cuda}, cuDNN {cudnn}, triton '
                f'{triton_version}, torch_geometric '
                f'{torch_geometric.__version__}')
    return (f'CPU ({os.cpu_count()} cores), Triton interpreter; torch '
            f'{torch.__version__}, triton {triton_version}')


# Tables #####################################################################


def _time(value: Optional[Dict]) -> Optional[float]:
    return value.get('time') if isinstance(value, dict) else None


def fmt(value: Optional[Dict]) -> str:
    if not isinstance(value, dict):
        return '—'
    if 'skipped' in value:
        return f'— ({value["skipped"]})'
    if 'failed' in value:
        return 'failed'
    t = value['time']
    return f'{t * 1e3:.2f} ms' if t < 1 else f'{t:.2f} s'


def fmt_mem(value: Optional[Dict]) -> str:
    if not isinstance(value, dict) or 'peak_bytes' not in value:
        return '—'
    b = value['peak_bytes']
    return f'{b / 2**20:.0f} MB' if b < 2**30 else f'{b / 2**30:.2f} GB'


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return '—' if a is None or b is None or b == 0 else f'{a / b:.1f}×'


def render(report: Dict, args) -> str:
    lines = [
        f'Machine: {report["machine"]}. F = {args.channels}, H = '
        f'{args.hidden}, fp32. Command: `python benchmarks/gpu_check.py`.',
        ''
    ]
    if 'pytest_exit_code' in report:
        lines += [f'Test suite on this device: pytest exit code '
                  f'{report["pytest_exit_code"]}.', '']
    lines += [
        '**Aggregation forward** (`torch.no_grad()`). Triton = our default '
        '(fp32-accurate dots); µs/step = Triton forward / max degree (the '
        'longest chain).', '',
        '| graph | E | max deg | Triton | target | µs/step | Triton TF32 | '
        'Triton IEEE | cuDNN | PyG GRU | mean | Triton vs cuDNN | '
        'Triton vs PyG |', '|' + '---|' * 13
    ]
    for name, r in report['aggr'].items():
        tri = _time(r.get('triton/forward'))
        target = FORWARD_TARGET.get(name)
        per_step = ('—' if tri is None else
                    f'{tri / r["max_degree"] * 1e6:.1f}')
        lines.append(
            f'| {GRAPHS[name]} | {r["num_edges"]:,} | {r["max_degree"]} | '
            f'{fmt(r.get("triton/forward"))} | '
            f'{"—" if target is None else f"≤ {target * 1e3:.1f} ms"} | '
            f'{per_step} | {fmt(r.get("triton-tf32/forward"))} | '
            f'{fmt(r.get("triton-ieee/forward"))} | '
            f'{fmt(r.get("cudnn/forward"))} | {fmt(r.get("pyg/forward"))} | '
            f'{fmt(r.get("mean/forward"))} | '
            f'{ratio(_time(r.get("cudnn/forward")), tri)} | '
            f'{ratio(_time(r.get("pyg/forward")), tri)} |')
    lines += [
        '', '**Aggregation training step** (forward + backward, input '
        'gradient included). Target: Triton step ≤ 3× its forward; ≥ 10× '
        'faster than cuDNN on BA-100k, ≥ 5× on Cora and PubMed.', '',
        '| graph | Triton | step/fwd | cuDNN | PyG GRU | mean | Triton vs '
        'cuDNN | target | Triton vs PyG | Triton mem | cuDNN mem | PyG mem |',
        '|' + '---|' * 12
    ]
    for name, r in report['aggr'].items():
        tri = _time(r.get('triton/train'))
        target = SPEEDUP_TARGET.get(name)
        lines.append(
            f'| {GRAPHS[name]} | {fmt(r.get("triton/train"))} | '
            f'{ratio(tri, _time(r.get("triton/forward")))} | '
            f'{fmt(r.get("cudnn/train"))} | {fmt(r.get("pyg/train"))} | '
            f'{fmt(r.get("mean/train"))} | '
            f'{ratio(_time(r.get("cudnn/train")), tri)} | '
            f'{"—" if target is None else f"≥ {target}×"} | '
            f'{ratio(_time(r.get("pyg/train")), tri)} | '
            f'{fmt_mem(r.get("triton/train"))} | '
            f'{fmt_mem(r.get("cudnn/train"))} | '
            f'{fmt_mem(r.get("pyg/train"))} |')
    lines += [
        '', '**Exactness**: the largest absolute difference to the CPU '
        'kernel (fp32) of the output and of the input gradient of a '
        'random weighting of the output. Target for Triton: ≤ 1e-5.', '',
        '| graph | Triton out | Triton grad | cuDNN out | cuDNN grad | '
        'MinGRU scan out | MinGRU scan grad |',
        '|---|---|---|---|---|---|---|'
    ]
    for name, r in report['exact'].items():
        lines.append(' | '.join(
            [f'| {GRAPHS[name]}'] + [f'{r[k][part]:.1e}' for k in (
                'triton', 'cudnn', 'mingru') for part in ('out', 'grad')])
            + ' |')
    if report['sweep']:
        shapes = args.sweep_shapes
        lines += [
            '', '**Tile shapes** of the Triton path (sequences per program × '
            'warps), forward / training step.', '',
            '| graph | ' + ' | '.join(shapes) + ' |',
            '|' + '---|' * (len(shapes) + 1)
        ]
        for name, r in report['sweep'].items():
            cells = [f'{fmt(r[k].get("forward"))} / {fmt(r[k].get("train"))}'
                     for k in shapes]
            lines.append(f'| {GRAPHS[name]} | ' + ' | '.join(cells) + ' |')
    if report['wide']:
        lines += [
            '', f'**Width**: the Triton path at H = {args.wide_hidden} '
            f'against H = {args.hidden} (target: forward within 3×).', '',
            f'| graph | fwd H={args.hidden} | fwd H={args.wide_hidden} | '
            f'ratio | train H={args.hidden} | train H={args.wide_hidden} | '
            'ratio |', '|---|---|---|---|---|---|---|'
        ]
        for name, w in report['wide'].items():
            r = report['aggr'][name]
            lines.append(
                f'| {GRAPHS[name]} | {fmt(r.get("triton/forward"))} | '
                f'{fmt(w.get("forward"))} | '
                f'{ratio(_time(w.get("forward")), _time(r.get("triton/forward")))} | '  # noqa
                f'{fmt(r.get("triton/train"))} | {fmt(w.get("train"))} | '
                f'{ratio(_time(w.get("train")), _time(r.get("triton/train")))} |')  # noqa
    if report['e2e']:
        models = [m for m in MODELS if m in args.models]
        lines += [
            '', f'**End to end**: one training epoch (forward, loss, '
            f'backward, Adam step) of a two-layer model, {args.hidden} '
            'hidden channels, full graph. Target: GRUConv (Triton) within '
            '2× of SAGEConv (mean).', '',
            '| dataset | ' + ' | '.join(MODEL_NAMES[m] for m in models) +
            ' | GRUConv / SAGE |', '|' + '---|' * (len(models) + 2)
        ]
        for name, r in report['e2e'].items():
            lines.append(f'| {DATASETS[name]} | ' +
                         ' | '.join(fmt(r.get(m)) for m in models) +
                         f' | {ratio(_time(r.get("gru")), _time(r.get("sage")))} |')  # noqa
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
