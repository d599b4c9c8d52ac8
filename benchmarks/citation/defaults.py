r"""The natural two-layer model of the README example, with the layers'
defaults, beside the same model built from PyG's ``SAGEConv`` (mean) or
``GCNConv``: the check that ``GRUConv``'s defaults generalise.

The model is exactly the README's: dropout 0.5 on the input, ``conv(F,
64)``, ReLU, dropout 0.5, ``conv(64, C)``; Adam (lr 0.01, weight decay
5e-4), 200 full-batch epochs on the public split, row-normalised features,
the graph as PyG loads it (no self-loops added, no DropEdge). The epoch of
best validation accuracy is selected; its validation and test accuracy are
reported, with the test accuracy of the last epoch (what the README example
prints). One torch thread. Usage::

    python benchmarks/citation/defaults.py --dataset Cora --conv gru \
        --seeds 10 --option shuffle=True

``--option name=value`` (repeatable) passes a keyword argument to both
``GRUConv`` layers (the value is a Python literal), so that candidate
defaults are measured without editing the package. Prints one Markdown
row: ``| conv | options | val | test (best val) | test (last epoch) |``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch_geometric  # noqa: E402
import torch_geometric.transforms as T  # noqa: E402
from torch_geometric.nn import GCNConv, SAGEConv  # noqa: E402

from datasets import PLANETOID, load_dataset  # noqa: E402
from options import EXACT_GRU, add_conv_option, fmt_accuracy  # noqa: E402

from torch_geometric_gru import GRUConv  # noqa: E402


class CandidateConv(GRUConv):
    r"""A :class:`~torch_geometric_gru.GRUConv` with the candidate changes
    that the search screened before any became an option of the package
    (each off by default, so that without them it is :class:`GRUConv` with
    the defaults of the search, :obj:`EXACT_GRU`, parameter for
    parameter):

    * :obj:`update_bias`: the initial bias of the GRU's update gate (in
      :obj:`bias_ih`; :obj:`bias_hh`'s is zeroed);
    * :obj:`orthogonal`: orthogonal recurrent weights (each gate's block);
    * :obj:`edge_dropout`: every training forward drops each in-edge with
      this probability (the elements of each sequence);
    * :obj:`mean_residual`: adds the mean of the messages to the GRU's
      final state;
    * :obj:`message_dropout`: dropout on every message (per edge) in
      training;
    * :obj:`zero_bias`: the GRU's biases start at zero (PyTorch draws them
      like its weights);
    * :obj:`mean_full`: the mean of :obj:`mean_residual` reads every
      in-edge, also those :obj:`edge_dropout` drops from the GRU's
      sequences;
    * :obj:`rezero`: the GRU's state is scaled by a learned per-channel
      factor that starts at zero (ReZero), so that the layer starts as
      the root term plus the mean (with :obj:`mean_residual`): since
      adopted as :obj:`GRUConv(gru_scale=True)`, which this passes.
    """
    def __init__(self, *args, update_bias=None, orthogonal=False,
                 edge_dropout=0.0, mean_residual=False,
                 message_dropout=0.0, zero_bias=False, mean_full=False,
                 rezero=False, **kwargs):
        self._update_bias = update_bias
        self._orthogonal = orthogonal
        self._zero_bias = zero_bias
        # rezero is the package's gru_scale (which it became): the GRU's
        # state times a learned factor from zero, before the mean is added.
        super().__init__(*args, **{**EXACT_GRU, 'gru_scale': rezero,
                                   **kwargs})
        self.edge_dropout = edge_dropout
        self.mean_residual = mean_residual
        self.message_dropout = message_dropout
        self.mean_full = mean_full

    def reset_parameters(self):
        super().reset_parameters()
        gru = getattr(self.aggr_module, 'gru', None)
        if gru is None or not hasattr(self, '_orthogonal'):
            return
        H = gru.hidden_size
        with torch.no_grad():
            if self._zero_bias:
                gru.bias_ih_l0.zero_()
                gru.bias_hh_l0.zero_()
            if self._orthogonal:
                for k in range(3):
                    torch.nn.init.orthogonal_(
                        gru.weight_hh_l0[k * H:(k + 1) * H])
            if self._update_bias is not None:
                gru.bias_ih_l0[H:2 * H].fill_(self._update_bias)
                gru.bias_hh_l0[H:2 * H].zero_()

    def forward(self, x, edge_index):
        full_edge_index = edge_index
        if self.training and self.edge_dropout > 0:
            keep = torch.rand(edge_index.size(1)) >= self.edge_dropout
            edge_index = edge_index[:, keep]
        if self.training and self.message_dropout > 0:
            msg = F.dropout(self.lin(x)[edge_index[0]],
                            p=self.message_dropout)
            out = self.neighbourhood(  # The scale, where learned.
                self.aggr_module(msg, edge_index[1], dim_size=x.size(0)),
                None)
            if self.lin_root is not None:
                out = out + self.lin_root(x)
            if self.bias is not None:
                out = out + self.bias
        else:
            out = super().forward(x, edge_index)
        if self.mean_residual:
            if self.mean_full:
                edge_index = full_edge_index
            h = self.lin(x)
            mean = torch_geometric.utils.scatter(
                h[edge_index[0]], edge_index[1], 0, x.size(0), 'mean')
            out = out + mean
        return out


class ProjectConv(torch.nn.Module):
    r"""A candidate: a :class:`CandidateConv` with a :obj:`state` wide GRU
    state and no root term, mapped to :obj:`out_channels` by a linear
    layer (as :class:`~torch_geometric.nn.conv.SAGEConv` maps its
    aggregate), plus the root term: the neighbours' contribution is not
    bounded by the GRU's :math:`\tanh`."""
    def __init__(self, in_channels, out_channels, state=64, **kwargs):
        super().__init__()
        self.gru = CandidateConv(in_channels, state, root_weight=False,
                                 bias=False, **kwargs)
        self.lin_out = torch.nn.Linear(state, out_channels, bias=False)
        self.lin_root = torch.nn.Linear(in_channels, out_channels)

    def forward(self, x, edge_index):
        return self.lin_out(self.gru(x, edge_index)) + self.lin_root(x)


