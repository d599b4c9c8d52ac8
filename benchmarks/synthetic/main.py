r"""Where a sequence aggregator wins: node targets that are functions of the
multiset (or the sequence) of the neighbours' values, generated in code
(seeded, no files). Usage::

    python benchmarks/synthetic/main.py --out docs/results/synthetic.json

Every example is a star: a target node reads ``d`` leaf neighbours, each
holding a value in ``0..9`` (one-hot). Five *set* functions of the values
(``range``, ``variance``, ``distinct``: regression; ``second_smallest``,
``third_largest``: 10-way classification) and two *order* functions, of the
values read in the order of the leaves' node ids (``first``: the value of
the leaf with the smallest id; ``runs``: the number of maximal increasing
runs). Models are trained on stars of in-degree 3..8 and tested on the same
range and on degree 16..32 (does the aggregator extrapolate?).

Every aggregator sits in the same model (an MLP per message, the
aggregation, an MLP on the aggregate) with the same budget:

* ``gru-sorted``: ``GRUAggregation`` reading each neighbourhood sorted by
  value (``SortNeighbors`` with the value as key: a canonical order);
* ``gru-random``: ``GRUAggregation`` with a fresh random order at every
  training step and the average over 8 random orders at test (Janossy
  pooling, pi-SGD);
* ``gru-id``: ``GRUAggregation`` reading the id order (the order tasks);
* ``mingru-sorted``, ``mingru-id``: ``MinGRUAggregation`` (gates that do
  not read the state: the cheap cell) read as ``gru-sorted``, ``gru-id``;
* ``mean``, ``sum``, ``max``; ``pna``: PyG's ``DegreeScalerAggregation``
  over mean, min, max and std with the identity, amplification and
  attenuation scalers; ``pyg-gru``: PyG's padded ``GRUAggregation`` (edges
  sorted by value, as ``gru-sorted``).

Metrics: accuracy for classification; for regression, the MSE divided by
the variance of the targets of that test set (0: perfect; 1: as good as
predicting the mean). Chosen on validation (the epoch of best validation
score), reported on test; mean ± std over ``--seeds``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402
from tqdm import tqdm  # noqa: E402

from options import (  # noqa: E402
    add_conv_option,
    add_threads,
    description,
    plural,
    set_threads,
    stored_args,
)

NUM_VALUES = 10
TASKS = {
    # name: (kind, function of the values in id order)
    'range': ('regression', lambda v: float(max(v) - min(v))),
    'variance': ('regression',
                 lambda v: float(torch.tensor(v, dtype=torch.float).var(
                     unbiased=False))),
    'distinct': ('regression', lambda v: float(len(set(v)))),
    'second_smallest': ('classification', lambda v: sorted(v)[1]),
    'third_largest': ('classification', lambda v: sorted(v)[-3]),
    'first': ('classification', lambda v: v[0]),
    'runs': ('regression',
             lambda v: float(1 + sum(b <= a for a, b in zip(v, v[1:])))),
}
ORDER_TASKS = ('first', 'runs')
AGGRS = ['gru-sorted', 'gru-random', 'gru-id', 'mingru-sorted', 'mingru-id',
         'mean', 'sum', 'max', 'pna', 'pyg-gru']
SORTED = ('gru-sorted', 'mingru-sorted', 'pyg-gru')  # Read sorted by value.
ID_ORDER = ('gru-id', 'mingru-id')  # Read in id order (the order tasks).
AGGR_NAMES = {
    'gru-sorted': 'GRU, sorted by value',
    'gru-random': 'GRU, random orders (8 at test)',
    'gru-id': 'GRU, id order',
    'mingru-sorted': 'MinGRU, sorted by value',
    'mingru-id': 'MinGRU, id order',
    'mean': 'mean',
    'sum': 'sum',
    'max': 'max',
    'pna': 'PNA (mean/min/max/std, degree scalers)',
    'pyg-gru': "PyG's padded GRU, sorted by value",
}


# Data #######################################################################


def make_stars(num_stars: int, degrees: Tuple[int, int], seed: int) -> Dict:
    r"""A disjoint union of stars. Node ids are shuffled, so a target's
    leaves in id order are in a random order relative to their values.
    Returns the one-hot features, the edges (leaf -> target, grouped by
    target, in id order), the value of every edge's leaf, the target nodes
    and each target's values in id order."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(degrees[0], degrees[1] + 1, (num_stars, ),
                          generator=gen)
    num_nodes = int(sizes.sum()) + num_stars
    ids = torch.randperm(num_nodes, generator=gen)
    values = torch.randint(0, NUM_VALUES, (num_nodes, ), generator=gen)
    targets = ids[:num_stars]
    leaves = ids[num_stars:]
    dst = torch.repeat_interleave(targets, sizes)
    # Each target's leaves in increasing id order:
    key = dst * num_nodes + leaves
    perm = torch.argsort(key)
    src, dst = leaves[perm], dst[perm]
    x = F.one_hot(values, NUM_VALUES).float()
    x[targets] = 0.0
    seqs = [[] for _ in range(num_nodes)]
    for s, d in zip(src.tolist(), dst.tolist()):
        seqs[d].append(int(values[s]))
    return dict(x=x, edge_index=torch.stack([src, dst]), value=values[src],
                targets=targets, seqs=[seqs[t] for t in targets.tolist()],
                num_nodes=num_nodes, degree=sizes)


