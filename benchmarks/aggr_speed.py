r"""Side-by-side speed, memory and exactness of GRU aggregation.

Compares, on the same graphs, inputs and GRU weights:

* ``ours``: :class:`torch_geometric_gru.GRUAggregation`;
* ``pyg``: :class:`torch_geometric.nn.aggr.GRUAggregation` (pads every node
  to the largest degree);
* ``stock``: our packed layout fed to PyTorch's own packed
  :class:`torch.nn.GRU` (exact, but its CPU backward is one small GEMM per
  step);
* ``mean``: :class:`torch_geometric.nn.aggr.MeanAggregation`, the floor.

Every measurement runs in a fresh process, so that its peak memory (RSS
above the process's RSS just before the call) is its own. Errors are the
largest absolute difference to an independent per-node loop of
:class:`torch.nn.GRU` on a sample of nodes (the highest-degree ones and a
random set). Usage::

    python benchmarks/aggr_speed.py --graphs cora pubmed proteins ba20k \
        --out docs/results/aggr_speed.md --plot docs/results/aggr_speed.png
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
from typing import Dict, List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

GRAPHS = {
    'cora': 'Cora',
    'citeseer': 'CiteSeer',
    'pubmed': 'PubMed',
    'proteins': 'PROTEINS (all 1113 graphs)',
    'ba20k': 'BA n=20k m=5',
    'ba100k': 'BA n=100k m=10',
}
METHODS = ['ours', 'pyg', 'stock', 'mean']


def build_graph(name: str) -> Dict:
    from datasets import barabasi_albert, load_dataset
    if name in ('cora', 'citeseer', 'pubmed'):
        data = load_dataset(GRAPHS[name])[0]
        edge_index, num_nodes = data.edge_index, data.num_nodes
    elif name == 'proteins':
        from torch_geometric.data import Batch
        dataset = load_dataset('PROTEINS')
        batch = Batch.from_data_list(list(dataset))
        edge_index, num_nodes = batch.edge_index, batch.num_nodes
    elif name == 'ba20k':
        edge_index, num_nodes = barabasi_albert(20_000, 5), 20_000
    elif name == 'ba100k':
        edge_index, num_nodes = barabasi_albert(100_000, 10), 100_000
    else:
        raise ValueError(f"Unknown graph '{name}'")
    # PyG's GRUAggregation needs edges sorted by destination; a stable sort
    # gives every method the same neighbour order.
    perm = torch.sort(edge_index[1], stable=True).indices
    return dict(edge_index=edge_index[:, perm], num_nodes=num_nodes)


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
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return (f'{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} '
            f'torch threads, torch {torch.__version__}, '
            f'Python {platform.python_version()}')


# The measurement, in a child process ########################################


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reference(gru, x, index, nodes) -> torch.Tensor:
    out = []
    for node in nodes.tolist():
        seq = x[index == node]
        if seq.size(0) == 0:
            out.append(x.new_zeros(gru.hidden_size))
        else:
            out.append(gru(seq.unsqueeze(0))[1].view(-1))
    return torch.stack(out)


def child(path: str, method: str, mode: str, channels: int, hidden: int,
          repeats: int, budget: float) -> Dict:
    from torch_geometric.nn.aggr import GRUAggregation as PyGGRU
    from torch_geometric.nn.aggr import MeanAggregation

    from torch_geometric_gru import GRUAggregation
    from torch_geometric_gru.recurrence import packed_gru

    graph = torch.load(path)
    edge_index, num_nodes = graph['edge_index'], graph['num_nodes']
    torch.manual_seed(0)
    x = torch.randn(num_nodes, channels)
    msg = x[edge_index[0]]
    index = edge_index[1]
    if mode == 'train':
        msg.requires_grad_()
    torch.manual_seed(1)
    reference_gru = PyGGRU(channels, hidden)  # The shared weights.
    weight = torch.randn(num_nodes, hidden if method != 'mean' else channels)

    if method == 'pyg':
        module = reference_gru
        run = lambda: module(msg, index, dim_size=num_nodes)  # noqa
    elif method == 'mean':
        module = MeanAggregation()
        run = lambda: module(msg, index, dim_size=num_nodes)  # noqa
    else:
        module = GRUAggregation(channels, hidden)
        module.load_state_dict(reference_gru.state_dict())
        if method == 'ours':
            run = lambda: module(msg, index, dim_size=num_nodes)  # noqa
        else:  # PyTorch's own packed GRU on our layout.

            def run():
                layout = module.layout(msg, index, dim_size=num_nodes)
                final = packed_gru(module.gru, layout, msg, layout.perm,
                                   cudnn=True)
                return layout.unpack_final(final)

    def step(run=run):
        if mode == 'forward':
            with torch.no_grad():
                return run()
        out = run()
        (out * weight).sum().backward()
        msg.grad = None
        return out

    # Warm up on a tiny graph first, so that one-time allocations (thread
    # pools, kernels) do not count as memory of the call.
    small = index < 64
    tiny_msg, tiny_index = msg.detach()[small].clone(), index[small].clone()
    tiny_weight = weight[:64]
    if mode == 'train':
        tiny_msg.requires_grad_()

    def tiny():
        out = module(tiny_msg, tiny_index, dim_size=64)
        if mode == 'train':
            (out * tiny_weight).sum().backward()

    if method == 'stock':
        tiny_layout = module.layout(tiny_msg, tiny_index, dim_size=64)
        with torch.set_grad_enabled(mode == 'train'):
            packed_gru(module.gru, tiny_layout, tiny_msg, tiny_layout.perm,
                       cudnn=True)
    with torch.set_grad_enabled(mode == 'train'):
        tiny()

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

    if method != 'mean':  # Max error on a sample of nodes.
        deg = torch.bincount(index, minlength=num_nodes)
        gen = torch.Generator().manual_seed(0)
        nodes = torch.cat([deg.topk(min(20, num_nodes)).indices,
                           torch.randint(0, num_nodes, (200, ),
                                         generator=gen)])
        with torch.no_grad():
            expected = _reference(reference_gru.gru, msg.detach(), index,
                                  nodes)
            result['error'] = float((out.detach()[nodes] -
                                     expected).abs().max())
    return result


def run_child(graph_path: str, method: str, mode: str,
              args: argparse.Namespace) -> Optional[Dict]:
    cmd = [sys.executable, osp.abspath(__file__), '--child', graph_path,
           method, mode, '--channels', str(args.channels), '--hidden',
           str(args.hidden), '--repeats', str(args.repeats), '--budget',
           str(args.budget)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f'  {method}/{mode} failed: {proc.stderr.strip()[-300:]}',
              file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# The table ###################################################################


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--graphs', nargs='+', default=['cora', 'proteins',
                                                        'pubmed', 'ba20k'],
                        choices=list(GRAPHS))
    parser.add_argument('--methods', nargs='+', default=METHODS,
                        choices=METHODS)
    parser.add_argument('--modes', nargs='+', default=['forward', 'train'],
                        choices=['forward', 'train'])
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--budget', type=float, default=20.0,
                        help='seconds of repeats per measurement')
    parser.add_argument('--max-pyg-gb', type=float, default=22.0,
                        help='skip PyG where its estimated peak memory '
                        '(measured: 6.5x its padded input in the forward, '
                        '12.5x in training) exceeds this')
    parser.add_argument('--max-stock-edges', type=int, default=250_000,
                        help='skip the stock packed GRU above this')
    parser.add_argument('--out', type=str, default=None)
    parser.add_argument('--plot', type=str, default=None)
    parser.add_argument('--child', nargs=3, default=None,
                        metavar=('GRAPH', 'METHOD', 'MODE'))
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(child(*args.child, args.channels, args.hidden,
                               args.repeats, args.budget)))
        return

    from tqdm import tqdm
    rate = matmul_rate()
    results: List[Dict] = []
    tmp = tempfile.mkdtemp(prefix='tggru-bench-')
    for name in args.graphs:
        graph = build_graph(name)
        path = osp.join(tmp, f'{name}.pt')
        torch.save(graph, path)
        edge_index, num_nodes = graph['edge_index'], graph['num_nodes']
        num_edges = edge_index.size(1)
        max_degree = int(torch.bincount(edge_index[1]).max())
        row = dict(graph=name, num_nodes=num_nodes, num_edges=num_edges,
                   max_degree=max_degree,
                   padding=num_nodes * max_degree / num_edges)
        padded_gb = num_nodes * max_degree * args.channels * 4 / 2**30
        jobs = [(m, mode) for mode in args.modes for m in args.methods]
        for method, mode in tqdm(jobs, desc=name, leave=False):
            need_gb = padded_gb * (6.5 if mode == 'forward' else 12.5)
            if method == 'pyg' and need_gb > args.max_pyg_gb:
                row[f'{method}/{mode}'] = dict(
                    skipped=f'needs about {need_gb:.0f} GB')
                continue
            if method == 'stock' and num_edges > args.max_stock_edges:
                row[f'{method}/{mode}'] = dict(skipped='too slow')
                continue
            row[f'{method}/{mode}'] = run_child(path, method, mode, args)
        results.append(row)
    rate = max(rate, matmul_rate())  # Measured before and after.

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


def _get(row, key, field):
    value = row.get(key)
    if not value or 'skipped' in value:
        return None
    return value.get(field)


def render(results: List[Dict], rate: float, args) -> str:
    H, F = args.hidden, args.channels
    lines = [
        f'Machine: {machine()}; 2048³ fp32 matmul: {rate / 1e9:.0f} GFLOP/s.',
        f'F = {F} input channels, H = {H} hidden, fp32, one GRU layer. '
        f'Command: `python benchmarks/aggr_speed.py '
        f'--graphs {" ".join(r["graph"] for r in results)}`.', '',
        '**Forward** (inference, `torch.no_grad()`). Padding = '
        'N·max_degree/E, what PyG computes over what is needed; '
        'η = useful FLOP rate (E·6H(F+H) per forward) over the matmul '
        'rate; memory = peak RSS above the process before the call; '
        'error = max |out − per-node nn.GRU| over sampled nodes.', '',
        '| graph | N | E | max deg | padding | ours | PyG GRU | mean | '
        'speed-up vs PyG | η | ours mem | PyG mem | mem ratio | ours error | '
        'PyG error |',
        '|' + '---|' * 15,
    ]
    for r in results:
        ours = _get(r, 'ours/forward', 'time')
        pyg = _get(r, 'pyg/forward', 'time')
        eta = (r['num_edges'] * 6 * H * (F + H) / ours / rate
               if ours else None)
        mo = _get(r, 'ours/forward', 'peak_bytes')
        mp = _get(r, 'pyg/forward', 'peak_bytes')
        eo = _get(r, 'ours/forward', 'error')
        ep = _get(r, 'pyg/forward', 'error')
        lines.append(
            f'| {GRAPHS[r["graph"]]} | {r["num_nodes"]:,} | '
            f'{r["num_edges"]:,} | {r["max_degree"]} | '
            f'{r["padding"]:.1f} | {fmt_time(ours)} | {fmt_time(pyg)} | '
            f'{fmt_time(_get(r, "mean/forward", "time"))} | '
            f'{ratio(pyg, ours)} | '
            f'{"—" if eta is None else f"{eta:.2f}"} | {fmt_mem(mo)} | '
            f'{fmt_mem(mp)} | {ratio(mp, mo)} | '
            f'{"—" if eo is None else f"{eo:.1e}"} | '
            f'{"—" if ep is None else f"{ep:.1e}"} |')
    if 'train' in args.modes:
        lines += [
            '', '**Training step** (forward + backward, messages require '
            'grad). Step/fwd = training step over our inference forward.',
            '', '| graph | ours | step/fwd | PyG GRU | speed-up vs PyG | '
            'stock packed nn.GRU | vs stock | mean | ours mem | PyG mem | '
            'mem ratio |', '|' + '---|' * 11
        ]
        for r in results:
            ours = _get(r, 'ours/train', 'time')
            fwd = _get(r, 'ours/forward', 'time')
            pyg = _get(r, 'pyg/train', 'time')
            stock = _get(r, 'stock/train', 'time')
            mo = _get(r, 'ours/train', 'peak_bytes')
            mp = _get(r, 'pyg/train', 'peak_bytes')
            lines.append(
                f'| {GRAPHS[r["graph"]]} | {fmt_time(ours)} | '
                f'{ratio(ours, fwd)} | {fmt_time(pyg)} | {ratio(pyg, ours)} '
                f'| {fmt_time(stock)} | {ratio(stock, ours)} | '
                f'{fmt_time(_get(r, "mean/train", "time"))} | '
                f'{fmt_mem(mo)} | {fmt_mem(mp)} | {ratio(mp, mo)} |')
    skipped = sorted({
        f'{GRAPHS[r["graph"]]} {k}: {v["skipped"]}'
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
    for method, label in [('ours', 'ours (exact, packed)'),
                          ('pyg', 'PyG GRUAggregation (padded)'),
                          ('mean', 'PyG MeanAggregation')]:
        pts = sorted((r['num_edges'], _get(r, f'{method}/forward', 'time'))
                     for r in results)
        pts = [(e, t) for e, t in pts if t is not None]
        if pts:
            ax.loglog([e for e, _ in pts], [t for _, t in pts], 'o',
                      label=label)
    for r in results:
        ax.annotate(r['graph'], (r['num_edges'],
                                 _get(r, 'ours/forward', 'time') or 1e-3),
                    textcoords='offset points', xytext=(4, -10), fontsize=8)
    ax.set_xlabel('edges E')
    ax.set_ylabel('forward time (s)')
    ax.set_title('GRU aggregation, forward, CPU')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == '__main__':
    main()
