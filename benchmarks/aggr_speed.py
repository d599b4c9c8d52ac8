r"""Side-by-side speed, memory and exactness of GRU aggregation on CPU.

Aggregations, on the same graphs, messages (random, F = 64) and GRU weights:

* ``ours``: :class:`torch_geometric_gru.GRUAggregation`;
* ``pyg``: :class:`torch_geometric.nn.aggr.GRUAggregation` (pads every node
  to the largest degree);
* ``stock``: our packed layout fed to PyTorch's own packed
  :class:`torch.nn.GRU` (exact, but its CPU backward is one small GEMM per
  step);
* ``mingru``: :class:`torch_geometric_gru.MinGRUAggregation` (another model:
  no sequential steps);
* ``mean``: :class:`torch_geometric.nn.aggr.MeanAggregation`, the floor.

Convolutions, on the graph's real node features:

* ``conv``: :class:`torch_geometric_gru.GRUConv` (the GRU's input projection
  hoisted to the nodes);
* ``conv-wih-edges``: the same conv with the input projection computed on
  the gathered per-edge messages;
* ``conv-naive``: the same conv written as a plain message function: every
  edge gathers ``x_j`` and applies both linear maps.

Every measurement runs in a fresh process, so that its peak memory (RSS
above the process's RSS just before the call, after a warm-up on a tiny
graph) is its own. Errors are the largest absolute difference to an
independent per-node loop of :class:`torch.nn.GRU` on 220 nodes (the 20 of
highest degree and 200 random ones). Usage::

    python benchmarks/aggr_speed.py --graphs cora proteins pubmed ba20k \
        ba100k --out docs/results/aggr_speed.md \
        --plot docs/results/aggr_speed.png
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402

from options import (  # noqa: E402
    EXACT_GRU,
    add_threads,
    cpu_name,
    description,
    set_threads,
)

GRAPHS = {
    'cora': 'Cora',
    'citeseer': 'CiteSeer',
    'pubmed': 'PubMed',
    'proteins': 'PROTEINS (all 1113 graphs)',
    'ba20k': 'BA n=20k m=5',
    'ba100k': 'BA n=100k m=10',
}
AGGRS = ['ours', 'pyg', 'stock', 'mingru', 'mean']
CONVS = ['conv', 'conv-wih-edges', 'conv-naive']


def build_graph(name: str) -> Dict:
    from datasets import barabasi_albert, load_dataset
    x = None
    if name in ('cora', 'citeseer', 'pubmed'):
        data = load_dataset(GRAPHS[name])[0]
        edge_index, num_nodes, x = data.edge_index, data.num_nodes, data.x
    elif name == 'proteins':
        from torch_geometric.data import Batch
        batch = Batch.from_data_list(list(load_dataset('PROTEINS')))
        edge_index, num_nodes, x = batch.edge_index, batch.num_nodes, batch.x
    elif name == 'ba20k':
        edge_index, num_nodes = barabasi_albert(20_000, 5), 20_000
    elif name == 'ba100k':
        edge_index, num_nodes = barabasi_albert(100_000, 10), 100_000
    else:
        raise ValueError(f"Unknown graph '{name}'")
    # PyG's GRUAggregation needs edges sorted by destination; a stable sort
    # gives every method the same neighbour order.
    perm = torch.sort(edge_index[1], stable=True).indices
    return dict(edge_index=edge_index[:, perm], num_nodes=num_nodes, x=x)


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    r"""FLOP/s of a :obj:`size`-cubed fp32 matmul on this machine."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float('inf')
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def machine() -> str:
    cpu = cpu_name(platform.processor() or platform.machine())
    return (f'{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} '
            f'torch threads, torch {torch.__version__}, '
            f'Python {platform.python_version()}')


