r"""What the layout cache's content check costs on a static graph: the
cache compares the index tensors of every call with the copies it built
its layout from (:func:`torch.equal`), so that writes PyTorch does not
track never yield a stale layout. This script times a cache hit (the
check) beside a whole :class:`GRUConv` forward on the same graph, in one
process, one thread by default.

    python benchmarks/cache_check.py --dataset PubMed

With :obj:`--sparse-nodes N`, it also times the forward on a
Barabási-Albert graph of :obj:`N` nodes (10 edges each way per new node)
given as :obj:`edge_index`, as a :class:`torch_sparse.SparseTensor` and as
:obj:`torch.sparse` CSR and COO tensors: every adjacency type hits the
layout cache.

    python benchmarks/cache_check.py --dataset PubMed --sparse-nodes 50000
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
from options import EXACT_GRU, set_threads  # noqa: E402
from torch_geometric_gru import GRUConv  # noqa: E402
from torch_geometric_gru.conv.inputs import check_edge_range  # noqa: E402


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
    parser.add_argument('--sparse-nodes', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default: 1)')
    args = parser.parse_args()
    set_threads(args)

    data = load_dataset(args.dataset, args.root)[0]
    conv = GRUConv(data.num_features, args.hidden, **EXACT_GRU)
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
    if args.sparse_nodes:
        adjacency_types(args.sparse_nodes, args.hidden)


def adjacency_types(num_nodes: int, hidden: int) -> None:
    from torch_geometric.typing import SparseTensor

    from datasets import barabasi_albert
    edge_index = barabasi_albert(num_nodes, 10)
    x = torch.randn(num_nodes, hidden)
    conv = GRUConv(hidden, hidden, **EXACT_GRU)
    adj = torch.sparse_coo_tensor(edge_index.flip(0),
                                  torch.ones(edge_index.size(1)),
                                  (num_nodes, num_nodes)).coalesce()
    # A torch.sparse tensor always holds values, read as edge weights:
    # compared with edge_index and edge weights; a SparseTensor without
    # values with edge_index alone.
    ones = torch.ones(edge_index.size(1))
    inputs = [('edge_index', (edge_index, )),
              ('edge_index, edge_weight', (edge_index, None, None, ones)),
              ('torch.sparse COO (values: weights)', (adj, )),
              ('torch.sparse CSR (values: weights)', (adj.to_sparse_csr(), ))]
    if SparseTensor is not None:
        inputs.append(('SparseTensor (no values)', (
            SparseTensor.from_edge_index(
                edge_index, sparse_sizes=(num_nodes, num_nodes)).t(), )))
    print(f'\nBarabasi-Albert, {num_nodes} nodes, {edge_index.size(1)} '
          f'edges, GRUConv({hidden}, {hidden}), no grad, best of 3 after '
          f'a first call')
    print('| adjacency | first call (s) | later calls (s) |')
    print('|---|---|---|')
    for name, adjacency in inputs:
        conv.aggr_module._layouts.clear()
        with torch.no_grad():
            first = best_of(lambda: conv(x, *adjacency), 1)
            later = best_of(lambda: conv(x, *adjacency), 3)
        print(f'| {name} | {first:.3f} | {later:.3f} |')


if __name__ == '__main__':
    main()