CONVS = {'gru': GRUConv, 'sage': SAGEConv, 'gcn': GCNConv,
         'candidate': CandidateConv, 'project': ProjectConv}


class Net(torch.nn.Module):
    r"""The README example's model, with any of :obj:`CONVS`."""
    def __init__(self, conv, in_channels, hidden_channels, out_channels,
                 **kwargs):
        super().__init__()
        self.conv1 = conv(in_channels, hidden_channels, **kwargs)
        self.conv2 = conv(hidden_channels, out_channels, **kwargs)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', default='Cora', choices=PLANETOID)
    p.add_argument('--conv', default='gru', choices=list(CONVS))
    p.add_argument('--seeds', type=int, default=10,
                   help='runs with seeds 0, 1, ... (default: 10)')
    p.add_argument('--epochs', type=int, default=200)
    add_conv_option(p, 'a keyword argument of both conv layers')
    p.add_argument('--root', default=None,
                   help='folder holding <dataset>/raw (see datasets.py)')
    p.add_argument('--out', default=None, help='write the results (JSON)')
    return p


@torch.no_grad()
def accuracies(model, data):
    model.eval()
    pred = model(data.x, data.edge_index).argmax(-1)
    return [float((pred[m] == data.y[m]).float().mean())
            for m in (data.val_mask, data.test_mask)]


def run_once(model, data, epochs: int):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01,
                                 weight_decay=5e-4)
    best = (-1.0, 0.0, 0)
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        F.cross_entropy(out[data.train_mask],
                        data.y[data.train_mask]).backward()
        optimizer.step()
        val, test = accuracies(model, data)
        if val > best[0]:
            best = (val, test, epoch)
    return dict(val=best[0], test=best[1], epoch=best[2], last_test=test)


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(1)
    kwargs = dict(args.option)
    dataset = load_dataset(args.dataset, source=args.root,
                           transform=T.NormalizeFeatures())
    data = dataset[0]
    runs = []
    t = time.perf_counter()
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        model = Net(CONVS[args.conv], dataset.num_features, 64,
                    dataset.num_classes, **kwargs)
        runs.append(run_once(model, data, args.epochs))
    seconds = time.perf_counter() - t
    options = ' '.join(f'{k}={v!r}' for k, v in kwargs.items()) or 'defaults'
    cols = [fmt_accuracy([r[k] for r in runs])
            for k in ('val', 'test', 'last_test')]
    print(f'| {args.dataset} | {args.conv} | {options} | {" | ".join(cols)} '
          f'| {seconds / args.seeds:.0f} s/seed |', flush=True)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(args=dict(vars(args), option=kwargs), runs=runs),
                      f)
    return runs


if __name__ == '__main__':
    main()
