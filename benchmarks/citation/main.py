r"""Semi-supervised node classification on Cora, CiteSeer and PubMed (public
Planetoid split): a two-layer GRUConv model and PyG's layers, on the same
split, seeds and budget, in one run. Usage::

    python benchmarks/citation/main.py --dataset Cora
    python benchmarks/citation/main.py --dataset Cora --models gru \
        --order degree-desc

Prints a Markdown table (mean ± std test accuracy over ``--runs`` seeds,
training time per epoch) and, with ``--out``, writes it with the raw
results (JSON).
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch
import torch_geometric.transforms as T
from tqdm import tqdm

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from datasets import load_dataset  # noqa: E402
from models import MODELS, make_model  # noqa: E402
from train_eval import run  # noqa: E402

from torch_geometric_gru.transforms import (  # noqa: E402
    ShuffleNeighbors,
    SortNeighbors,
)

def keep_order(data):
    r"""A sort key that ties every edge: grouping edges by destination
    (which PyG's LSTM and GRU aggregations need) keeps each node's order."""
    return torch.zeros(data.edge_index.size(1))


ORDERS = {
    'edge': SortNeighbors(keep_order),
    'degree': SortNeighbors('degree'),
    'degree-desc': SortNeighbors('degree', descending=True),
    'id': SortNeighbors('id'),
    'random': ShuffleNeighbors(seed=0),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--dataset', default='Cora',
                   choices=['Cora', 'CiteSeer', 'PubMed'])
    p.add_argument('--models', nargs='+', default=list(MODELS),
                   choices=list(MODELS))
    p.add_argument('--runs', type=int, default=10)
    p.add_argument('--epochs', type=int, default=200)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--weight-decay', type=float, default=5e-4)
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--patience', type=int, default=0,
                   help='stop after this many epochs without a better '
                   'validation accuracy (0: never)')
    p.add_argument('--order', default='edge', choices=list(ORDERS),
                   help='the neighbour order the GRU reads (a transform of '
                   'the dataset, applied once)')
    p.add_argument('--shuffle', action='store_true',
                   help='GRUConv reads a fresh random order at every '
                   'training forward')
    p.add_argument('--num-permutations', type=int, default=1,
                   help='GRUConv averages this many random orders at test')
    p.add_argument('--positional-encoding', default=None,
                   choices=['sinusoidal', 'learned'])
    p.add_argument('--max-length', type=int, default=None)
    p.add_argument('--cell', default='gru', choices=['gru', 'mingru'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--root', default=None,
                   help='a folder holding <dataset>/raw (default: the '
                   'shared datasets folder, copied to a temporary root)')
    p.add_argument('--out', default=None, help='write results here (.json)')
    return p


def load(args):
    transforms = [T.NormalizeFeatures(), ORDERS[args.order]]
    dataset = load_dataset(args.dataset, source=args.root,
                           transform=T.Compose(transforms))
    return dataset, dataset[0].to(args.device)


def main(argv=None):
    args = parser().parse_args(argv)
    dataset, data = load(args)
    gru_kwargs = dict(shuffle=args.shuffle,
                      num_permutations=args.num_permutations,
                      positional_encoding=args.positional_encoding,
                      max_length=args.max_length, cell=args.cell,
                      seed=args.seed)
    results = {}
    total = args.runs * len(args.models)
    with tqdm(total=total, desc=args.dataset) as progress:
        for name in args.models:
            kwargs = gru_kwargs if name == 'gru' else {}

            def make(name=name, kwargs=kwargs):
                return make_model(name, dataset.num_features, args.hidden,
                                  dataset.num_classes, args.dropout,
                                  **kwargs).to(args.device)

            progress.set_description(f'{args.dataset} {name}')
            results[name] = run(make, data, args.runs, args.epochs, args.lr,
                                args.weight_decay, args.patience, args.seed,
                                progress)

    lines = [
        f'{args.dataset}, public split, {args.runs} seeds, {args.epochs} '
        f'epochs, order={args.order}, shuffle={args.shuffle}, '
        f'num_permutations={args.num_permutations}', '',
        '| model | test accuracy (%) | s / epoch |', '|---|---|---|'
    ]
    for name, r in results.items():
        lines.append(f'| {MODELS[name]} | {100 * r["mean"]:.1f} ± '
                     f'{100 * r["std"]:.1f} | {r["epoch_time"]:.3f} |')
    print('\n'.join(lines))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(args=vars(args), results=results), f)
    return results


if __name__ == '__main__':
    main()
