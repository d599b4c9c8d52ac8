r"""Node classification on Minesweeper and Tolokers (Platonov et al., ICLR
2023), where the neighbours have a spatial order (Minesweeper: a 100 x 100
grid with row-major ids) or long, skewed neighbourhoods (Tolokers: a hub of
2,138 in-edges), with the paper's protocol: its 10 given splits, ROC-AUC,
and one model template for every aggregation. Usage::

    python benchmarks/heterophilous/main.py --dataset Minesweeper \
        --models gru-id sage gcn gat-sep \
        --out docs/results/heterophilous/minesweeper_main.json

The template (the paper's, ``model.py`` of yandex-research/
heterophilous-graphs): node features -> linear -> dropout -> GELU ->
``--layers`` residual blocks -> LayerNorm -> linear, where a block is
``x + FF(concat(LN(x), AGG(LN(x))))`` with a separate self path (``-sep``)
and FF = linear (2d -> d) -> dropout -> GELU -> linear -> dropout. Only
``AGG`` differs between the models:

* ``gru-id``, ``gru-degree``: ``GRUConv`` (no root term) reading each
  node's neighbours in id order (on Minesweeper: NW, N, NE, W, E, SW, S,
  SE) or by increasing degree;
* ``mingru-id``: ``GRUConv(cell='mingru')`` (no root term), the cheap
  cell whose gates do not read the state, in id order;
* ``gru-shuffle``: ``GRUConv`` on random orders in training and the
  average of ``--num-permutations`` random orders at test;
* ``sage``: the mean; ``gcn``: the symmetrically normalised sum;
  ``gat-sep``: ``GATConv`` attention (one head, no self-loops);
* ``sage-multi``: the mean concatenated with ``GRUAggregation`` in id
  order (PyG's ``MultiAggregation``).

The test ROC-AUC of the epoch with the best validation ROC-AUC, mean ± std
over the splits; the published figures (the paper's tuned models: 512
hidden, 5 blocks, 1000 epochs) are printed beside ours.

With :obj:`--batch-size`, training is mini-batch instead: an epoch is one
pass of a shuffled :class:`~torch_geometric.loader.NeighborLoader` over
the training nodes (:obj:`--num-neighbors` per block), the loss is taken on
each batch's seeds, and every sampled neighbourhood is read in the full
graph's order (:func:`torch_geometric_gru.edge_order`); validation and
test run full-batch as before, so the two ways of training compare on the
same footing::

    python benchmarks/heterophilous/main.py --dataset Tolokers \
        --models gru-id sage --layers 2 --batch-size 1024 \
        --num-neighbors 15 10 --out docs/results/heterophilous/t.json
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import warnings
from typing import Dict

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402
from tqdm import tqdm  # noqa: E402

from datasets import load_dataset  # noqa: E402
from options import (  # noqa: E402
    EXACT_GRU,
    add_conv_option,
    add_device,
    add_threads,
    description,
    fmt_accuracy,
    plural,
    set_threads,
    stored_args,
    wait_for,
)

from torch_geometric_gru import edge_order  # noqa: E402
from torch_geometric_gru.transforms import SortNeighbors  # noqa: E402

MODELS = {
    'gru-id': 'GRUConv, id order',
    'gru-degree': 'GRUConv, degree order',
    'gru-shuffle': 'GRUConv, random orders',
    'mingru-id': "GRUConv(cell='mingru'), id order",
    'sage': 'SAGE (mean)',
    'gcn': 'GCN',
    'gat-sep': 'GAT-sep',
    'sage-multi': 'SAGE (mean + GRU, id order)',
}
# ROC-AUC (mean ± std over the 10 splits), Platonov et al. 2023:
PUBLISHED = {
    'Minesweeper': {'GraphSAGE': '93.51 ± 0.57', 'GCN': '89.75 ± 0.52',
                    'GAT': '92.01 ± 0.68', 'GAT-sep': '93.91 ± 0.35',
                    'ResNet': '50.89 ± 1.39'},
    'Tolokers': {'GraphSAGE': '82.43 ± 0.44', 'GCN': '83.64 ± 0.67',
                 'GAT': '83.70 ± 0.47', 'GAT-sep': '83.78 ± 0.43',
                 'ResNet': '72.95 ± 1.06'},
}


def roc_auc(score: Tensor, y: Tensor) -> float:
    r"""The area under the ROC curve (the Mann-Whitney statistic, ties
    counted half), as :func:`sklearn.metrics.roc_auc_score`."""
    score, y = score.double(), y.bool()
    order = torch.argsort(score)
    ranks = torch.empty_like(score)
    sorted_score = score[order]
    # Average ranks over ties:
    unique, inverse, counts = torch.unique_consecutive(
        sorted_score, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg = ends - (counts.double() - 1) / 2
    ranks[order] = avg[inverse]
    pos, neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


class Aggregate(torch.nn.Module):
    r"""The neighbourhood aggregation of one block, :math:`d \to d`."""
    def __init__(self, name: str, dim: int, num_permutations: int,
                 bidirectional: bool = False, options: Dict = None):
        super().__init__()
        from torch_geometric.nn import GATConv, GCNConv
        from torch_geometric.nn.aggr import MultiAggregation

        from torch_geometric_gru import GRUAggregation, GRUConv
        self.name = name
        if name.startswith('gru'):
            shuffle = name == 'gru-shuffle'
            self.op = GRUConv(dim, dim, root_weight=False, bias=False,
                              bidirectional=bidirectional, shuffle=shuffle,
                              num_permutations=num_permutations
                              if shuffle else 1,
                              **{**EXACT_GRU, **(options or {})})
        elif name == 'mingru-id':
            # One direction only: GRUConv refuses --bidirectional here.
            self.op = GRUConv(dim, dim, root_weight=False, bias=False,
                              bidirectional=bidirectional, cell='mingru',
                              **{**EXACT_GRU, **(options or {})})
        elif name == 'gcn':
            self.op = GCNConv(dim, dim, bias=False)
        elif name == 'gat-sep':
            self.op = GATConv(dim, dim, heads=1, add_self_loops=False,
                              bias=False)
        elif name == 'sage-multi':
            self.op = MultiAggregation(
                [GRUAggregation(dim), 'mean'], mode='proj',
                mode_kwargs=dict(in_channels=dim, out_channels=dim))
        elif name != 'sage':
            raise ValueError(f"Unknown model '{name}'")

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        src, dst = edge_index
        if self.name == 'sage':
            from torch_geometric.utils import scatter
            return scatter(x[src], dst, 0, x.size(0), reduce='mean')
        if self.name == 'sage-multi':
            return self.op(x[src], dst, dim_size=x.size(0))
        return self.op(x, edge_index)


class Block(torch.nn.Module):
    def __init__(self, name: str, dim: int, dropout: float,
                 num_permutations: int, bidirectional: bool = False,
                 options: Dict = None):
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.aggr = Aggregate(name, dim, num_permutations, bidirectional,
                              options)
        self.lin1 = torch.nn.Linear(2 * dim, dim)
        self.lin2 = torch.nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = self.norm(x)
        h = torch.cat([h, self.aggr(h, edge_index)], dim=-1)
        h = F.dropout(self.lin1(h), self.dropout, self.training)
        h = F.dropout(self.lin2(F.gelu(h)), self.dropout, self.training)
        return x + h


class Net(torch.nn.Module):
    def __init__(self, name: str, in_channels: int, dim: int, layers: int,
                 dropout: float, num_permutations: int,
                 bidirectional: bool = False, options: Dict = None):
        super().__init__()
        self.input = torch.nn.Linear(in_channels, dim)
        self.blocks = torch.nn.ModuleList([
            Block(name, dim, dropout, num_permutations, bidirectional,
                  options)
            for _ in range(layers)
        ])
        self.norm = torch.nn.LayerNorm(dim)
        self.output = torch.nn.Linear(dim, 1)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.gelu(F.dropout(self.input(x), self.dropout, self.training))
        for block in self.blocks:
            x = block(x, edge_index)
        return self.output(self.norm(x)).view(-1)


def neighbor_batches(data, edge_index: Tensor, train: Tensor, args):
    r"""A shuffled :class:`~torch_geometric.loader.NeighborLoader` over the
    training nodes of :obj:`data` with its edges in the order of
    :obj:`edge_index` (each batch's :obj:`e_id` refers to it)."""
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader
    graph = Data(x=data.x, y=data.y, edge_index=edge_index,
                 num_nodes=data.num_nodes)
    with warnings.catch_warnings():  # torch-sparse's deprecation note.
        warnings.simplefilter('ignore')
        return NeighborLoader(graph, num_neighbors=args.num_neighbors,
                              batch_size=args.batch_size, input_nodes=train,
                              shuffle=True)


def train_epoch(model, optimizer, data, edge_index: Tensor, y: Tensor,
                train: Tensor, loader) -> int:
    r"""One epoch: a full-batch step, or a step per batch of
    :obj:`loader`. Returns the number of steps."""
    model.train()
    if loader is None:
        optimizer.zero_grad()
        out = model(data.x, edge_index)
        F.binary_cross_entropy_with_logits(out[train], y[train]).backward()
        optimizer.step()
        return 1
    steps = 0
    for batch in loader:
        batch = batch.to(data.x.device)
        # The full graph's order within every sampled neighbourhood:
        perm = edge_order(batch).argsort()
        optimizer.zero_grad()
        out = model(batch.x, batch.edge_index[:, perm])[:batch.batch_size]
        y_seed = batch.y[:batch.batch_size].float()
        F.binary_cross_entropy_with_logits(out, y_seed).backward()
        optimizer.step()
        steps += 1
    return steps


def run_split(name: str, data, edge_index: Tensor, split: int,
              args) -> Dict:
    train = data.train_mask[:, split]
    val, test = data.val_mask[:, split], data.test_mask[:, split]
    torch.manual_seed(args.seed + split)
    model = Net(name, data.num_features, args.hidden, args.layers,
                args.dropout, args.num_permutations,
                args.bidirectional, dict(args.option)).to(data.x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    y = data.y.float()
    loader = None
    if args.batch_size is not None:
        loader = neighbor_batches(data.cpu(), edge_index.cpu(), train.cpu(),
                                  args)
    best = dict(val=-1.0)
    train_time = 0.0
    steps = 0
    for epoch in range(1, args.epochs + 1):
        t = time.perf_counter()
        steps += train_epoch(model, optimizer, data, edge_index, y, train,
                             loader)
        wait_for(data.x.device)
        train_time += time.perf_counter() - t
        if epoch % args.eval_every and epoch != args.epochs:
            continue
        model.eval()
        with torch.no_grad():
            out = model(data.x, edge_index)
        score = roc_auc(out[val], data.y[val])
        if score > best['val']:
            best = dict(val=score, test=roc_auc(out[test], data.y[test]),
                        epoch=epoch)
    return dict(best, epoch_time=train_time / args.epochs,
                steps_per_epoch=steps / args.epochs)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description(__doc__))
    p.add_argument('--dataset', default='Minesweeper',
                   choices=['Minesweeper', 'Tolokers'],
                   help='the dataset (PyG HeterophilousGraphDataset)')
    p.add_argument('--models', nargs='+', default=list(MODELS),
                   choices=list(MODELS), help='aggregations to compare')
    p.add_argument('--splits', type=int, nargs='+', default=list(range(10)),
                   help='which of the 10 given splits to run')
    p.add_argument('--epochs', type=int, default=300,
                   help='full-batch training epochs per split')
    p.add_argument('--lr', type=float, default=1e-3,
                   help='Adam learning rate')
    p.add_argument('--hidden', type=int, default=64,
                   help='width of the residual stream')
    p.add_argument('--layers', type=int, default=3,
                   help='residual blocks')
    p.add_argument('--dropout', type=float, default=0.2,
                   help='dropout in the input and the feed-forward layers')
    p.add_argument('--num-permutations', type=int, default=4,
                   help='random orders averaged at test by gru-shuffle')
    add_conv_option(p, "a keyword argument of the GRU models' GRUConv")
    p.add_argument('--bidirectional', action='store_true',
                   help='the GRU models read every neighbourhood in both '
                   'directions')
    p.add_argument('--batch-size', type=int, default=None,
                   help='train mini-batch: seeds per NeighborLoader batch '
                   '(default: full-batch training)')
    p.add_argument('--num-neighbors', type=int, nargs='+', default=None,
                   help='with --batch-size: neighbours sampled per node in '
                   'each block, one value per block (default: 15, then 10)')
    p.add_argument('--eval-every', type=int, default=5,
                   help='epochs between validations (model selection)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of split 0 (split s uses seed + s)')
    add_device(p)
    p.add_argument('--root', default=None,
                   help="a folder holding the dataset's raw files (see "
                   'benchmarks/README.md)')
    p.add_argument('--out', default=None,
                   help='write the table and the raw results here (.json)')
    add_threads(p)
    return p


def main(argv=None) -> Dict:
    args = parser().parse_args(argv)
    check_batching(args)
    set_threads(args)
    data = load_dataset(args.dataset, source=args.root)[0]
    orders = {
        'id': SortNeighbors('id')(data.clone()).edge_index,
        'degree': SortNeighbors('degree')(data.clone()).edge_index,
    }
    data = data.to(args.device)
    orders = {key: value.to(args.device) for key, value in orders.items()}
    results: Dict[str, Dict] = {}
    jobs = [(m, s) for m in args.models for s in args.splits]
    for name, split in tqdm(jobs, desc=args.dataset):
        edge_index = orders['degree' if name == 'gru-degree' else 'id']
        run = run_split(name, data, edge_index, split, args)
        entry = results.setdefault(name, dict(runs=[]))
        entry['runs'].append(dict(run, split=split))
        entry['test'] = [r['test'] for r in entry['runs']]
        entry['val'] = [r['val'] for r in entry['runs']]
        if args.out:  # After every split, so a stopped run keeps its work.
            write(args, results, table(args, results))

    print(table(args, results))
    return results


def check_batching(args: argparse.Namespace) -> None:
    r"""Validates :obj:`--batch-size` and :obj:`--num-neighbors` and fills
    in the default fan-out."""
    if args.batch_size is None:
        if args.num_neighbors is not None:
            raise ValueError('--num-neighbors needs --batch-size (mini-batch '
                             'training); drop it to train full-batch')
        return
    if args.batch_size < 1:
        raise ValueError(f'--batch-size must be at least 1 (got '
                         f'{args.batch_size})')
    if args.num_neighbors is None:
        args.num_neighbors = [15] + [10] * (args.layers - 1)
    if len(args.num_neighbors) != args.layers:
        raise ValueError(f'--num-neighbors needs one value per block '
                         f'(--layers {args.layers}), got '
                         f'{len(args.num_neighbors)}')


def options_text(args: argparse.Namespace) -> str:
    return ''.join(f', {k}={v!r}' for k, v in args.option)


def table(args: argparse.Namespace, results: Dict[str, Dict]) -> str:
    lines = [
        f'{args.dataset}, {plural(len(args.splits), "split")}, '
        f'{args.epochs} epochs, {args.layers} blocks of {args.hidden}, '
        f'lr {args.lr}{", bidirectional GRU" if args.bidirectional else ""}'
        f'{options_text(args)}, {training(args)}. ROC-AUC (%), chosen on '
        f'validation.', '',
        '| model | validation | test | s / epoch | steps / epoch |',
        '|---|---|---|---|---|'
    ]
    for name, r in results.items():
        times = torch.tensor([run['epoch_time'] for run in r['runs']])
        lines.append(f'| {MODELS[name]} | {fmt_accuracy(r["val"])} | '
                     f'{fmt_accuracy(r["test"])} | '
                     f'{float(times.median()):.3f} | '
                     f'{r["runs"][0].get("steps_per_epoch", 1):g} |')
    lines += ['', 'Published (Platonov et al. 2023, test ROC-AUC): ' +
              ', '.join(f'{k} {v}'
                        for k, v in PUBLISHED[args.dataset].items()) + '.']
    return '\n'.join(lines)


def training(args: argparse.Namespace) -> str:
    if args.batch_size is None:
        return 'full-batch training'
    fan_out = ', '.join(str(n) for n in args.num_neighbors)
    return (f'mini-batch training (NeighborLoader, batch {args.batch_size}, '
            f'fan-out [{fan_out}], full-graph order)')


def write(args: argparse.Namespace, results: Dict[str, Dict],
          text: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(args=stored_args(args), results=results), f)
    with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
        f.write(text + '\n')


if __name__ == '__main__':
    main()