# The measurement, in a child process ########################################


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_case(method: str, edge_index: torch.Tensor, num_nodes: int,
              x: Optional[torch.Tensor], channels: int, hidden: int,
              train: bool) -> Dict:
    r"""Builds the inputs and the module of one method on one graph and
    returns :obj:`run` (the call to time), :obj:`leaf` (the input whose
    gradient a training step computes) and :obj:`gru` (for errors)."""
    from torch_geometric.nn.aggr import GRUAggregation as PyGGRU
    from torch_geometric.nn.aggr import MeanAggregation

    from torch_geometric_gru import (
        GRUAggregation,
        GRUConv,
        MinGRUAggregation,
    )
    from torch_geometric_gru.aggr.recurrence import packed_gru

    src, index = edge_index
    torch.manual_seed(0)
    if method in CONVS:
        # The first layer of a model: input features need no gradient.
        leaf = (x if x is not None else torch.randn(num_nodes, channels))
        leaf = leaf.clone()
        torch.manual_seed(1)
        conv = GRUConv(leaf.size(1), hidden, **EXACT_GRU)
        aggr = conv.aggr_module
        if method == 'conv':
            run = lambda: conv(leaf, edge_index)  # noqa: E731
        else:
            naive = method == 'conv-naive'

            def run():
                if naive:  # message(x_j) = lin(x_j), on every edge.
                    msg = conv.lin(leaf.index_select(0, src))
                else:
                    msg = conv.lin(leaf).index_select(0, src)
                out = aggr(msg, index, dim_size=num_nodes)
                return out + conv.lin_root(leaf) + conv.bias

        return dict(run=run, leaf=leaf, gru=None)

    leaf = torch.randn(num_nodes, channels)[src].requires_grad_(train)
    torch.manual_seed(1)
    reference = PyGGRU(channels, hidden)  # The shared weights.
    if method == 'pyg':
        module = reference
    elif method == 'mean':
        module = MeanAggregation()
    elif method == 'mingru':
        module = MinGRUAggregation(channels, hidden)
    else:
        module = GRUAggregation(channels, hidden)
        module.load_state_dict(reference.state_dict())
    run = lambda: module(leaf, index, dim_size=num_nodes)  # noqa: E731
    if method == 'stock':

        def run():
            layout = module.layout(leaf, index, dim_size=num_nodes)
            final = packed_gru(module.gru, layout, leaf, layout.perm,
                               kernel='cudnn')
            return layout.unpack_final(final)

    gru = reference.gru if method in ('ours', 'pyg', 'stock') else None
    return dict(run=run, leaf=leaf, gru=gru)


def _step(case: Dict, train: bool) -> Callable:
    def step():
        if not train:
            with torch.no_grad():
                return case['run']()
        out = case['run']()
        out.backward(case['weight'])
        case['leaf'].grad = None
        return out
    return step


def _errors(gru, out, msg, index, num_nodes) -> float:
    deg = torch.bincount(index, minlength=num_nodes)
    gen = torch.Generator().manual_seed(0)
    nodes = torch.cat([deg.topk(min(20, num_nodes)).indices,
                       torch.randint(0, num_nodes, (200, ), generator=gen)])
    worst = 0.0
    with torch.no_grad():
        for node in nodes.tolist():
            seq = msg[index == node]
            want = (gru(seq.unsqueeze(0))[1].view(-1) if seq.size(0) else
                    torch.zeros(gru.hidden_size))
            worst = max(worst, float((out[node] - want).abs().max()))
    return worst


def child(path: str, method: str, mode: str, channels: int, hidden: int,
          repeats: int, budget: float) -> Dict:
    graph = torch.load(path)
    edge_index, num_nodes, x = (graph['edge_index'], graph['num_nodes'],
                                graph['x'])
    train = mode == 'train'

    # Warm up on a tiny random graph first, so that one-time allocations
    # (thread pools, kernels) do not count as memory of the measured call.
    gen = torch.Generator().manual_seed(3)
    small = torch.randint(0, 64, (2, 256), generator=gen)
    small = small[:, torch.sort(small[1], stable=True).indices]
    tiny = make_case(method, small, 64, None if x is None else x[:64],
                     channels, hidden, train)
    tiny['weight'] = torch.ones(64, hidden if method != 'mean' else channels)
    _step(tiny, train)()
    del tiny

    case = make_case(method, edge_index, num_nodes, x, channels, hidden,
                     train)
    gen = torch.Generator().manual_seed(2)
    case['weight'] = torch.randn(
        num_nodes, hidden if method != 'mean' else channels, generator=gen)
    step = _step(case, train)
    rss = _rss()
    t = time.perf_counter()
    out = step()
    first = time.perf_counter() - t
    peak = _peak_rss() - rss
    times = [first]
    while len(times) < repeats + 1 and sum(times) < budget:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    result = dict(time=min(times[1:]) if len(times) > 1 else first,
                  runs=len(times), peak_bytes=peak)
    if case['gru'] is not None:
        result['error'] = _errors(case['gru'], out.detach(),
                                  case['leaf'].detach(), edge_index[1],
                                  num_nodes)
    return result


