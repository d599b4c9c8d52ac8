r"""Mini-batch training at scale: a :class:`~torch_geometric.loader.
NeighborLoader` over a large power-law graph, the same sampled batches fed
to PyG's GraphSAGE (mean) and to the GRU models, with and without PyG's
hierarchical trimming.

The graph is generated in code (seeded, vectorised): a Chung-Lu graph whose
expected in- and out-degrees both follow a power law (:obj:`--exponent`),
with independent node rankings on the two sides, so that there are hubs of
high in-degree (long sequences for the GRU) and of high out-degree (nodes
sampled into many neighbourhoods). Multi-edges and self-loops are removed.

Models (:obj:`F` input features, :obj:`H` hidden channels in every layer,
a linear head to the classes; a training step with Adam on the seeds' loss):

* ``sage``: PyG's :class:`~torch_geometric.nn.models.GraphSAGE` (mean);
* ``gru``: :class:`torch_geometric_gru.GRUGNN` (a stack of
  :class:`~torch_geometric_gru.GRUConv`), each layer reading every in-edge
  in training too (:obj:`EXACT_GRU`, the layer before its defaults
  changed, as every earlier figure measured it);
* ``gru-defaults`` (on request): the same with :class:`GRUConv`'s defaults
  (each in-edge dropped from the GRU's sequences with probability 0.5 in
  training, the mean of the messages added, the learned scale), drawing
  the dropped in-edges from the layers' own generator (:obj:`seed=0`) so
  that the loader samples the same batches;
* ``mingru`` (on request): the same with :obj:`cell='mingru'` (the fused
  minGRU scan);
* ``sage-gru``: :class:`torch_geometric_gru.GRUGraphSAGE` (SAGEConv with a
  :class:`~torch_geometric_gru.GRUAggregation` per layer);
* ``sage-lstm`` (on request): PyG's GraphSAGE with ``aggr='lstm'`` (pads
  every node to the batch's largest in-degree).

The GRU models read every neighbourhood in the full graph's order
(:obj:`order=edge_order(batch)`). *Trimmed* rows pass
:obj:`num_sampled_nodes_per_hop` / :obj:`num_sampled_edges_per_hop`, so that
layer :obj:`i` only computes what the later layers read; the torch-sparse
sampler does not report these counts, so they are recovered from the
hop-ordered batch (:func:`torch_geometric_gru.hop_counts`).

Every (model, trimming) pair runs in its own process: it loads the graph the
parent generated, draws the same batches (same seed; the parent checks
their fingerprints) and measures, per batch after :obj:`--warmup` batches,
in CPU time of the process (one thread: robust to other work on a shared
machine; the step's wall time is reported beside it): the sampling time
(:obj:`next(iter(loader))`), the training step (forward, loss, backward,
optimizer step) and the packed layout of every layer's graph
(:meth:`torch_geometric_gru.PackedLayout.from_index` with the order, as
each GRU layer builds it once per batch). Medians over the batches are
reported. Usage::

    python benchmarks/scale.py --out docs/results/scale.md
    # The issue's sizes (200k nodes / 4M edges, 1M nodes / 20M edges):
    python benchmarks/scale.py --num-nodes 200000 --num-edges 4000000
    python benchmarks/scale.py --num-nodes 1000000 --num-edges 20000000
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
import warnings
from typing import Dict, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402
from options import EXACT_GRU  # noqa: E402

MODELS = {
    'sage': 'GraphSAGE (mean, PyG)',
    'gru': 'GRUGNN',
    'gru-defaults': 'GRUGNN (defaults)',
    'mingru': "GRUGNN(cell='mingru')",
    'sage-gru': 'GRUGraphSAGE',
    'sage-lstm': "GraphSAGE (PyG's LSTM aggr.)",
}
#: The models that build a packed layout per layer.
GRU_MODELS = ('gru', 'gru-defaults', 'mingru', 'sage-gru')


def power_law_graph(num_nodes: int, num_edges: int, exponent: float = 2.5,
                    seed: int = 0) -> torch.Tensor:
    r"""A seeded Chung-Lu graph with power-law in- and out-degrees.

    Both endpoints of each of :obj:`num_edges` draws are sampled by inverse
    transform from weights :math:`w_r \propto r^{-1/(\gamma - 1)}` (the
    expected degree of the node of rank :math:`r` for a degree exponent
    :math:`\gamma`), under independent random rankings for sources and
    destinations; duplicates and self-loops are then dropped, so the graph
    has somewhat fewer than :obj:`num_edges` edges. Returns the
    :obj:`edge_index` sorted by (source, destination)."""
    gen = torch.Generator().manual_seed(seed)
    rank = torch.arange(1, num_nodes + 1, dtype=torch.double)
    cdf = torch.cumsum(rank.pow(-1.0 / (exponent - 1.0)), 0)
    cdf /= cdf[-1].clone()
    ends = []
    for _ in range(2):  # Sources, then destinations: their own rankings.
        node_of_rank = torch.randperm(num_nodes, generator=gen)
        u = torch.rand(num_edges, generator=gen, dtype=torch.double)
        r = torch.searchsorted(cdf, u).clamp_(max=num_nodes - 1)
        ends.append(node_of_rank[r])
        del u, r
    key = torch.unique(ends[0] * num_nodes + ends[1])
    src, dst = key // num_nodes, key % num_nodes
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def machine() -> str:
    r"""The CPU as :obj:`lscpu` names it, the core count, and the
    versions."""
    import torch_geometric
    cpu, cores = platform.processor() or platform.machine(), os.cpu_count()
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True,
                             timeout=30).stdout
        fields = dict(line.split(':', 1) for line in out.splitlines()
                      if ':' in line)
        cpu = fields.get('Model name', cpu).strip()
        cores = int(fields.get('CPU(s)', cores))
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return (f'{cpu}, {cores} cores, 1 torch thread per process, torch '
            f'{torch.__version__}, PyG {torch_geometric.__version__}, '
            f'Python {platform.python_version()}')


# One (model, trimming) pair, in a child process ##############################


def build_model(name: str, in_channels: int, hidden: int, num_layers: int):
    if name == 'sage':
        from torch_geometric.nn.models import GraphSAGE
        return GraphSAGE(in_channels, hidden, num_layers)
    if name == 'gru':
        from torch_geometric_gru import GRUGNN
        return GRUGNN(in_channels, hidden, num_layers, **EXACT_GRU)
    if name == 'gru-defaults':
        # The in-edge draws from the layers' own generator (seed), not the
        # global one, which samples the batches: the same batches as the
        # other models'.
        from torch_geometric_gru import GRUGNN
        return GRUGNN(in_channels, hidden, num_layers, seed=0)
    if name == 'mingru':
        from torch_geometric_gru import GRUGNN
        return GRUGNN(in_channels, hidden, num_layers, cell='mingru',
                      **EXACT_GRU)
    if name == 'sage-gru':
        from torch_geometric_gru import GRUGraphSAGE
        return GRUGraphSAGE(in_channels, hidden, num_layers)
    if name == 'sage-lstm':
        # PyG's LSTM aggregation pads every node to the batch's largest
        # in-degree and needs destination-sorted edges (a sampled batch
        # has them).
        from torch_geometric.nn.models import GraphSAGE
        return GraphSAGE(in_channels, hidden, num_layers, aggr='lstm')
    raise ValueError(f"Unknown model '{name}' (choose from {list(MODELS)})")


def _layer_graphs(batch, num_layers: int, trim: bool,
                  nodes: Sequence[int], edges: Sequence[int]):
    r"""The (destination index, node count) of every layer's graph, as the
    layers see it (trimmed or not)."""
    dst = batch.edge_index[1]
    for i in range(num_layers):
        if trim and i > 0:
            yield dst[:sum(edges[:len(edges) - i])], \
                sum(nodes[:len(nodes) - i])
        else:
            yield dst, batch.num_nodes


def _median(values: Sequence[float]) -> float:
    return float(torch.tensor(values, dtype=torch.double).median())


def worker(spec: Dict) -> Dict:
    r"""Samples the batches and measures one model on them."""
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader

    from torch_geometric_gru import PackedLayout, edge_order, hop_counts
    torch.set_num_threads(1)
    edge_index = torch.load(spec['graph'])
    num_nodes = spec['num_nodes']
    gen = torch.Generator().manual_seed(spec['seed'])
    data = Data(edge_index=edge_index, num_nodes=num_nodes,
                x=torch.randn(num_nodes, spec['channels'], generator=gen),
                y=torch.randint(0, spec['classes'], (num_nodes, ),
                                generator=gen))
    num_layers = len(spec['num_neighbors'])
    with warnings.catch_warnings():  # torch-sparse's deprecation note.
        warnings.simplefilter('ignore')
        loader = NeighborLoader(data, num_neighbors=spec['num_neighbors'],
                                batch_size=spec['batch_size'], shuffle=True)
    torch.manual_seed(spec['seed'])
    model = build_model(spec['model'], spec['channels'], spec['hidden'],
                        num_layers)
    head = torch.nn.Linear(spec['hidden'], spec['classes'])
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=0.01)
    gru = spec['model'] in GRU_MODELS

    total = spec['warmup'] + spec['batches']
    rows = dict(sample=[], step=[], wall=[], layout=[], empty=[], nodes=[],
                edges=[], loss=[])
    fingerprint = 0
    # The batches draw from the global generator: seeded after the model's
    # initialisation, they are the same whatever the model.
    torch.manual_seed(spec['seed'] + 1)
    batches = iter(loader)
    progress = None
    if spec.get('progress'):
        from tqdm import tqdm
        progress = tqdm(total=total, desc=spec['label'], leave=False)
    for b in range(total):
        t = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            batch = next(batches)
        sample = time.process_time() - t
        fingerprint += int(batch.n_id.sum()) * (b + 1) + int(batch.e_id.sum())
        nodes, edges = hop_counts(batch, num_layers)
        kwargs = {}
        if spec['trim']:
            kwargs = dict(num_sampled_nodes_per_hop=nodes,
                          num_sampled_edges_per_hop=edges)
        order = edge_order(batch) if gru else None
        if gru:
            kwargs['order'] = order

        t, wall = time.process_time(), time.perf_counter()
        optimizer.zero_grad()
        out = model(batch.x, batch.edge_index, **kwargs)
        loss = torch.nn.functional.cross_entropy(
            head(out[:batch.batch_size]), batch.y[:batch.batch_size])
        loss.backward()
        optimizer.step()
        step = time.process_time() - t
        wall = time.perf_counter() - wall

        layout = 0.0
        if gru:  # Every GRU layer builds the layout of its graph once.
            for dst, size in _layer_graphs(batch, num_layers, spec['trim'],
                                           nodes, edges):
                t = time.process_time()
                PackedLayout.from_index(dst, size, order=order[:dst.numel()])
                layout += time.process_time() - t
        degree = torch.bincount(batch.edge_index[1],
                                minlength=batch.num_nodes)
        if b >= spec['warmup']:
            rows['sample'].append(sample)
            rows['step'].append(step)
            rows['wall'].append(wall)
            rows['layout'].append(layout)
            rows['empty'].append(float((degree == 0).double().mean()))
            rows['nodes'].append(batch.num_nodes)
            rows['edges'].append(batch.num_edges)
        rows['loss'].append(float(loss.detach()))
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    result = {key: _median(values) for key, values in rows.items()
              if key != 'loss'}
    result['loss'] = rows['loss']
    result['fingerprint'] = fingerprint
    result['peak_rss'] = resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


# The run: generate, measure each pair in a child, tabulate ##################


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description='Mini-batch training with NeighborLoader on a power-law '
        'graph: GraphSAGE (mean) against the GRU models, same batches, '
        'with and without trimming, each in its own process.')
    p.add_argument('--num-nodes', type=int, default=100_000)
    p.add_argument('--num-edges', type=int, default=2_000_000,
                   help='edges drawn (duplicates and self-loops are then '
                   'dropped)')
    p.add_argument('--exponent', type=float, default=2.5,
                   help='power-law exponent of the expected degrees')
    p.add_argument('--num-neighbors', type=int, nargs='+', default=[15, 10],
                   help='fan-out per hop (one hop per layer)')
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--channels', type=int, default=128,
                   help='input features F')
    p.add_argument('--hidden', type=int, default=256,
                   help='hidden channels H of every layer')
    p.add_argument('--classes', type=int, default=16)
    p.add_argument('--batches', type=int, default=3,
                   help='measured batches (after the warm-up)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--models', nargs='+',
                   default=['sage', 'gru', 'sage-gru'],
                   choices=list(MODELS))
    p.add_argument('--trim', nargs='+', default=['no', 'yes'],
                   choices=['no', 'yes'],
                   help='run without and/or with hierarchical trimming')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--timeout', type=int, default=3600,
                   help='seconds allowed to each child process')
    p.add_argument('--out', default=None,
                   help='also write the Markdown table here')
    p.add_argument('--in-process', action='store_true',
                   help='run the models one after another in this process '
                   '(no fresh process per model: faster to start, but peak '
                   'memory is cumulative and caches are shared)')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return p


def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f'{ms:,.0f} ms' if ms >= 100 else f'{ms:.1f} ms'


def table(args: argparse.Namespace, results: Dict, graph: Dict,
          command: str) -> str:
    first = next(iter(results.values()))
    lines = [
        f'Machine: {machine()}.',
        '',
        f'Graph: power law (exponent {args.exponent}), '
        f'{graph["num_nodes"]:,} nodes, {graph["num_edges"]:,} edges, '
        f'max in-degree {graph["max_in"]:,}, max out-degree '
        f'{graph["max_out"]:,}. NeighborLoader (torch-sparse sampler) '
        f'fan-out {args.num_neighbors}, batch {args.batch_size}, shuffled; '
        f'F = {args.channels}, H = {args.hidden}, '
        f'{len(args.num_neighbors)} layers + a linear head, Adam. '
        f'Medians over {args.batches} batches after {args.warmup} '
        f'warm-up; a batch has {first["nodes"]:,.0f} nodes and '
        f'{first["edges"]:,.0f} edges (medians). The run took '
        f'{graph["run_seconds"] / 60:.1f} min on the clock. '
        f'Command: `{command}`',
        '',
        '| model | trimmed | sampling | step | vs GraphSAGE (mean) | '
        'layout | layout / step | step (wall) | nodes without in-edges | '
        'peak RSS |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for (model, trim), r in results.items():
        base = results.get(('sage', trim))
        ratio = f'{r["step"] / base["step"]:.2f}×' if base else '—'
        layout = share = '—'
        if model in GRU_MODELS:  # With a layout.
            layout = _fmt_ms(r['layout'])
            share = f'{100 * r["layout"] / r["step"]:.1f}%'
        lines.append(
            f'| {MODELS[model]} | {trim} | {_fmt_ms(r["sample"])} | '
            f'{_fmt_ms(r["step"])} | {ratio} | {layout} | {share} | '
            f'{_fmt_ms(r["wall"])} | {100 * r["empty"]:.0f}% | '
            f'{r["peak_rss"] / 2**30:.2f} GB |')
    lines += [
        '',
        'Times are CPU times of the process (one thread, so they count '
        'its work whatever else runs on the machine); step (wall): the '
        'same step on the clock. '
        'Step: forward, loss on the seeds, backward, Adam step (the GRU '
        'models with `order=edge_order(batch)`). Ratios are against '
        'GraphSAGE (mean) with the same trimming. Layout: '
        '`PackedLayout.from_index(dst, num_nodes, order=...)` timed on '
        "every layer's graph of the same batch (each GRU layer builds one "
        'per batch), summed. Trimmed: `num_sampled_nodes_per_hop` / '
        '`num_sampled_edges_per_hop` recovered from the hop-ordered batch '
        '(the torch-sparse sampler does not report them). Nodes without '
        'in-edges: share of the sampled subgraph\'s nodes. Peak RSS: the '
        "child process's, graph included.",
    ]
    if args.in_process:
        lines.append('All models ran one after another in one process '
                     '(`--in-process`): peak RSS is cumulative.')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parser().parse_args(argv)
    if args.worker is not None:
        with open(args.worker) as f:
            spec = json.load(f)
        result = worker(spec)
        with open(spec['result'], 'w') as f:
            json.dump(result, f)
        return result

    from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE
    if not (WITH_PYG_LIB or WITH_TORCH_SPARSE):
        raise RuntimeError('NeighborLoader needs a sampler backend: pip '
                           'install torch-sparse (or pyg-lib), see PyG\'s '
                           'install guide')
    torch.set_num_threads(1)
    command = 'python benchmarks/scale.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    results: Dict = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='tggru-scale-') as tmp:
        t = time.perf_counter()
        edge_index = power_law_graph(args.num_nodes, args.num_edges,
                                     args.exponent, args.seed)
        graph = dict(
            num_nodes=args.num_nodes, num_edges=edge_index.size(1),
            max_in=int(torch.bincount(edge_index[1]).max()),
            max_out=int(torch.bincount(edge_index[0]).max()),
            seconds=time.perf_counter() - t)
        path = osp.join(tmp, 'graph.pt')
        torch.save(edge_index, path)
        del edge_index
        pairs = [(m, trim) for m in args.models for trim in args.trim]
        env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
        root = osp.join(osp.dirname(osp.abspath(__file__)), '..')
        env['PYTHONPATH'] = os.pathsep.join(
            [root] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                      if p])
        iterator = pairs
        if not args.no_progress:
            from tqdm import tqdm
            iterator = tqdm(pairs, desc='models')
        for model, trim in iterator:
            name = f'{model}-{trim}'
            spec = dict(vars(args), graph=path, model=model,
                        trim=trim == 'yes', label=name,
                        progress=not args.no_progress,
                        result=osp.join(tmp, f'{name}.json'))
            if args.in_process:
                results[(model, trim)] = worker(spec)
                continue
            spec_path = osp.join(tmp, f'{name}.spec.json')
            with open(spec_path, 'w') as f:
                json.dump(spec, f)
            subprocess.run([sys.executable, osp.abspath(__file__),
                            '--worker', spec_path], check=True, env=env,
                           timeout=args.timeout)
            with open(spec['result']) as f:
                results[(model, trim)] = json.load(f)
    prints = {r['fingerprint'] for r in results.values()}
    if len(prints) != 1:
        raise RuntimeError('The processes sampled different batches')
    graph['run_seconds'] = time.perf_counter() - start
    text = table(args, results, graph, command)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    return dict(graph=graph, results=results, table=text)


if __name__ == '__main__':
    main()
