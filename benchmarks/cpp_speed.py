r"""The CPU kernel's C++ step loops against its Python loops, side by side
in one process: :class:`torch_geometric_gru.GRUAggregation` (F = H = 64 by
default), a no-grad forward and a training step (forward + backward), the
two paths interleaved call by call so that a busy machine slows both alike;
the best of :obj:`--repeats` calls each, in wall-clock time and in the
process's CPU time (which a machine shared with other work inflates less:
with one thread, the time the process actually ran). Also checks that both
paths give the same output. Usage::

    OMP_NUM_THREADS=1 python benchmarks/cpp_speed.py --graphs cora pubmed \
        --threads 1
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402


from aggr_speed import GRAPHS, build_graph, machine  # noqa: E402
from options import add_threads, description, set_threads  # noqa: E402

from torch_geometric_gru import GRUAggregation  # noqa: E402
from torch_geometric_gru.ops import cpp  # noqa: E402

PATHS = {'python': '0', 'cpp': '1'}


def measure(name: str, args: argparse.Namespace) -> dict:
    graph = build_graph(name)
    edge_index, num_nodes = graph['edge_index'], graph['num_nodes']
    index = edge_index[1]
    torch.manual_seed(0)
    msg = torch.randn(num_nodes, args.channels)[edge_index[0]]
    msg.requires_grad_()
    aggr = GRUAggregation(args.channels, args.hidden)
    weight = torch.randn(num_nodes, args.hidden)

    def forward():
        with torch.no_grad():
            return aggr(msg, index, dim_size=num_nodes)

    def train():
        aggr(msg, index, dim_size=num_nodes).backward(weight)
        msg.grad = None
        aggr.zero_grad()

    best, cpu = {}, {}
    outs = {}
    for path, flag in PATHS.items():  # Warm-up, and the outputs.
        os.environ[cpp.ENV] = flag
        outs[path] = forward()
        train()
    for _ in range(args.repeats):
        for mode, fn in (('forward', forward), ('train', train)):
            for path, flag in PATHS.items():
                os.environ[cpp.ENV] = flag
                t, c = time.perf_counter(), time.process_time()
                fn()
                t, c = time.perf_counter() - t, time.process_time() - c
                best[mode, path] = min(best.get((mode, path), t), t)
                cpu[mode, path] = min(cpu.get((mode, path), c), c)
    diff = float((outs['python'] - outs['cpp']).abs().max())
    return dict(graph=name, edges=edge_index.size(1), best=best, cpu=cpu,
                diff=diff)


def render(results, args) -> str:
    lines = [f'Machine: {machine()}. F = {args.channels}, H = '
             f'{args.hidden}, float32, best of {args.repeats} interleaved '
             f'calls.', '',
             '| graph | edges | mode | Python loops | C++ loops | speed-up |'
             ' CPU time: Python | C++ | speed-up | max abs. diff. |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in results:
        for mode in ('forward', 'train'):
            cells = []
            for key in ('best', 'cpu'):
                py, cc = r[key][mode, 'python'], r[key][mode, 'cpp']
                cells.append(f'{py * 1e3:.1f} ms | {cc * 1e3:.1f} ms | '
                             f'{py / cc:.2f}×')
            lines.append(f"| {GRAPHS[r['graph']]} | {r['edges']:,} | "
                         f"{mode} | {' | '.join(cells)} | {r['diff']:.1e} |")
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument('--graphs', nargs='+', default=['cora', 'pubmed'],
                        choices=list(GRAPHS))
    parser.add_argument('--channels', type=int, default=64,
                        help='message width F')
    parser.add_argument('--hidden', type=int, default=64,
                        help='GRU hidden size H')
    parser.add_argument('--repeats', type=int, default=10,
                        help='timed calls per path and mode')
    add_threads(parser)
    args = parser.parse_args()
    set_threads(args)
    t = time.perf_counter()
    if not cpp.is_available():
        sys.exit('The C++ kernel is not available here (see the warning).')
    print(f'C++ kernel built or loaded in {time.perf_counter() - t:.1f} s',
          file=sys.stderr)
    results = [measure(name, args) for name in args.graphs]
    print(render(results, args))


if __name__ == '__main__':
    main()
