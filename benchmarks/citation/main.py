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

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch_geometric.transforms as T  # noqa: E402
from tqdm import tqdm  # noqa: E402

from datasets import load_dataset  # noqa: E402
from models import make_model  # noqa: E402
from options import (  # noqa: E402
    MODELS,
    ORDERS,
    add_arguments,
    aggregation_options,
    description,
    fmt_accuracy,
    gru_options,
    plural,
    set_threads,
    stored_args,
)
from train_eval import run  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description(__doc__))
    p.add_argument('--dataset', default='Cora',
                   choices=['Cora', 'CiteSeer', 'PubMed'],
                   help='the dataset (its public Planetoid split)')
    p.add_argument('--runs', type=int, default=10,
                   help='training runs (seeds) per model')
    p.add_argument('--epochs', type=int, default=200,
                   help='epochs per run (the test accuracy is read at the '
                   'epoch of best validation accuracy)')
    p.add_argument('--lr', type=float, default=0.01,
                   help='Adam learning rate')
    p.add_argument('--weight-decay', type=float, default=5e-4,
                   help='Adam weight decay')
    p.add_argument('--hidden', type=int, default=64,
                   help='hidden channels of every model')
    p.add_argument('--dropout', type=float, default=0.5,
                   help="dropout of PyG's models")
    p.add_argument('--gru-dropout', type=float, default=0.8,
                   help='dropout of the GRUConv model')
    p.add_argument('--drop-edge', type=float, default=0.3,
                   help='fraction of edges the GRUConv model drops at every '
                   'training step (DropEdge)')
    p.add_argument('--no-self-loops', action='store_true',
                   help='do not add self-loops for the GRUConv model (by '
                   'default every node reads itself after its neighbours)')
    p.add_argument('--no-root-weight', action='store_true',
                   help='GRUConv without its root term: the GRU over the '
                   'neighbourhood is the only path (a diagnostic)')
    add_arguments(p)
    return p


def load(args, normalize: bool = True):
    transforms = [T.NormalizeFeatures()] if normalize else []
    transforms.append(ORDERS[args.order])
    dataset = load_dataset(args.dataset, source=args.root,
                           transform=T.Compose(transforms))
    data = dataset[0].to(args.device)
    # The self-loop goes last: every node reads itself after its
    # neighbours. PyG's models get the graph as it is.
    gru_data = data if args.no_self_loops else T.AddSelfLoops()(data)
    return dataset, data, gru_data


def main(argv=None):
    args = parser().parse_args(argv)
    set_threads(args)
    aggr_kwargs = aggregation_options(args)
    dataset, data, gru_data = load(args)
    gru_kwargs = dict(dropout=args.gru_dropout, drop_edge=args.drop_edge,
                      root_weight=not args.no_root_weight,
                      **gru_options(args))
    results = {}
    # One bar over every epoch of every run (on stderr: stdout keeps the
    # table alone), with the loss and validation accuracy of the last.
    total = len(args.models) * args.runs * args.epochs
    with tqdm(total=total, desc=args.dataset, unit='epoch') as progress:
        for name in args.models:
            kwargs = (gru_kwargs if name == 'gru' else
                      dict(dropout=args.dropout, **aggr_kwargs)
                      if name == 'sage-gru-mean' else
                      dict(dropout=args.dropout))

            def make(name=name, kwargs=kwargs):
                return make_model(name, dataset.num_features, args.hidden,
                                  dataset.num_classes,
                                  **kwargs).to(args.device)

            progress.set_description(f'{args.dataset} {name}')
            results[name] = run(make, gru_data if name == 'gru' else data,
                                args.runs, args.epochs, args.lr,
                                args.weight_decay, args.patience, args.seed,
                                progress)

    lines = [
        f'{args.dataset}, public split, {plural(args.runs, "seed")}, '
        f'{args.epochs} epochs, order={args.order}, shuffle={args.shuffle}, '
        f'num_permutations={args.num_permutations}', '',
        '| model | test accuracy (%) | s / epoch |', '|---|---|---|'
    ]
    for name, r in results.items():
        lines.append(f'| {MODELS[name]} | {fmt_accuracy(r["test_acc"])} | '
                     f'{r["epoch_time"]:.3f} |')
    print('\n'.join(lines))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(args=stored_args(args), results=results), f)
    return results


if __name__ == '__main__':
    main()