def run_child(graph_path: str, method: str, mode: str,
              args: argparse.Namespace) -> Optional[Dict]:
    cmd = [sys.executable, osp.abspath(__file__), '--child', graph_path,
           method, mode, '--channels', str(args.channels), '--hidden',
           str(args.hidden), '--repeats', str(args.repeats), '--budget',
           str(args.budget),
           # The parent's choice: every method measured with the same.
           '--threads', str(torch.get_num_threads())]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f'  {method}/{mode} failed: {proc.stderr.strip()[-300:]}',
              file=sys.stderr)
        return dict(skipped=f'failed (exit {proc.returncode})')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def layout_time(edge_index: torch.Tensor, num_nodes: int) -> float:
    from torch_geometric_gru import PackedLayout
    best = float('inf')
    for _ in range(3):
        t = time.perf_counter()
        PackedLayout.from_index(edge_index[1], num_nodes)
        best = min(best, time.perf_counter() - t)
    return best


# The tables ##################################################################


def fmt_time(t: Optional[float]) -> str:
    if t is None:
        return '—'
    return f'{t * 1e3:.1f} ms' if t < 10 else f'{t:.1f} s'


def fmt_mem(b: Optional[int]) -> str:
    if b is None:
        return '—'
    return f'{b / 2**20:.0f} MB' if b < 2**30 else f'{b / 2**30:.2f} GB'


def ratio(a, b) -> str:
    return '—' if a is None or b is None or b == 0 else f'{a / b:.1f}×'


def _get(row, key, field):
    value = row.get(key)
    if not value or 'skipped' in value:
        return None
    return value.get(field)


