r"""Runs another benchmark script with :class:`GRUConv`'s learned scale
(:obj:`gru_scale`) starting at a given value instead of zero: the screen
of a scale that does not start at zero, without an option in the package.
Every :class:`GRUConv` the script builds with :obj:`gru_scale=True` starts
with that value in every channel. Usage::

    python benchmarks/gru_scale_init.py 1.0 benchmarks/kernel/main.py \
        --dataset MUTAG --models gru --option add_mean=True \
        --option gru_scale=True
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('init', type=float, help="the scale's starting value")
    p.add_argument('script', help='the benchmark script to run')
    p.add_argument('args', nargs=argparse.REMAINDER,
                   help="the script's arguments")
    args = p.parse_args(argv)
    reset_parameters = GRUConv.reset_parameters

    def reset_from(self):
        reset_parameters(self)
        if self.gru_scale is not None:
            with torch.no_grad():
                self.gru_scale.fill_(args.init)

    script = osp.abspath(args.script)
    argv, path = sys.argv, list(sys.path)
    GRUConv.reset_parameters = reset_from
    sys.argv = [script] + args.args
    sys.path.insert(0, osp.dirname(script))  # Its siblings.
    try:
        runpy.run_path(script, run_name='__main__')
    finally:
        GRUConv.reset_parameters = reset_parameters
        sys.argv, sys.path[:] = argv, path


if __name__ == '__main__':
    main()
