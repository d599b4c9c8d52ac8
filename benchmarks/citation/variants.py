r"""Variants of the citation script's GRU model that are not options of
:class:`~torch_geometric_gru.GRUConv`: the diagnostics behind
``docs/results.md`` ("Changes outside the script's options"). Every other
option is that of ``main.py``, and with no variant flag the model is
exactly ``main.py``'s GRU model (same parameters for the same seed).
Usage::

    python benchmarks/citation/variants.py --dataset Cora --runs 5 \
        --message-norm

Prints a table (validation and test accuracy, mean ± std over the runs)
and, with ``--out``, writes it with the raw results (JSON).
"""
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_geometric.nn import Linear  # noqa: E402
from tqdm import tqdm  # noqa: E402

from main import load as main_load  # noqa: E402
from main import parser as main_parser  # noqa: E402
from models import GRUNet  # noqa: E402
from options import (  # noqa: E402
    EXACT_GRU,
    description,
    fmt_accuracy,
    gru_options,
    plural,
    set_threads,
    stored_args,
)
from train_eval import adam, run  # noqa: E402

from torch_geometric_gru import GRUConv  # noqa: E402


class NormedLinear(torch.nn.Module):
    r"""A linear map followed by a :class:`torch.nn.LayerNorm`: each
    message is normalised before the GRU reads it."""
    def __init__(self, lin: torch.nn.Module, channels: int):
        super().__init__()
        self.lin = lin
        self.norm = torch.nn.LayerNorm(channels)

    def reset_parameters(self):
        self.lin.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x):
        return self.norm(self.lin(x))


class ProjectedGRUConv(torch.nn.Module):
    r"""A :class:`~torch_geometric_gru.GRUConv` of :obj:`state_channels`
    without root term, whose final GRU state is mapped to
    :obj:`out_channels` by a linear layer before the root term (if
    :obj:`root_weight`) is added, as :class:`~torch_geometric.nn.conv.SAGEConv`
    does after its aggregation: the neighbours' contribution is no longer
    bounded by the GRU's :math:`\tanh`."""
    def __init__(self, in_channels, out_channels, state_channels,
                 root_weight=True, **kwargs):
        super().__init__()
        self.gru = GRUConv(in_channels, state_channels, root_weight=False,
                           bias=False, **{**EXACT_GRU, **kwargs})
        self.lin_out = Linear(state_channels, out_channels,
                              bias=not root_weight)
        self.lin_root = (Linear(in_channels, out_channels)
                         if root_weight else None)

    def forward(self, x, edge_index):
        out = self.lin_out(self.gru(x, edge_index))
        if self.lin_root is not None:
            out = out + self.lin_root(x)
        return out