def render(results: List[Dict], rate: float, args) -> str:
    H, F = args.hidden, args.channels
    t, m = lambda r, k: _get(r, k, 'time'), lambda r, k: _get(r, k,
                                                              'peak_bytes')
    e = lambda r, k: _get(r, k, 'error')  # noqa: E731
    fe = lambda v: '—' if v is None else f'{v:.1e}'  # noqa: E731
    name = lambda r: GRAPHS[r['graph']]  # noqa: E731
    lines = [
        f'Machine: {machine()}; 2048³ fp32 matmul: {rate / 1e9:.0f} GFLOP/s.',
        f'Aggregations: F = {F} input channels, H = {H} hidden, fp32, one '
        f'GRU layer. Command: `python benchmarks/aggr_speed.py --graphs '
        f'{" ".join(r["graph"] for r in results)}`.', '',
        '**Forward** (inference, `torch.no_grad()`). Padding = '
        'N·max_degree/E, what PyG computes over what is needed; target = '
        '1.5 × padding; η = useful FLOP rate (E·6H(F+H) per forward) over '
        'the matmul rate; layout = building the packed layout (once per '
        'graph: it is cached); memory = peak RSS above the process before '
        'the call; error = max |out − per-node nn.GRU| over sampled nodes.',
        '', '| graph | N | E | max deg | padding | ours | PyG GRU | mean | '
        'speed-up vs PyG | target | η | layout | ours mem | PyG mem | '
        'mem ratio | ours error | PyG error |', '|' + '---|' * 17
    ]
    for r in results:
        ours, pyg = t(r, 'ours/forward'), t(r, 'pyg/forward')
        eta = (r['num_edges'] * 6 * H * (F + H) / ours / rate
               if ours else None)
        lines.append(
            f'| {name(r)} | {r["num_nodes"]:,} | {r["num_edges"]:,} | '
            f'{r["max_degree"]} | {r["padding"]:.1f} | {fmt_time(ours)} | '
            f'{fmt_time(pyg)} | {fmt_time(t(r, "mean/forward"))} | '
            f'{ratio(pyg, ours)} | {1.5 * r["padding"]:.0f}× | '
            f'{"—" if eta is None else f"{eta:.2f}"} | '
            f'{fmt_time(r["layout_time"])} | '
            f'{fmt_mem(m(r, "ours/forward"))} | '
            f'{fmt_mem(m(r, "pyg/forward"))} | '
            f'{ratio(m(r, "pyg/forward"), m(r, "ours/forward"))} | '
            f'{fe(e(r, "ours/forward"))} | {fe(e(r, "pyg/forward"))} |')
    lines += [
        '', '**Training step** (forward + backward; the messages require '
        'grad, so the input gradient is computed too). Step/fwd = training '
        'step over our inference forward.', '',
        '| graph | ours | step/fwd | PyG GRU | speed-up vs PyG | stock '
        'packed nn.GRU | vs stock | mean | ours mem | PyG mem | mem ratio |',
        '|' + '---|' * 11
    ]
    for r in results:
        ours, fwd = t(r, 'ours/train'), t(r, 'ours/forward')
        pyg, stock = t(r, 'pyg/train'), t(r, 'stock/train')
        lines.append(
            f'| {name(r)} | {fmt_time(ours)} | {ratio(ours, fwd)} | '
            f'{fmt_time(pyg)} | {ratio(pyg, ours)} | {fmt_time(stock)} | '
            f'{ratio(stock, ours)} | {fmt_time(t(r, "mean/train"))} | '
            f'{fmt_mem(m(r, "ours/train"))} | {fmt_mem(m(r, "pyg/train"))} '
            f'| {ratio(m(r, "pyg/train"), m(r, "ours/train"))} |')
    lines += [
        '', '**MinGRU** (`MinGRUAggregation`, same messages; a different '
        'model whose gates do not read the state: one projection of the '
        'E messages, then one fused scan pass per node).', '',
        '| graph | steps T | GRU forward | MinGRU forward | GRU / MinGRU | '
        'GRU train | MinGRU train | GRU / MinGRU | MinGRU mem (train) |',
        '|' + '---|' * 9
    ]
    for r in results:
        lines.append(
            f'| {name(r)} | {r["max_degree"]} | '
            f'{fmt_time(t(r, "ours/forward"))} | '
            f'{fmt_time(t(r, "mingru/forward"))} | '
            f'{ratio(t(r, "ours/forward"), t(r, "mingru/forward"))} | '
            f'{fmt_time(t(r, "ours/train"))} | '
            f'{fmt_time(t(r, "mingru/train"))} | '
            f'{ratio(t(r, "ours/train"), t(r, "mingru/train"))} | '
            f'{fmt_mem(m(r, "mingru/train"))} |')
    lines += [
        '', f'**GRUConv** on the graph\'s own node features (F_in; random '
        f'{F} for BA graphs), {H} channels. *hoisted*: `GRUConv` as shipped '
        '(W and the GRU\'s input projection act on the N nodes, gates are '
        'gathered per edge); *W_ih on edges*: the GRU projects the E '
        'gathered messages; *naive*: every edge gathers x_j and applies '
        'both maps. Training steps compute all parameter gradients (the '
        'input features of a first layer need none). Step/fwd: the hoisted '
        'conv\'s training step over its inference forward.', '',
        '| graph | F_in | hoisted fwd | W_ih on edges fwd | naive fwd | '
        'hoisted train | step/fwd | W_ih on edges train | naive train | '
        'hoisted mem (train) | naive mem (train) |', '|' + '---|' * 11
    ]
    for r in results:
        c = lambda k: t(r, k)  # noqa: E731
        lines.append(
            f'| {name(r)} | {r["in_channels"]} | '
            f'{fmt_time(c("conv/forward"))} | '
            f'{fmt_time(c("conv-wih-edges/forward"))} | '
            f'{fmt_time(c("conv-naive/forward"))} | '
            f'{fmt_time(c("conv/train"))} | '
            f'{ratio(c("conv/train"), c("conv/forward"))} | '
            f'{fmt_time(c("conv-wih-edges/train"))} | '
            f'{fmt_time(c("conv-naive/train"))} | '
            f'{fmt_mem(m(r, "conv/train"))} | '
            f'{fmt_mem(m(r, "conv-naive/train"))} |')
    skipped = sorted({
        f'{name(r)} {k}: {v["skipped"]}'
        for r in results for k, v in r.items()
        if isinstance(v, dict) and 'skipped' in v
    })
    if skipped:
        lines += ['', 'Not run: ' + '; '.join(skipped) + '.']
    return '\n'.join(lines) + '\n'