def labels(stars: Dict, task: str) -> Tensor:
    kind, fn = TASKS[task]
    ys = [fn(v) for v in stars['seqs']]
    return torch.tensor(ys, dtype=torch.long if kind == 'classification'
                        else torch.float)


def edges_for(aggr: str, stars: Dict, task: str) -> Tensor:
    r"""The edge order an aggregator reads: by value for the sorted GRUs,
    id order (as generated) otherwise; grouped by target either way."""
    edge_index = stars['edge_index']
    if aggr in SORTED and task not in ORDER_TASKS:
        key = edge_index[1] * NUM_VALUES + stars['value']
        edge_index = edge_index[:, torch.sort(key, stable=True).indices]
    return edge_index


# Models #####################################################################


def make_aggr(name: str, hidden: int, train_degree: Tensor,
              num_permutations: int, options: Optional[Dict] = None):
    options = options or {}
    from torch_geometric.nn.aggr import (
        DegreeScalerAggregation,
        MaxAggregation,
        MeanAggregation,
        SumAggregation,
    )
    from torch_geometric.nn.aggr import GRUAggregation as PyGGRU

    from torch_geometric_gru import GRUAggregation, MinGRUAggregation
    if name in ('gru-sorted', 'gru-id'):
        return GRUAggregation(hidden, **options), hidden
    if name in ('mingru-sorted', 'mingru-id'):
        return MinGRUAggregation(hidden, hidden, **options), hidden
    if name == 'gru-random':
        return GRUAggregation(hidden, shuffle=True,
                              num_permutations=num_permutations,
                              **options), hidden
    if name == 'pyg-gru':
        return PyGGRU(hidden, hidden), hidden
    if name == 'mean':
        return MeanAggregation(), hidden
    if name == 'sum':
        return SumAggregation(), hidden
    if name == 'max':
        return MaxAggregation(), hidden
    if name == 'pna':
        deg = torch.bincount(train_degree)
        aggr = DegreeScalerAggregation(
            ['mean', 'min', 'max', 'std'],
            ['identity', 'amplification', 'attenuation'], deg)
        return aggr, 12 * hidden
    raise ValueError(f"Unknown aggregator '{name}'")


class StarModel(torch.nn.Module):
    r"""An MLP per message, the aggregation, an MLP on the aggregate."""
    def __init__(self, aggr: torch.nn.Module, aggr_out: int, hidden: int,
                 out_channels: int):
        super().__init__()
        self.encode = torch.nn.Sequential(
            torch.nn.Linear(NUM_VALUES, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden))
        self.aggr = aggr
        self.head = torch.nn.Sequential(
            torch.nn.Linear(aggr_out, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, out_channels))

    def forward(self, x: Tensor, edge_index: Tensor, targets: Tensor,
                num_nodes: int) -> Tensor:
        msg = self.encode(x).index_select(0, edge_index[0])
        out = self.aggr(msg, edge_index[1], dim_size=num_nodes)
        return self.head(out.index_select(0, targets))


# Training ###################################################################


def score(out: Tensor, y: Tensor, kind: str) -> float:
    r"""Accuracy (classification) or MSE over the targets' variance."""
    if kind == 'classification':
        return float((out.argmax(-1) == y).float().mean())
    return float(F.mse_loss(out.view(-1), y) / y.var(unbiased=False))


