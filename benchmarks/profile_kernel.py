r"""Where the time of :class:`torch_geometric_gru.GRUAggregation` goes on
CPU: a :mod:`torch.profiler` table of the kernel's phases and of the ATen
ops, for the forward (inference) or a training step. Usage::

    python benchmarks/profile_kernel.py --graph pubmed --mode train
    python benchmarks/profile_kernel.py --graph pubmed --mode train --no-cpp
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
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from aggr_speed import GRAPHS, build_graph  # noqa: E402
from options import add_threads, description, set_threads  # noqa: E402

from torch_geometric_gru import GRUAggregation  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument('--graph', default='pubmed', choices=list(GRAPHS),
                        help='the graph whose edges the GRU reads')
    parser.add_argument('--mode', default='train',
                        choices=['forward', 'train'],
                        help='inference forward, or forward + backward')
    parser.add_argument('--channels', type=int, default=64,
                        help='message width F')
    parser.add_argument('--hidden', type=int, default=64,
                        help='GRU hidden size H')
    parser.add_argument('--iterations', type=int, default=3,
                        help='profiled calls (after a warm-up)')
    parser.add_argument('--rows', type=int, default=25,
                        help='rows of the profiler table')
    parser.add_argument('--no-cpp', action='store_true',
                        help="the CPU kernel's Python step loops instead of "
                        'its C++ ones (sets TORCH_GEOMETRIC_GRU_CPP=0)')
    add_threads(parser)
    args = parser.parse_args()
    set_threads(args)
    if args.no_cpp:
        os.environ['TORCH_GEOMETRIC_GRU_CPP'] = '0'

    graph = build_graph(args.graph)
    edge_index, num_nodes = graph['edge_index'], graph['num_nodes']
    torch.manual_seed(0)
    msg = torch.randn(num_nodes, args.channels)[edge_index[0]]
    msg.requires_grad_(args.mode == 'train')
    aggr = GRUAggregation(args.channels, args.hidden)
    weight = torch.randn(num_nodes, args.hidden)

    def step():
        if args.mode == 'forward':
            with torch.no_grad():
                aggr(msg, edge_index[1], dim_size=num_nodes)
        else:
            aggr(msg, edge_index[1], dim_size=num_nodes).backward(weight)

    step()  # Builds the layout and fills the workspace.
    t = time.perf_counter()
    for _ in range(args.iterations):
        step()
    print(f'{args.graph}, {args.mode}: '
          f'{(time.perf_counter() - t) / args.iterations * 1e3:.1f} ms per '
          f'call without the profiler')
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.iterations):
            step()
    table = prof.key_averages()
    print(table.table(sort_by='cpu_time_total', row_limit=args.rows))


if __name__ == '__main__':
    main()
