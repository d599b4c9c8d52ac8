r"""What the layout cache's content check costs on a static graph: the
cache compares the index tensors of every call with the copies it built
its layout from (:func:`torch.equal`), so that writes PyTorch does not
track never yield a stale layout. This script times a cache hit (the
check) beside a whole :class:`GRUConv` forward on the same graph, in one
process, one thread by default.

    python benchmarks/cache_check.py --dataset PubMed
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import cpu_threads  # noqa: E402,F401  (before torch: sets the threads)

import torch  # noqa: E402

from aggr_speed import machine  # noqa: E402
from datasets import load_dataset  # noqa: E402
from torch_geometric_gru import GRUConv  # noqa: E402
from torch_geometric_gru.conv_parts import check_edge_range  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='PubMed')
    parser.add_argument('--root', default=None)
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=20)
    args = parser.parse_args()

    data = load_dataset(args.dataset, args.root)[0]
    conv = GRUConv(data.num_features, args.hidden)
    edge_index = data.edge_index
    cache = conv.aggr_module._layouts
    with torch.no_grad():
        conv(data.x, edge_index)  # Builds and caches the layout.
        forward = best_of(lambda: conv(data.x, edge_index), args.repeat)
    src, dst = edge_index
    num = edge_index.size(1)
    hit = best_of(lambda: cache.get(num, dst, dim_size=data.num_nodes,
                                    x_index=src, num_rows=data.num_nodes,
                                    validate=False), args.repeat)
    n = data.num_nodes
    check = best_of(lambda: check_edge_range(src, dst, n, n), args.repeat)
    print(f'{args.dataset}: {n} nodes, {num} edges, hidden {args.hidden}, '
          f'{machine()}')
    print('| what | ms | share of the forward |')
    print('|---|---|---|')
    print(f'| GRUConv forward (no grad) | {1e3 * forward:.2f} | 100% |')
    print(f'| cache hit (content check) | {1e3 * hit:.3f} | '
          f'{100 * hit / forward:.2f}% |')
    print(f'| range check of edge_index | {1e3 * check:.3f} | '
          f'{100 * check / forward:.2f}% |')


if __name__ == '__main__':
    main()
