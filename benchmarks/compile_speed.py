r"""A compiled training step of a :class:`~torch_geometric_gru.GRUConv` model
against the eager one, in the same process and on the same graph.

The model is the two-layer ``GRUConv`` model of the README (hidden 64) on
a real dataset's full graph; a training step is forward, cross-entropy,
backward and an Adam step. The compiled model is
``torch.compile(model, dynamic=True)``: the GRU recurrence is one opaque
custom operator per layer (``torch_geometric_gru::gru_layer``), and the
compiler fuses the linear maps, activations and dropout around it. Eager and
compiled steps alternate (so that a busy machine slows both alike); the
table gives the median of each, their ratio, and the first compiled call
(tracing and code generation). Outputs are checked equal before timing.
Usage::

    python benchmarks/compile_speed.py --datasets Cora PubMed --steps 20
"""
import argparse
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from aggr_speed import machine  # noqa: E402
from datasets import load_dataset  # noqa: E402
from options import EXACT_GRU, description  # noqa: E402

from torch_geometric_gru import GRUConv  # noqa: E402


class Net(torch.nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.conv1 = GRUConv(in_channels, hidden, **EXACT_GRU)
        self.conv2 = GRUConv(hidden, out_channels, **EXACT_GRU)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index)


def _step(model, optimizer, data) -> float:
    start = time.perf_counter()
    optimizer.zero_grad()
    out = model(data.x, data.edge_index)
    loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def measure(name: str, steps: int, hidden: int) -> dict:
    data = load_dataset(name)[0]
    torch.manual_seed(0)
    eager = Net(data.num_features, hidden, int(data.y.max()) + 1)
    model = Net(data.num_features, hidden, int(data.y.max()) + 1)
    model.load_state_dict(eager.state_dict())
    compiled = torch.compile(model, dynamic=True)
    eager.eval()
    model.eval()
    with torch.no_grad():
        first = time.perf_counter()
        out = compiled(data.x, data.edge_index)
        compile_s = time.perf_counter() - first
        error = float((out - eager(data.x, data.edge_index)).abs().max())
    eager.train()
    model.train()
    opt_eager = torch.optim.Adam(eager.parameters(), lr=0.01)
    opt_compiled = torch.optim.Adam(model.parameters(), lr=0.01)
    first = time.perf_counter()
    _step(compiled, opt_compiled, data)  # Compiles the training graph.
    compile_s += time.perf_counter() - first
    _step(eager, opt_eager, data)
    times = {'eager': [], 'compiled': []}
    for _ in range(steps):
        times['eager'].append(_step(eager, opt_eager, data))
        times['compiled'].append(_step(compiled, opt_compiled, data))
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(dataset=name, edges=data.num_edges, error=error,
                compile_s=compile_s, **med)


def main() -> None:
    p = argparse.ArgumentParser(description=description(__doc__))
    p.add_argument('--datasets', nargs='+', default=['Cora', 'PubMed'])
    p.add_argument('--steps', type=int, default=20,
                   help='timed training steps of each kind')
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads (default 1: timings on a shared '
                   'machine)')
    p.add_argument('--out', default=None, help='write the table here')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(name, args.steps, args.hidden) for name in args.datasets]
    lines = [
        f'Machine: {machine()}',
        '',
        '| dataset | edges | eager step (ms) | compiled step (ms) '
        '| compiled / eager | first compiled calls (s) | max |diff| |',
        '|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['edges']:,} | {1e3 * r['eager']:.1f} "
            f"| {1e3 * r['compiled']:.1f} "
            f"| {r['compiled'] / r['eager']:.2f} | {r['compile_s']:.1f} "
            f"| {r['error']:.1e} |")
    table = '\n'.join(lines)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