def plot(results: List[Dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method, label, marker in [
        ('ours', 'ours: GRUAggregation (exact, packed)', 'o'),
        ('pyg', 'PyG GRUAggregation (padded)', 's'),
        ('mingru', 'ours: MinGRUAggregation', '^'),
        ('mean', 'PyG MeanAggregation', 'v'),
    ]:
        pts = [(r['num_edges'], _get(r, f'{method}/forward', 'time'))
               for r in results]
        pts = [(e, t) for e, t in pts if t is not None]
        if pts:
            ax.loglog([e for e, _ in pts], [t for _, t in pts], marker,
                      label=label, linestyle='none')
    for r in results:
        y = _get(r, 'ours/forward', 'time')
        if y is not None:
            ax.annotate(r['graph'], (r['num_edges'], y),
                        textcoords='offset points', xytext=(5, 3),
                        fontsize=8)
    ax.set_xlabel('edges E')
    ax.set_ylabel('forward time (s)')
    ax.set_title('GRU aggregation, forward, 2-core CPU')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument('--graphs', nargs='+', default=['cora', 'proteins',
                                                        'pubmed', 'ba20k'],
                        choices=list(GRAPHS), help='graphs to measure on')
    parser.add_argument('--methods', nargs='+', default=AGGRS + CONVS,
                        choices=AGGRS + CONVS,
                        help='aggregations and convs to measure (see the '
                        'docstring)')
    parser.add_argument('--modes', nargs='+', default=['forward', 'train'],
                        choices=['forward', 'train'],
                        help='inference forward and/or training step')
    parser.add_argument('--channels', type=int, default=64,
                        help='message width F')
    parser.add_argument('--hidden', type=int, default=64,
                        help='GRU hidden size H')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed calls per measurement (the minimum is '
                        'reported)')
    parser.add_argument('--budget', type=float, default=20.0,
                        help='seconds of repeats per measurement')
    parser.add_argument('--max-pyg-gb', type=float, default=22.0,
                        help='skip PyG where its estimated peak memory '
                        '(measured: 6.5x its padded input in the forward, '
                        '12.5x in training) exceeds this')
    parser.add_argument('--max-stock-edges', type=int, default=250_000,
                        help='skip the stock packed GRU above this')
    parser.add_argument('--out', type=str, default=None,
                        help='write the tables here (.md) and the raw '
                        'figures beside it (.json)')
    parser.add_argument('--plot', type=str, default=None,
                        help='write the forward-time plot here (.png)')
    add_threads(parser)
    parser.add_argument('--child', nargs=3, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_threads(args)

    if args.child is not None:
        print(json.dumps(child(*args.child, args.channels, args.hidden,
                               args.repeats, args.budget)))
        return

    from tqdm import tqdm
    rate = matmul_rate()
    results: List[Dict] = []
    tmp_dir = tempfile.TemporaryDirectory(prefix='tggru-bench-')
    tmp = tmp_dir.name
    for name in args.graphs:
        graph = build_graph(name)
        path = osp.join(tmp, f'{name}.pt')
        torch.save(graph, path)
        edge_index, num_nodes = graph['edge_index'], graph['num_nodes']
        num_edges = edge_index.size(1)
        max_degree = int(torch.bincount(edge_index[1]).max())
        row = dict(graph=name, num_nodes=num_nodes, num_edges=num_edges,
                   max_degree=max_degree,
                   padding=num_nodes * max_degree / num_edges,
                   layout_time=layout_time(edge_index, num_nodes),
                   in_channels=(args.channels if graph['x'] is None else
                                graph['x'].size(1)))
        padded_gb = num_nodes * max_degree * args.channels * 4 / 2**30
        jobs = [(m, mode) for mode in args.modes for m in args.methods]
        for method, mode in tqdm(jobs, desc=name, leave=False):
            need_gb = padded_gb * (6.5 if mode == 'forward' else 12.5)
            if method == 'pyg' and need_gb > args.max_pyg_gb:
                row[f'{method}/{mode}'] = dict(
                    skipped=f'needs about {need_gb:.0f} GB')
            elif method == 'stock' and num_edges > args.max_stock_edges:
                row[f'{method}/{mode}'] = dict(skipped='too slow')
            else:
                row[f'{method}/{mode}'] = run_child(path, method, mode, args)
        results.append(row)
    rate = max(rate, matmul_rate())  # Measured before and after.
    tmp_dir.cleanup()

    report = render(results, rate, args)
    print(report)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(report)
        with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
            json.dump(dict(results=results, matmul_rate=rate), f, indent=1)
    if args.plot:
        plot(results, args.plot)


if __name__ == '__main__':
    main()
