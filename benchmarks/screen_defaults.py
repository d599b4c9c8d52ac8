r"""Runs another benchmark script with candidate defaults of
:class:`GRUConv` that are not options of the package: the screen of
defaults meant to serve graph classification as well as node
classification (docs/results.md, "The defaults since 2026-12-07").
Every :class:`GRUConv` the script builds, and every in-edge drop of the
package (:obj:`edge_dropout`), is changed for the run and restored
afterwards. Usage::

    python benchmarks/screen_defaults.py --scale-init 1.0 \
        benchmarks/kernel/main.py --dataset MUTAG --models gru \
        --option add_mean=True --option gru_scale=True

Candidates (each off by default):

- :obj:`--scale-init S`: the learned scale (:obj:`gru_scale=True`) starts
  at :obj:`S` in every channel instead of zero;
- :obj:`--scale-gain G`: the scale is :obj:`G` times its parameter, so that
  the optimiser moves it :obj:`G` times as fast (Adam's steps do not depend
  on the gradient's size); it still starts at :obj:`--scale-init`;
- :obj:`--drop-min-degree K`: :obj:`edge_dropout` drops in-edges only from
  nodes with at least :obj:`K` of them; nodes with fewer keep them all;
- :obj:`--drop-keep-one`: a node whose in-edges were all dropped keeps one
  of them, drawn at random.

The drop candidates draw the same random keys as the package's drop (one
per in-edge), so a run with neither candidate draws what the package
draws. They change the eager drop only (the one the benchmarks run), not
the one traced under :func:`torch.compile`. With weight decay, the gain
also weakens the decay of the scale (by the square of the gain). A
candidate that never acted (no layer with the scale, no training forward
that dropped in-edges) is an error after the run: it screened nothing.
"""
import argparse
import os.path as osp
import runpy
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402

from torch_geometric_gru import GRUConv  # noqa: E402
from torch_geometric_gru.layout import plan  # noqa: E402
from torch_geometric_gru.layout.grouping import keep_first  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--scale-init', type=float, default=0.0,
                   help="the learned scale's starting value")
    p.add_argument('--scale-gain', type=float, default=1.0,
                   help='the scale is this times its parameter')
    p.add_argument('--drop-min-degree', type=int, default=1,
                   help='edge_dropout drops only from nodes with at least '
                   'this many in-edges')
    p.add_argument('--drop-keep-one', action='store_true',
                   help='a node whose in-edges were all dropped keeps one')
    p.add_argument('script', help='the benchmark script to run')
    p.add_argument('args', nargs=argparse.REMAINDER,
                   help="the script's arguments")
    return p


def candidate_drop(min_degree: int, keep_one: bool):
    r"""The package's :func:`dropped` with the drop candidates."""
    def dropped(index, num_groups, drop, generator=None):
        key = plan.random_keys(index.numel(), generator, index.device)
        keep = key >= drop
        count = torch.bincount(index, minlength=num_groups)
        if min_degree > 1:
            keep = keep | (count.index_select(0, index) < min_degree)
        if keep_one:
            kept = torch.bincount(index[keep], minlength=num_groups)
            first = keep_first(index, num_groups, 1, key)
            keep = keep | (first & (kept.index_select(0, index) == 0))
        return keep
    return dropped


def check_used(args: argparse.Namespace, used: dict) -> None:
    r"""Raises if a candidate was given but the script never let it act (a
    run that screened nothing must not pass for a screen)."""
    unused = []
    if (args.scale_init != 0.0 or args.scale_gain != 1.0) and \
            not used['scale']:
        unused.append("'--scale-init' and '--scale-gain' change the learned "
                      "scale, but the script built no GRUConv with "
                      "gru_scale=True (pass e.g. '--option gru_scale=True' "
                      "to it)")
    if (args.drop_min_degree != 1 or args.drop_keep_one) and \
            not used['drop']:
        unused.append("'--drop-min-degree' and '--drop-keep-one' change "
                      "the in-edge drop, but no training forward dropped "
                      "in-edges (pass e.g. '--option edge_dropout=0.5' to "
                      "the script)")
    if unused:
        raise ValueError('; '.join(unused))


def main(argv=None):
    args = parser().parse_args(argv)
    if args.scale_gain <= 0:
        raise ValueError(f"'--scale-gain' must be positive "
                         f"(got {args.scale_gain})")
    if args.drop_min_degree < 1:
        raise ValueError(f"'--drop-min-degree' must be a positive integer "
                         f"(got {args.drop_min_degree})")
    reset_parameters = GRUConv.reset_parameters
    neighbourhood = GRUConv.neighbourhood
    dropped = plan.dropped
    candidate = candidate_drop(args.drop_min_degree, args.drop_keep_one)
    used = dict(scale=False, drop=False)  # Whether a candidate took effect.

    def reset_from(self):
        reset_parameters(self)
        if self.gru_scale is not None:
            used['scale'] = True
            with torch.no_grad():
                self.gru_scale.fill_(args.scale_init / args.scale_gain)

    def gained(self, out, mean):
        # The scale times the gain: the GRU's state times the gain (the
        # bidirectional map before the scale is linear and bias-free).
        if self.gru_scale is not None:
            out = out * args.scale_gain
        return neighbourhood(self, out, mean)

    def drop(*args, **kwargs):
        used['drop'] = True
        return candidate(*args, **kwargs)

    script = osp.abspath(args.script)
    argv, path = sys.argv, list(sys.path)
    GRUConv.reset_parameters = reset_from
    GRUConv.neighbourhood = gained
    plan.dropped = drop
    sys.argv = [script] + args.args
    sys.path.insert(0, osp.dirname(script))  # Its siblings.
    try:
        runpy.run_path(script, run_name='__main__')
        check_used(args, used)
    finally:
        GRUConv.reset_parameters = reset_parameters
        GRUConv.neighbourhood = neighbourhood
        plan.dropped = dropped
        sys.argv, sys.path[:] = argv, path


if __name__ == '__main__':
    main()
