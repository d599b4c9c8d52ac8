r"""The GPU check, in one script: the test suite on CUDA, then the
side-by-side benchmark of the aggregations on the GPU (ours through cuDNN,
PyG's padded GRU, mean), as a Markdown table with the card's name. Usage::

    python benchmarks/gpu_check.py --out gpu_check.md

Every measurement synchronises the device before and after; peak memory is
:func:`torch.cuda.max_memory_allocated` above the memory held before the
call. It exits with an error when no CUDA device is present.
"""
import argparse
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from aggr_speed import GRAPHS, build_graph, fmt_mem, fmt_time, ratio  # noqa


def measure(fn: Callable, repeats: int, budget: float) -> Dict:
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    times = [time.perf_counter() - t]
    peak = torch.cuda.max_memory_allocated() - base
    while len(times) < repeats + 1 and sum(times) < budget:
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return dict(time=min(times[1:] or times), peak_bytes=peak)


def bench_graph(name: str, args) -> Dict:
    from torch_geometric.nn.aggr import GRUAggregation as PyGGRU
    from torch_geometric.nn.aggr import MeanAggregation

    from torch_geometric_gru import GRUAggregation

    graph = build_graph(name)
    device = torch.device('cuda')
    edge_index = graph['edge_index'].to(device)
    num_nodes = graph['num_nodes']
    max_degree = int(torch.bincount(edge_index[1]).max())
    torch.manual_seed(0)
    msg = torch.randn(num_nodes, args.channels, device=device)[edge_index[0]]
    pyg = PyGGRU(args.channels, args.hidden).to(device)
    ours = GRUAggregation(args.channels, args.hidden).to(device)
    ours.load_state_dict(pyg.state_dict())
    mean = MeanAggregation()
    index = edge_index[1]
    row = dict(graph=name, num_nodes=num_nodes,
               num_edges=edge_index.size(1), max_degree=max_degree)
    padded_gb = num_nodes * max_degree * args.channels * 4 / 2**30
    free_gb = torch.cuda.mem_get_info()[0] / 2**30
    for label, module in [('ours', ours), ('pyg', pyg), ('mean', mean)]:
        for mode in ('forward', 'train'):
            if label == 'pyg' and padded_gb * (6.5 if mode == 'forward' else
                                               12.5) > 0.8 * free_gb:
                row[f'{label}/{mode}'] = None
                continue
            x = msg.detach().clone().requires_grad_(mode == 'train')

            def fn(module=module, x=x, mode=mode):
                if mode == 'forward':
                    with torch.no_grad():
                        return module(x, index, dim_size=num_nodes)
                out = module(x, index, dim_size=num_nodes)
                out.sum().backward()
                x.grad = None

            fn()  # Warm-up: cuDNN plans, the cached layout.
            row[f'{label}/{mode}'] = measure(fn, args.repeats, args.budget)
    with torch.no_grad():
        a = ours(msg, index, dim_size=num_nodes)
        ours.gru.cpu()
        b = ours(msg.cpu(), index.cpu(), dim_size=num_nodes)
        ours.gru.to(device)
    row['cpu_kernel_vs_cudnn'] = float((a.cpu() - b).abs().max())
    return row


def render(rows, args) -> str:
    props = torch.cuda.get_device_properties(0)
    t = lambda r, k: None if r.get(k) is None else r[k]['time']  # noqa
    m = lambda r, k: None if r.get(k) is None else r[k]['peak_bytes']  # noqa
    lines = [
        f'GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB; torch '
        f'{torch.__version__}, CUDA {torch.version.cuda}, cuDNN '
        f'{torch.backends.cudnn.version()}. F = {args.channels}, H = '
        f'{args.hidden}, fp32. Command: `python benchmarks/gpu_check.py`.',
        '', '| graph | E | max deg | ours fwd | PyG fwd | mean fwd | '
        'speed-up | ours train | PyG train | speed-up | ours mem (train) | '
        'PyG mem (train) | |ours − CPU kernel| |', '|' + '---|' * 13
    ]
    for r in rows:
        lines.append(
            f'| {GRAPHS[r["graph"]]} | {r["num_edges"]:,} | '
            f'{r["max_degree"]} | {fmt_time(t(r, "ours/forward"))} | '
            f'{fmt_time(t(r, "pyg/forward"))} | '
            f'{fmt_time(t(r, "mean/forward"))} | '
            f'{ratio(t(r, "pyg/forward"), t(r, "ours/forward"))} | '
            f'{fmt_time(t(r, "ours/train"))} | '
            f'{fmt_time(t(r, "pyg/train"))} | '
            f'{ratio(t(r, "pyg/train"), t(r, "ours/train"))} | '
            f'{fmt_mem(m(r, "ours/train"))} | {fmt_mem(m(r, "pyg/train"))} '
            f'| {r["cpu_kernel_vs_cudnn"]:.1e} |')
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--graphs', nargs='+',
                        default=['cora', 'pubmed', 'proteins', 'ba20k',
                                 'ba100k'], choices=list(GRAPHS))
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--budget', type=float, default=10.0)
    parser.add_argument('--skip-tests', action='store_true')
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit('No CUDA device: run this on a machine with a GPU.')

    if not args.skip_tests:  # The suite runs its CUDA cases on the GPU.
        root = osp.join(osp.dirname(osp.abspath(__file__)), '..')
        code = subprocess.call([sys.executable, '-m', 'pytest', '-q', '-x'],
                               cwd=root)
        print(f'pytest exit code: {code}')
    rows = [bench_graph(name, args) for name in args.graphs]
    report = render(rows, args)
    print(report)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(report)


if __name__ == '__main__':
    main()
