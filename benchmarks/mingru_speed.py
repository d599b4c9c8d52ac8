r"""Speed of the minGRU conv against :class:`~torch_geometric.nn.SAGEConv`
(mean) on CPU: one layer, the graph's node features (random, :obj:`F = 64`,
on the synthetic graphs), :obj:`H = 64`.

* ``sage``: :class:`torch_geometric.nn.SAGEConv` (mean), the yardstick;
* ``mingru``: :class:`torch_geometric_gru.GRUConv` with ``cell='mingru'``.

Every measurement runs in a fresh process. ``forward`` is a no-grad
forward, ``train`` a forward and backward of a weighted sum (parameter
gradients; the input features need none, as in a model's first layer).
The minimum over the repeats is reported. Usage::

    python benchmarks/mingru_speed.py --graphs ba20k cora pubmed \
        --threads 1 --out mingru_speed.md
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time
from typing import Dict

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402

from options import EXACT_GRU, add_threads, set_threads  # noqa: E402

MODELS = {'sage': 'SAGEConv (mean)', 'mingru': "GRUConv (cell='mingru')"}
MODES = ('forward', 'train')


def child(graph: str, model: str, mode: str, channels: int, hidden: int,
          repeats: int) -> Dict:
    from aggr_speed import build_graph
    from torch_geometric.nn import SAGEConv

    from torch_geometric_gru import GRUConv

    data = build_graph(graph)
    edge_index, num_nodes = data['edge_index'], data['num_nodes']
    torch.manual_seed(0)
    x = data['x'] if data['x'] is not None else torch.randn(num_nodes,
                                                            channels)
    conv = (SAGEConv(x.size(1), hidden) if model == 'sage' else
            GRUConv(x.size(1), hidden, cell='mingru', **EXACT_GRU))
    weight = torch.randn(num_nodes, hidden)

    def step():
        if mode == 'forward':
            with torch.no_grad():
                return conv(x, edge_index)
        out = conv(x, edge_index)
        (out * weight).sum().backward()
        conv.zero_grad(set_to_none=True)

    step()  # Warm-up: caches, thread pools, the C++ extension.
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return dict(time=min(times), num_edges=edge_index.size(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--graphs', nargs='+', default=['ba20k', 'cora',
                                                   'pubmed'])
    p.add_argument('--models', nargs='+', default=list(MODELS),
                   choices=list(MODELS))
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    p.add_argument('--channels', type=int, default=64)
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--out', default=None)
    p.add_argument('--child', nargs=3, default=None, help=argparse.SUPPRESS)
    add_threads(p)
    args = p.parse_args()
    threads = set_threads(args)
    if args.child is not None:
        print(json.dumps(child(*args.child, args.channels, args.hidden,
                               args.repeats)))
        return
    results = {}
    for graph in args.graphs:
        for mode in args.modes:
            for model in args.models:
                cmd = [sys.executable, __file__, '--child', graph, model,
                       mode, '--channels', str(args.channels), '--hidden',
                       str(args.hidden), '--repeats', str(args.repeats),
                       '--threads', str(threads)]
                out = subprocess.run(cmd, capture_output=True, text=True,
                                     check=True).stdout
                results[graph, mode, model] = json.loads(
                    out.strip().splitlines()[-1])
                print(graph, mode, model, results[graph, mode, model],
                      file=sys.stderr, flush=True)
    lines = [f'Threads: {threads}.', '',
             '| graph | mode | SAGEConv (mean) | GRUConv (mingru) | ratio |',
             '|---|---|---|---|---|']
    for graph in args.graphs:
        for mode in args.modes:
            t = {m: results.get((graph, mode, m), {}).get('time')
                 for m in MODELS}
            ratio = (f"{t['mingru'] / t['sage']:.2f}x"
                     if t['sage'] and t['mingru'] else '-')
            fmt = lambda v: '-' if v is None else f'{v * 1e3:.1f} ms'  # noqa
            lines.append(f"| {graph} | {mode} | {fmt(t['sage'])} | "
                         f"{fmt(t['mingru'])} | {ratio} |")
    table = '\n'.join(lines)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
