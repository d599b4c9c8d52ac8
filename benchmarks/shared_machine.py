r"""How much a busy machine slows the layers down, with the threads a user
gets by default (no thread settings: plain user code). Every measurement
runs in a fresh process, first on the machine as it is, then beside
:obj:`--busy` processes that this script starts itself (Python loops that
spin on one core each) and stops afterwards; the table gives each model's
time in both and their ratio, beside PyG's layers measured the same way.

    python benchmarks/shared_machine.py --dataset Cora

The models, on the same 64-wide node features (a first layer's projection
of the dataset's, computed once), edges sorted by destination: a no-grad
forward and a training step of :obj:`GRUConv(64, 64)` (ours), of
:obj:`SAGEConv(64, 64, aggr=GRUAggregation(64, 64))` with PyG's own padded
GRU aggregation, and of :obj:`SAGEConv(64, 64)` (mean). This script
sets no thread count and no OpenMP policy: it measures the layers as a
user's script meets them (it is about threads).
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
MODELS = {
    'gru': 'GRUConv (ours)',
    'sage-pyg-gru': 'SAGEConv, PyG GRUAggregation',
    'sage': 'SAGEConv (mean)',
}

CHILD = r'''
import json, sys, time
sys.path.insert(0, {here!r})
import torch
from datasets import load_dataset
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.aggr import GRUAggregation as PyGGRU
from torch_geometric_gru import GRUConv
data = load_dataset({dataset!r}, {root!r})[0]
torch.manual_seed(0)
model = {model!r}
# The same 64-wide node features for every layer (a first layer's
# projection, computed once), so that the aggregations compare.
with torch.no_grad():
    x = torch.nn.Linear(data.num_features, 64)(data.x)
edge_index = data.edge_index[:, data.edge_index[1].argsort(stable=True)]
if model == 'gru':
    conv = GRUConv(64, 64, edge_dropout=0.0, add_mean=False,
                   gru_scale=False)
elif model == 'sage-pyg-gru':
    conv = SAGEConv(64, 64, aggr=PyGGRU(64, 64))
else:
    conv = SAGEConv(64, 64)

def forward():
    with torch.no_grad():
        conv(x, edge_index)

def train():
    conv(x, edge_index).sum().backward()

out = {{}}
for name, fn in (('forward', forward), ('train', train)):
    fn()  # Warm-up (and the layout, built once per graph).
    times = []
    deadline = time.perf_counter() + {budget}
    while len(times) < 3 or (time.perf_counter() < deadline
                             and len(times) < {repeats}):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    out[name] = sorted(times)[len(times) // 2]  # The median.
out['threads'] = torch.get_num_threads()
print(json.dumps(out))
'''

SPIN = ('import time\nend = time.time() + {seconds}\n'
        'while time.time() < end: pass')


def measure(model: str, args) -> dict:
    code = CHILD.format(here=HERE, dataset=args.dataset, root=args.root,
                        model=model, budget=args.budget,
                        repeats=args.repeats)
    env = {k: v for k, v in os.environ.items()
           if k not in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY',
                        'MKL_NUM_THREADS')}  # A user's plain environment.
    result = subprocess.run([sys.executable, '-c', code], env=env,
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default='Cora')
    parser.add_argument('--root', default=None)
    parser.add_argument('--models', nargs='+', choices=list(MODELS),
                        default=list(MODELS))
    parser.add_argument('--busy', type=int, default=1,
                        help='busy processes started beside the busy runs')
    parser.add_argument('--budget', type=float, default=5.0,
                        help='seconds of repeats per measurement')
    parser.add_argument('--repeats', type=int, default=50)
    parser.add_argument('--out', default=None,
                        help='write the table here (.md) and JSON beside')
    args = parser.parse_args()

    results = {}
    for model in args.models:
        results[model] = {'idle': measure(model, args)}
        spinners = [subprocess.Popen(
            [sys.executable, '-c', SPIN.format(seconds=3600)])
            for _ in range(args.busy)]
        try:
            time.sleep(1.0)
            results[model]['busy'] = measure(model, args)
        finally:
            for p in spinners:
                p.kill()
                p.wait()
        print(model, json.dumps(results[model]), file=sys.stderr)

    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    threads = results[args.models[0]]['idle']['threads']
    lines = [
        f'{args.dataset}, 64 channels in and out; {cpu}, '
        f'{os.cpu_count()} cores, default torch threads ({threads}); busy: '
        f'{args.busy} spinning process(es) started by the script. Median '
        f'times, each model and condition in a fresh process.', '',
        '| model | forward idle | forward busy | busy / idle | '
        'train idle | train busy | busy / idle |',
        '|---|---|---|---|---|---|---|'
    ]
    for model in args.models:
        r = results[model]
        cells = []
        for mode in ('forward', 'train'):
            idle, busy = r['idle'][mode], r['busy'][mode]
            cells += [f'{1e3 * idle:.1f} ms', f'{1e3 * busy:.1f} ms',
                      f'{busy / idle:.1f}×']
        lines.append(f'| {MODELS[model]} | ' + ' | '.join(cells) + ' |')
    table = '\n'.join(lines)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
        with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
