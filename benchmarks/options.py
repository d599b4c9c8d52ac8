r"""What the accuracy benchmarks share: the neighbour orders they can read,
the command-line options of the GRU layers, and the model names."""
import argparse
import ast
import os
import os.path as osp
import re
import sys
from typing import Sequence

# Before torch: it sets OpenMP's wait policy (see the module).
from cpu_threads import default_threads

import torch

from torch_geometric_gru.transforms import ShuffleNeighbors, SortNeighbors

MODELS = {
    'gru': 'GRUConv (ours)',
    'gcn': 'GCNConv',
    'sage': 'SAGEConv (mean)',
    'sage-lstm': 'SAGEConv (PyG LSTM aggr.)',
    'sage-pyg-gru': 'SAGEConv (PyG GRU aggr.)',
    'sage-gru-mean': 'SAGEConv (mean + our GRU aggr.)',
}


def keep_order(data):
    r"""A sort key that ties every edge: grouping edges by destination
    (which PyG's LSTM and GRU aggregations need) keeps each node's order."""
    return torch.zeros(data.edge_index.size(1))


ORDERS = {
    'edge': SortNeighbors(keep_order, per_edge=True),
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
                   choices=['sinusoidal', 'learned'],
                   help="GRUConv adds an encoding of each neighbour's rank "
                   "to its message ('learned' needs --max-length)")
    p.add_argument('--max-length', type=int, default=None,
                   help='GRUConv reads a random subset of at most this many '
                   'neighbours per node')
    p.add_argument('--cell', default='gru', choices=['gru', 'mingru'],
                   help="GRUConv's recurrent cell")
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the first run (run r uses seed + r)')
    add_device(p)
    p.add_argument('--root', default=None,
                   help='a folder holding <dataset>/raw in PyG\'s raw layout; '
                   'it takes precedence over $TORCH_GEOMETRIC_GRU_DATASETS, '
                   'then ../shared/datasets, then the embedded Cora')
    p.add_argument('--out', default=None,
                   help='write the table and the raw results here (.json)')
    add_threads(p)


def gru_options(args: argparse.Namespace) -> dict:
    r"""The keyword arguments of :class:`~torch_geometric_gru.GRUConv` set
    on the command line."""
    return dict(shuffle=args.shuffle, num_permutations=args.num_permutations,
                positional_encoding=args.positional_encoding,
                max_length=args.max_length, cell=args.cell, seed=args.seed)


def aggregation_options(args: argparse.Namespace) -> dict:
    r"""The keyword arguments of :class:`~torch_geometric_gru.GRUAggregation`
    set on the command line (those of :meth:`gru_options` but the cell, for
    the :obj:`sage-gru-mean` model)."""
    if args.cell != 'gru' and 'sage-gru-mean' in args.models:
        raise ValueError(f"'--cell {args.cell}' is an option of the 'gru' "
                         f"model; 'sage-gru-mean' always runs a GRU. Run it "
                         f"without '--cell'")
    options = gru_options(args)
    del options['cell']
    return options


def wait_for(device) -> None:
    r"""Waits for the kernels queued on :obj:`device` (CUDA runs them
    asynchronously), so that a timer read next measures them."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


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


def description(doc: str) -> str:
    r"""The first sentence of a script's docstring, for its :obj:`--help`."""
    text = ' '.join(doc.split())
    text = re.sub(r':\w+:`~?([^`]*)`', r'\1', text).replace('``', '')
    end = text.find('. ')
    return text if end < 0 else text[:end + 1]


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument('--device', default='cpu',
                   help="'cpu' or 'cuda' (GRUConv then runs its Triton "
                   'kernels)')


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads per process (default: '
                   '$OMP_NUM_THREADS where set, else the cores that are '
                   'free when the script starts, at least 1)')


def set_threads(args: argparse.Namespace) -> int:
    r"""Sets torch's thread count and returns it: :obj:`--threads` where
    given, else :obj:`$OMP_NUM_THREADS` where set (torch read it), else
    :func:`cpu_threads.default_threads` (the free cores, reported on
    stderr): never more threads than free cores, which on a busy machine
    would slow a run many times over."""
    threads = getattr(args, 'threads', None)
    if threads is not None and threads < 1:
        raise ValueError(f'--threads must be at least 1 (got {threads}); '
                         f'leave it out to use the free cores')
    if threads is None:
        if os.environ.get('OMP_NUM_THREADS'):
            return torch.get_num_threads()
        threads = default_threads()
        print(f'torch threads: {threads} (the free cores now; --threads '
              f'sets it)', file=sys.stderr)
    torch.set_num_threads(threads)
    return threads


def plural(count: int, word: str) -> str:
    return f'{count} {word}{"" if count == 1 else "s"}'


def fmt_accuracy(values: Sequence[float]) -> str:
    r"""Mean ± standard deviation in percent; the mean alone for one run."""
    t = torch.tensor(list(values), dtype=torch.double) * 100
    if t.numel() == 1:
        return f'{float(t[0]):.1f}'
    return f'{float(t.mean()):.1f} ± {float(t.std()):.1f}'


def parse_option(text: str):
    name, sep, value = text.partition('=')
    if not sep:
        raise argparse.ArgumentTypeError(
            f"'--option' takes name=value (got {text!r})")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass  # A bare string, e.g. kernel=native.
    return name, value


def add_conv_option(p: argparse.ArgumentParser, help: str) -> None:
    r"""Adds the repeatable :obj:`--option NAME=VALUE` (a Python literal,
    or a bare string): keyword arguments of the layers a script builds, so
    that candidate settings are measured without editing the package."""
    p.add_argument('--option', type=parse_option, action='append',
                   default=[], metavar='NAME=VALUE', help=help)


#: ``GRUConv`` as every figure in docs/ measured before its defaults changed
#: (2026-12-07, ``edge_dropout=0.5``, ``add_mean=True`` and
#: ``gru_scale=True``): every node reads all of its in-edges in training
#: too, no mean beside the GRU, and no learned scale on its state.
#: The scripts pass it so that their commands still reproduce those
#: figures, and their speed and memory rows stay the cost of the full
#: sequence; ``citation/defaults.py`` measures the defaults themselves.
EXACT_GRU = dict(edge_dropout=0.0, add_mean=False, gru_scale=False)


def cpu_name(default: str) -> str:
    r"""The CPU's model name from ``/proc/cpuinfo``, else :obj:`default`."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return default