class HeadNet(GRUNet):
    r""":class:`GRUNet` whose second layer keeps :obj:`hidden` channels,
    followed by ReLU, dropout and a linear classifier."""
    def __init__(self, in_channels, hidden, out_channels, **kwargs):
        super().__init__(in_channels, hidden, hidden, **kwargs)
        self.head = Linear(hidden, out_channels)

    def forward(self, x, edge_index):
        x = super().forward(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.head(x)


def parser():
    p = main_parser()
    p.description = description(__doc__)
    p.set_defaults(models=['gru'])
    v = p.add_argument_group('variants')
    v.add_argument('--message-norm', action='store_true',
                   help='LayerNorm on every message before the GRU')
    v.add_argument('--project-state', action='store_true',
                   help='a --hidden wide GRU state in both layers, mapped '
                   'to the layer output by a linear layer')
    v.add_argument('--self-loop-first', action='store_true',
                   help='every node reads itself first, not last')
    v.add_argument('--update-bias', type=float, default=None,
                   help="initial bias of the GRU's update gate (0: "
                   "PyTorch's initialisation)")
    v.add_argument('--decay-first-layer-only', action='store_true',
                   help='weight decay on the first layer only')
    v.add_argument('--raw-features', action='store_true',
                   help='bag-of-words counts, not row-normalised features')
    v.add_argument('--linear-head', action='store_true',
                   help='a --hidden wide second layer and a linear '
                   'classifier')
    v.add_argument('--bidirectional', action='store_true',
                   help='a second GRU direction reads every neighbourhood '
                   'reversed')
    return p


VARIANTS = ('message_norm', 'project_state', 'self_loop_first', 'update_bias',
            'decay_first_layer_only', 'raw_features', 'linear_head',
            'bidirectional')


def load(args):
    dataset, data, gru_data = main_load(args,
                                        normalize=not args.raw_features)
    if args.self_loop_first:  # Stored first, so read first by each node.
        loops = torch.arange(data.num_nodes, device=data.edge_index.device)
        data.edge_index = torch.cat([loops.repeat(2, 1), data.edge_index], 1)
        return dataset, data
    return dataset, gru_data  # As in main.py: the self-loop is read last.


def make_model(args, in_channels, out_channels):
    conv_kwargs = dict(gru_options(args), bidirectional=args.bidirectional,
                       root_weight=not args.no_root_weight)
    cls = HeadNet if args.linear_head else GRUNet
    model = cls(in_channels, args.hidden, out_channels,
                dropout=args.gru_dropout, drop_edge=args.drop_edge,
                **conv_kwargs)
    if args.project_state:
        model.conv1, model.conv2 = (
            ProjectedGRUConv(c.in_channels, c.out_channels, args.hidden,
                             **conv_kwargs)
            for c in (model.conv1, model.conv2))
    for conv in (model.conv1, model.conv2):
        conv = getattr(conv, 'gru', conv)  # The GRUConv of ProjectedGRUConv.
        if args.message_norm:
            conv.lin = NormedLinear(conv.lin, conv.out_channels)
        if args.update_bias is not None:
            gru = conv.aggr_module.gru
            hidden = gru.hidden_size
            with torch.no_grad():  # Gates are ordered (reset, update, new).
                gru.bias_ih_l0[hidden:2 * hidden].fill_(args.update_bias)
                gru.bias_hh_l0[hidden:2 * hidden].zero_()
    return model.to(args.device)


def decay_first_layer_only(model, lr, weight_decay):
    r"""Adam with weight decay on the first layer's parameters only."""
    first = list(model.conv1.parameters())
    ids = {id(p) for p in first}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.Adam([
        dict(params=first, weight_decay=weight_decay),
        dict(params=rest, weight_decay=0.0),
    ], lr=lr)


def main(argv=None):
    args = parser().parse_args(argv)
    set_threads(args)
    if args.models != ['gru']:
        raise ValueError("variants.py trains the GRU model only; run "
                         "main.py for the comparison models")
    if args.self_loop_first and args.no_self_loops:
        raise ValueError("'--self-loop-first' needs the self-loops; drop "
                         "'--no-self-loops'")
    dataset, data = load(args)

    def make():
        return make_model(args, dataset.num_features, dataset.num_classes)

    with tqdm(total=args.runs * args.epochs, desc=f'{args.dataset} gru',
              unit='epoch') as progress:
        result = run(
            make, data, args.runs, args.epochs, args.lr, args.weight_decay,
            args.patience, args.seed, progress, make_optimizer=(
                decay_first_layer_only if args.decay_first_layer_only else
                adam))
    flags = [f'--{k.replace("_", "-")}' for k in VARIANTS
             if getattr(args, k) not in (False, None)]
    print('\n'.join([
        f'{args.dataset}, public split, {plural(args.runs, "seed")}, '
        f'{args.epochs} epochs; variant: {" ".join(flags) or "none"}', '',
        '| model | validation accuracy (%) | test accuracy (%) |',
        '|---|---|---|',
        f'| GRUConv (ours) | {fmt_accuracy(result["val_acc"])} | '
        f'{fmt_accuracy(result["test_acc"])} |'
    ]))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(args=stored_args(args),
                           results=dict(gru=result)), f)
    return result


if __name__ == '__main__':
    main()
