r"""What the accuracy benchmarks share: the neighbour orders they can read,
the command-line options of the GRU layers, and the model names."""
import argparse
import os.path as osp

import torch

from torch_geometric_gru.transforms import ShuffleNeighbors, SortNeighbors

MODELS = {
    'gru': 'GRUConv (ours)',
    'gcn': 'GCNConv',
    'sage': 'SAGEConv (mean)',
    'sage-lstm': 'SAGEConv (PyG LSTM aggr.)',
    'sage-pyg-gru': 'SAGEConv (PyG GRU aggr.)',
}


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    r"""The options shared by the benchmarks: models, early stopping, order,
    GRU options, device, data root and output."""
    p.add_argument('--models', nargs='+', default=['gru', 'gcn', 'sage'],
                   choices=list(MODELS),
                   help="PyG's padded sequence aggregations (sage-lstm, "
                   'sage-pyg-gru) are far slower and run only when named')
    p.add_argument('--patience', type=int, default=0,
                   help='stop after this many epochs without a better '
                   'validation accuracy (0: never)')
    p.add_argument('--order', default='edge', choices=list(ORDERS),
                   help='the neighbour order the GRU reads (a transform of '
                   'the dataset that also groups edges by destination)')
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


def gru_options(args: argparse.Namespace) -> dict:
    r"""The keyword arguments of :class:`~torch_geometric_gru.GRUConv` set
    on the command line."""
    return dict(shuffle=args.shuffle, num_permutations=args.num_permutations,
                positional_encoding=args.positional_encoding,
                max_length=args.max_length, cell=args.cell, seed=args.seed)


REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def stored_args(args: argparse.Namespace) -> dict:
    r"""The options to store with a result file: paths (:obj:`--out`,
    :obj:`--root`) relative to the repository, never a machine's absolute
    path (outside the repository: the file name only)."""
    stored = dict(vars(args))
    for key in ('out', 'root'):
        path = stored.get(key)
        if path:
            path = osp.abspath(path)
            inside = osp.commonpath([path, REPO]) == REPO
            stored[key] = (osp.relpath(path, REPO) if inside else
                           osp.basename(path))
    return stored