def run_once(aggr_name: str, task: str, splits: Dict, args,
             seed: int) -> Dict:
    kind = TASKS[task][0]
    torch.manual_seed(seed)
    aggr, aggr_out = make_aggr(aggr_name, args.hidden,
                               splits['train']['degree'],
                               args.num_permutations, dict(args.option))
    model = StarModel(aggr, aggr_out, args.hidden,
                      NUM_VALUES if kind == 'classification' else 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    data = {}
    for name, stars in splits.items():
        data[name] = (stars['x'], edges_for(aggr_name, stars, task),
                      stars['targets'], stars['num_nodes'],
                      labels(stars, task))
    x, edge_index, targets, num_nodes, y = data['train']
    mean, std = (0.0, 1.0) if kind == 'classification' else (
        float(y.mean()), float(y.std()))

    def loss_of(out, y):
        if kind == 'classification':
            return F.cross_entropy(out, y)
        return F.mse_loss(out.view(-1), (y - mean) / std)

    def evaluate(name):
        model.eval()
        with torch.no_grad():
            xs, ei, tg, n, ys = data[name]
            out = model(xs, ei, tg, n)
        if kind == 'regression':
            out = out * std + mean
        return score(out, ys, kind)

    better = (lambda a, b: a > b) if kind == 'classification' else \
        (lambda a, b: a < b)
    best = None
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(targets.numel())
        for i in range(0, perm.numel(), args.batch_size):
            # A mini-batch of stars: their edges, in the order read.
            chunk = perm[i:i + args.batch_size]
            batch = targets[chunk]
            edges = edge_index[:, torch.isin(edge_index[1], batch)]
            optimizer.zero_grad()
            out = model(x, edges, batch, num_nodes)
            loss_of(out, y[chunk]).backward()
            optimizer.step()
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            val = evaluate('val')
            if best is None or better(val, best['val']):
                best = dict(val=val, test=evaluate('test'),
                            test_ood=evaluate('test_ood'), epoch=epoch)
    return best


def make_splits(args, seed: int) -> Dict:
    low = (3, 8)
    return dict(
        train=make_stars(args.num_train, low, seed),
        val=make_stars(args.num_eval, low, seed + 1000),
        test=make_stars(args.num_eval, low, seed + 2000),
        test_ood=make_stars(args.num_eval, tuple(args.ood_degrees),
                            seed + 3000),
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description(__doc__))
    p.add_argument('--tasks', nargs='+', default=list(TASKS),
                   choices=list(TASKS), help='target functions')
    add_conv_option(p, "a keyword argument of this package's "
                       "aggregations (gru-*, mingru-*)")
    p.add_argument('--aggrs', nargs='+', default=AGGRS, choices=AGGRS,
                   help='aggregators (gru-id and mingru-id run on the order '
                   'tasks only, gru-sorted, mingru-sorted and pyg-gru on the '
                   'set tasks only)')
    p.add_argument('--seeds', type=int, default=3,
                   help='runs per (task, aggregator); each draws its own '
                   'graphs and weights')
    p.add_argument('--epochs', type=int, default=60,
                   help='passes over the training stars')
    p.add_argument('--batch-size', type=int, default=256,
                   help='stars per optimiser step')
    p.add_argument('--lr', type=float, default=3e-3,
                   help='Adam learning rate')
    p.add_argument('--hidden', type=int, default=32,
                   help='width of the messages, the aggregate and the MLPs')
    p.add_argument('--num-train', type=int, default=4000,
                   help='training stars')
    p.add_argument('--num-eval', type=int, default=1000,
                   help='stars in each of the validation and test sets')
    p.add_argument('--ood-degrees', type=int, nargs=2, default=[16, 32],
                   help='in-degree range of the extrapolation test set')
    p.add_argument('--num-permutations', type=int, default=8,
                   help='random orders averaged at test by gru-random')
    p.add_argument('--eval-every', type=int, default=5,
                   help='epochs between validations (model selection)')
    p.add_argument('--out', default=None,
                   help='write the table and the raw results here (.json)')
    add_threads(p)
    return p


def applies(aggr: str, task: str) -> bool:
    if task in ORDER_TASKS:
        return aggr not in SORTED
    return aggr not in ID_ORDER


def summary(values: List[float], kind: str) -> str:
    t = torch.tensor(values, dtype=torch.double)
    scale = 100 if kind == 'classification' else 1
    digits = 1 if kind == 'classification' else 3
    if t.numel() == 1:
        return f'{float(t[0]) * scale:.{digits}f}'
    return (f'{float(t.mean()) * scale:.{digits}f} ± '
            f'{float(t.std()) * scale:.{digits}f}')


def render(results: Dict, args) -> str:
    lines = [
        f'Synthetic neighbourhood functions: {plural(args.seeds, "seed")}, '
        f'{args.epochs} epochs, train/val/test degree 3..8, extrapolation '
        f'degree {args.ood_degrees[0]}..{args.ood_degrees[1]}. '
        'Classification: accuracy (%); regression: MSE / variance of the '
        'targets (lower is better).'
        + ''.join(f' Option {k}={v!r}.' for k, v in args.option), ''
    ]
    for split, title in (('test', 'degree 3..8'),
                         ('test_ood', 'extrapolation')):
        tasks = [t for t in args.tasks if t in results]
        lines += [f'**Test, {title}**', '',
                  '| aggregator | ' + ' | '.join(tasks) + ' |',
                  '|' + '---|' * (len(tasks) + 1)]
        for aggr in args.aggrs:
            cells = []
            for task in tasks:
                runs = results[task].get(aggr)
                cells.append('—' if not runs else summary(
                    [r[split] for r in runs], TASKS[task][0]))
            lines.append(f'| {AGGR_NAMES[aggr]} | ' + ' | '.join(cells) +
                         ' |')
        lines.append('')
    return '\n'.join(lines)


def main(argv=None) -> Dict:
    args = parser().parse_args(argv)
    set_threads(args)
    jobs = [(t, a, s) for t in args.tasks for a in args.aggrs
            if applies(a, t) for s in range(args.seeds)]
    results: Dict[str, Dict[str, List[Dict]]] = {}
    splits = {s: make_splits(args, s) for s in range(args.seeds)}
    for task, aggr, seed in tqdm(jobs, desc='synthetic'):
        run = run_once(aggr, task, splits[seed], args, seed)
        results.setdefault(task, {}).setdefault(aggr, []).append(run)
    table = render(results, args)
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(args=stored_args(args), results=results), f)
        with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
            f.write(table)
    return results


if __name__ == '__main__':
    main()
