r"""Peak memory per edge of a 2-layer model's training step and no-grad
forward on CPU: our GRU layers against PyG's layers, on large power-law
graphs.

Models (2 layers, F = H = 64 by default, ReLU between, cross-entropy on
random labels, :class:`torch.optim.Adam`):

* ``sage``: :class:`torch_geometric.nn.SAGEConv` (mean), the yardstick;
* ``gcn``: :class:`torch_geometric.nn.GCNConv`;
* ``gru``: :class:`torch_geometric_gru.GRUConv`;
* ``gru-ckpt``: the same with ``checkpoint=True`` (no per-edge state kept
  between the forward and the backward);
* ``mingru``: :class:`torch_geometric_gru.GRUConv` with ``cell='mingru'``;
* ``sage-gru``: :class:`~torch_geometric.nn.SAGEConv` with
  ``aggr=torch_geometric_gru.GRUAggregation(64)`` (per-edge messages);
* ``sage-pyg-gru``: :class:`~torch_geometric.nn.SAGEConv` with PyG's own
  :class:`torch_geometric.nn.aggr.GRUAggregation`, which pads every node to
  the largest in-degree: run only where its predicted peak (25x the padded
  input :math:`N \cdot \max\deg \cdot F` floats in training, 6.5x in a
  forward, as measured by ``aggr_speed.py``) fits.

Graphs: :func:`datasets.power_law_graph`, seeded, :math:`N = E / 20` nodes,
in- and out-degrees both power-law (exponent 2.5: hubs on both sides),
edges sorted by destination (which PyG's padded aggregation needs).

**Method.** Every (graph, model, mode) runs in a fresh process (the child
of this script), which

1. warms up on a tiny graph of the same kind with a model of the same kind
   (one training step or forward), so that one-time allocations (thread
   pools, libraries, lazily built kernels) are not counted;
2. builds the graph from the seed, the features :math:`x` (random,
   :math:`N \times F`), the labels, the model and the optimizer: their
   memory is the *baseline*, not counted;
3. returns freed heap memory to the system (:obj:`malloc_trim`) and resets
   the kernel's peak-RSS counter of the process (writing ``5`` to
   ``/proc/self/clear_refs`` sets ``VmHWM`` to the current RSS, so the
   graph construction's own peak does not count; the lifetime maximum
   :obj:`ru_maxrss` could not forget it). The baseline is the RSS right
   after the reset;
4. runs one training step (forward, loss, backward, Adam step), reading
   ``VmHWM`` after each phase and resetting it in between, or one
   forward under :func:`torch.no_grad`. The peak is the largest
   ``VmHWM`` minus the baseline: the memory the step itself needs,
   including what the layers cache on their first call (our packed
   layouts). Where ``clear_refs`` cannot be written, a thread samples
   ``VmRSS`` every millisecond instead (a lower bound of the peak).

During the training forward, :func:`torch.autograd.graph.saved_tensors_hooks`
records every tensor autograd saves; the sum of their distinct storages,
leaving out the parameters and the inputs (held by the caller anyway), is
the *saved* column, split into floating-point tensors and index tensors.
The step time is that of a second step (the first builds and caches our
layouts), one torch thread per process unless ``--threads`` says
otherwise. A watchdog kills a child whose RSS passes ``--max-gb``, and a
measurement predicted (from the model's bytes per edge on a smaller graph,
or PyG's padded size) above ``--max-gb`` or above the memory available now
is skipped, with the reason in the table. Usage::

    python benchmarks/memory.py --edges 1M 4M 16M --out docs/results/memory.md
"""
import argparse
import ctypes
import gc
import json
import os
import os.path as osp
import re
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

# First, before torch loads: it sets OpenMP's wait policy.
import cpu_threads  # noqa: E402,F401
import torch  # noqa: E402


from options import (  # noqa: E402
    EXACT_GRU,
    cpu_name,
    description,
    stored_args,
)

MODELS = {
    'sage': 'SAGEConv (mean)',
    'gcn': 'GCNConv',
    'gru': 'GRUConv',
    'gru-ckpt': 'GRUConv (checkpoint=True)',
    'mingru': "GRUConv (cell='mingru')",
    'sage-gru': 'SAGEConv (our GRUAggregation)',
    'sage-pyg-gru': "SAGEConv (PyG's padded GRUAggregation)",
}
MODES = ('train', 'forward')
# PyG's padded GRU: peak over its padded input (N * max_degree * F floats),
# measured by aggr_speed.py for one aggregation (6.5x forward, 12.5x
# training); a 2-layer model keeps both layers' in training.
PYG_FACTOR = {'forward': 6.5, 'train': 25.0}


def parse_count(text: str) -> int:
    r"""``'4M'`` -> 4,000,000; ``'500k'`` -> 500,000."""
    match = re.fullmatch(r'(\d+(?:\.\d+)?)([kKmM]?)', text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a count like "
                                         f"4000, 500k or 4M")
    scale = {'': 1, 'k': 10**3, 'm': 10**6}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def machine(threads: int) -> str:
    r"""The CPU (from ``/proc/cpuinfo``), cores, memory and versions."""
    cpu = cpu_name('unknown CPU')
    import torch_geometric
    return (f'{cpu}, {os.cpu_count()} cores, '
            f'{_meminfo("MemTotal") / 2**30:.0f} GiB; {threads} torch '
            f'thread{"s" if threads != 1 else ""} per process; torch '
            f'{torch.__version__}, PyG {torch_geometric.__version__}')


def _meminfo(key: str) -> int:
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    return 0


# The measurement, in a child process ########################################


def _status(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'no {key} in /proc/self/status')


class PeakRSS:
    r"""The peak RSS of this process since the last :meth:`reset`: the
    kernel's ``VmHWM`` after resetting it through ``/proc/self/clear_refs``
    (exact), or, where that file cannot be written, the largest ``VmRSS``
    a thread samples every millisecond."""
    def __init__(self):
        self.exact = True
        try:
            self._clear()
        except OSError:
            self.exact = False
            self._max = 0
            self._lock = threading.Lock()
            thread = threading.Thread(target=self._sample, daemon=True)
            thread.start()

    @staticmethod
    def _clear():
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')

    def _sample(self):
        while True:
            rss = _status('VmRSS')
            with self._lock:
                self._max = max(self._max, rss)
            time.sleep(0.001)

    def reset(self, trim: bool = False) -> int:
        r"""Forgets the peak; returns the RSS now. With :obj:`trim`, first
        frees what is garbage and gives freed heap pages back."""
        if trim:
            _trim()
        if self.exact:
            self._clear()
            return _status('VmHWM')
        rss = _status('VmRSS')
        with self._lock:
            self._max = rss
        return rss

    def peak(self) -> int:
        if self.exact:
            return _status('VmHWM')
        with self._lock:
            return max(self._max, _status('VmRSS'))


def _trim():
    gc.collect()
    try:  # Give freed heap pages back, so that they are not reused unseen.
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def build_model(name: str, channels: int, hidden: int) -> torch.nn.Module:
    from torch_geometric.nn import GCNConv, SAGEConv
    from torch_geometric.nn.aggr import GRUAggregation as PyGGRUAggregation

    from torch_geometric_gru import GRUAggregation, GRUConv

    def layer(in_channels: int, out_channels: int) -> torch.nn.Module:
        if name == 'sage':
            return SAGEConv(in_channels, out_channels)
        if name == 'gcn':
            return GCNConv(in_channels, out_channels)
        if name == 'gru':
            return GRUConv(in_channels, out_channels, **EXACT_GRU)
        if name == 'gru-ckpt':
            return GRUConv(in_channels, out_channels, checkpoint=True,
                           **EXACT_GRU)
        if name == 'mingru':
            return GRUConv(in_channels, out_channels, cell='mingru',
                           **EXACT_GRU)
        if name == 'sage-gru':
            return SAGEConv(in_channels, out_channels,
                            aggr=GRUAggregation(in_channels))
        if name == 'sage-pyg-gru':
            return SAGEConv(in_channels, out_channels,
                            aggr=PyGGRUAggregation(in_channels, in_channels))
        raise ValueError(f"Unknown model '{name}'")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = layer(channels, hidden)
            self.conv2 = layer(hidden, hidden)

        def forward(self, x, edge_index):
            x = self.conv1(x, edge_index).relu()
            return self.conv2(x, edge_index)

    return Net()


def _inputs(spec: Dict, channels: int, hidden: int, model: str) -> Dict:
    from datasets import power_law_graph
    num_nodes = spec['num_nodes']
    edge_index = power_law_graph(spec['num_edges'], num_nodes,
                                 spec['exponent'], spec['seed'])
    gen = torch.Generator().manual_seed(spec['seed'] + 1)
    x = torch.randn(num_nodes, channels, generator=gen)
    y = torch.randint(0, hidden, (num_nodes, ), generator=gen)
    torch.manual_seed(spec['seed'])
    net = build_model(model, channels, hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    return dict(edge_index=edge_index, x=x, y=y, net=net,
                optimizer=optimizer)


class _SavedBytes:
    r"""Sums the distinct storages that autograd saves, leaving out those
    of :obj:`exclude`; floating-point and index tensors apart."""
    def __init__(self, exclude: List[torch.Tensor]):
        self.skip = {t.untyped_storage().data_ptr() for t in exclude}
        self.seen: Dict[int, tuple] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.skip and storage.nbytes() > 0:
            self.seen[ptr] = (storage.nbytes(), t.is_floating_point())
        return t

    def total(self, floating: bool) -> int:
        return sum(n for n, f in self.seen.values() if f == floating)


def _train_step(case: Dict, saved: Optional[_SavedBytes] = None,
                peak: Optional[PeakRSS] = None,
                base: int = 0) -> Dict:
    import torch.nn.functional as F
    net, optimizer = case['net'], case['optimizer']
    phases = {}

    def mark(name):
        if peak is not None:
            phases[name] = peak.peak() - base
            phases[f'{name}_held'] = _status('VmRSS') - base
            peak.reset()

    optimizer.zero_grad(set_to_none=True)
    if saved is not None:
        with torch.autograd.graph.saved_tensors_hooks(saved.pack,
                                                      lambda t: t):
            out = net(case['x'], case['edge_index'])
    else:
        out = net(case['x'], case['edge_index'])
    loss = F.cross_entropy(out, case['y'])
    del out
    mark('forward')
    loss.backward()
    del loss
    mark('backward')
    optimizer.step()
    mark('optimizer')
    return phases


def _forward(case: Dict) -> None:
    with torch.no_grad():
        case['net'](case['x'], case['edge_index'])


def measure(spec: Dict, model: str, mode: str, channels: int, hidden: int,
            repeats: int) -> Dict:
    r"""Measures :obj:`model` on the graph :obj:`spec` in :obj:`mode`, in
    this process (see the module's docstring for the method)."""
    train = mode == 'train'
    # 1. Warm-up: the same kind of graph and model, tiny.
    tiny = dict(spec, num_edges=2000, num_nodes=100)
    case = _inputs(tiny, channels, hidden, model)
    _train_step(case) if train else _forward(case)
    del case
    # The objects of the imported libraries live to the end: frozen, they
    # no longer make every garbage collection take seconds.
    gc.collect()
    gc.freeze()
    peak = PeakRSS()
    before = peak.reset(trim=True)
    # 2. The graph, features, model and optimizer: the baseline.
    case = _inputs(spec, channels, hidden, model)
    inputs = peak.reset(trim=True) - before
    # 3-4. The measured step.
    base = peak.reset(trim=True)
    result = dict(baseline_bytes=base, input_bytes=inputs,
                  exact_peak=peak.exact)
    t = time.perf_counter()
    if train:
        exclude = [case['x'], case['y'], case['edge_index']]
        saved = _SavedBytes(exclude + list(case['net'].parameters()))
        phases = _train_step(case, saved, peak, base)
        result.update(phases)
        result['peak_bytes'] = max(phases['forward'], phases['backward'],
                                   phases['optimizer'])
        result['saved_float_bytes'] = saved.total(True)
        result['saved_index_bytes'] = saved.total(False)
    else:
        _forward(case)
        result['peak_bytes'] = peak.peak() - base
    result['first_time'] = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        _train_step(case) if train else _forward(case)
        times.append(time.perf_counter() - t)
    result['time'] = min(times) if times else result['first_time']
    return result


def run_child(spec: Dict, model: str, mode: str, args: argparse.Namespace,
              ) -> Dict:
    r"""Runs :func:`measure` in a fresh process, killed if its RSS passes
    :obj:`--max-gb` or it runs past :obj:`--timeout`."""
    cmd = [sys.executable, osp.abspath(__file__), '--child',
           json.dumps(spec), model, mode, '--channels', str(args.channels),
           '--hidden', str(args.hidden), '--repeats', str(args.repeats),
           '--threads', str(args.threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    limit, start, largest = args.max_gb * 2**30, time.time(), 0
    reason = None
    while proc.poll() is None:
        try:
            with open(f'/proc/{proc.pid}/status') as f:
                rss = next(int(line.split()[1]) * 1024 for line in f
                           if line.startswith('VmRSS:'))
        except (OSError, StopIteration):
            rss = 0
        largest = max(largest, rss)
        if rss > limit:
            reason = f'killed: RSS passed {args.max_gb:g} GB'
        elif time.time() - start > args.timeout:
            reason = f'killed: ran past {args.timeout:g} s'
        if reason:
            proc.kill()
            break
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    if reason:
        return dict(skipped=reason)
    if proc.returncode != 0:
        print(f'  {model}/{mode} failed: {stderr.strip()[-500:]}',
              file=sys.stderr)
        return dict(skipped=f'failed (exit {proc.returncode})')
    return json.loads(stdout.strip().splitlines()[-1])


# The parent: graphs, predictions, the table ##################################


def graph_stats(spec: Dict) -> Dict:
    from datasets import power_law_graph
    edge_index = power_law_graph(spec['num_edges'], spec['num_nodes'],
                                 spec['exponent'], spec['seed'])
    src, dst = edge_index
    n = spec['num_nodes']
    return dict(max_in_degree=int(torch.bincount(dst, minlength=n).max()),
                max_out_degree=int(torch.bincount(src, minlength=n).max()))


def predicted_bytes(spec: Dict, model: str, mode: str, results: List[Dict],
                    channels: int) -> Optional[int]:
    r"""The peak a measurement is expected to need: PyG's padded size, or
    the model's bytes per edge on the largest graph measured so far (plus
    10%) times the edges, plus the inputs (graph, features)."""
    num_edges = spec['num_edges']
    inputs = num_edges * 16 + spec['num_nodes'] * channels * 4
    if model == 'sage-pyg-gru':
        padded = spec['num_nodes'] * spec['max_in_degree'] * channels * 4
        return int(padded * PYG_FACTOR[mode]) + inputs
    for row in reversed(results):
        found = row['runs'].get(f'{model}/{mode}', {})
        if 'peak_bytes' in found:
            per_edge = found['peak_bytes'] / row['num_edges']
            return int(1.1 * per_edge * num_edges) + inputs
    return None


def fmt_gb(b: float) -> str:
    return f'{b / 2**30:.1f} GB'


def _get(row: Dict, key: str, field: str) -> Optional[float]:
    value = row['runs'].get(key)
    if not value or 'skipped' in value:
        return None
    return value.get(field)


def fmt_int(v: Optional[float]) -> str:
    return '—' if v is None else f'{v:,.0f}'


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    return '—' if a is None or not b else f'{a / b:.2f}'


def fmt_time(t: Optional[float]) -> str:
    if t is None:
        return '—'
    return f'{t * 1e3:.0f} ms' if t < 10 else f'{t:.1f} s'


def render(results: List[Dict], args: argparse.Namespace) -> str:
    H, F = args.hidden, args.channels
    lines = [
        f'Machine: {machine(args.threads)}. 2 layers, F = H = {F}'
        + ('' if F == H else f' (F = {F}, H = {H})') + ', fp32; power-law '
        f'graphs (degree exponent {args.exponent}, N = E / '
        f'{args.avg_degree:g}, seed {args.seed}). Command: `python '
        f'benchmarks/memory.py --edges '
        f'{" ".join(r["label"] for r in results)}`.', '',
        'Bytes per edge: peak RSS above the baseline (graph, features, '
        'model, optimizer) over E, each (graph, model, mode) in a fresh '
        'process. *After fwd*: RSS held when the forward and the loss are '
        'done; *bwd peak*: the peak during the backward; *saved*: the '
        'distinct storages autograd saves (floats + indices), inputs and '
        'parameters left out. Ratios (×) are to SAGEConv (mean) on the '
        'same graph and mode; times of one step (the second), '
        f'{args.threads} thread{"s" if args.threads != 1 else ""}.', '',
        '| graph | model | train peak B/edge | × SAGE | after fwd B/edge | '
        'bwd peak B/edge | saved B/edge (float + index) | no-grad peak '
        'B/edge | × SAGE | train step | × SAGE | no-grad fwd | × SAGE |',
        '|' + '---|' * 13
    ]
    skipped = []
    for r in results:
        E = r['num_edges']
        graph = (f'E = {r["label"]} (N = {r["num_nodes"]:,}, max in/out '
                 f'deg {r["max_in_degree"]:,}/{r["max_out_degree"]:,})')

        def per_edge(key, field):
            v = _get(r, key, field)
            return None if v is None else v / E

        for model in args.models:
            tr, fw = f'{model}/train', f'{model}/forward'
            peak, ref = per_edge(tr, 'peak_bytes'), per_edge(
                'sage/train', 'peak_bytes')
            fpeak, fref = per_edge(fw, 'peak_bytes'), per_edge(
                'sage/forward', 'peak_bytes')
            saved_f = per_edge(tr, 'saved_float_bytes')
            saved_i = per_edge(tr, 'saved_index_bytes')
            saved = ('—' if saved_f is None else
                     f'{saved_f + saved_i:,.0f} ({saved_f:,.0f} + '
                     f'{saved_i:,.0f})')
            t, tref = _get(r, tr, 'time'), _get(r, 'sage/train', 'time')
            ft, ftref = _get(r, fw, 'time'), _get(r, 'sage/forward', 'time')
            lines.append(
                f'| {graph} | {MODELS[model]} | {fmt_int(peak)} | '
                f'{fmt_ratio(peak, ref)} | '
                f'{fmt_int(per_edge(tr, "forward_held"))} | '
                f'{fmt_int(per_edge(tr, "backward"))} | {saved} | '
                f'{fmt_int(fpeak)} | {fmt_ratio(fpeak, fref)} | '
                f'{fmt_time(t)} | {fmt_ratio(t, tref)} | {fmt_time(ft)} | '
                f'{fmt_ratio(ft, ftref)} |')
            for key in (tr, fw):
                value = r['runs'].get(key, {})
                if 'skipped' in value:
                    skipped.append(f'E = {r["label"]} {key}: '
                                   f'{value["skipped"]}')
    if skipped:
        lines += ['', 'Not run: ' + '; '.join(skipped) + '.']
    return '\n'.join(lines) + '\n'


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description(__doc__))
    p.add_argument('--edges', nargs='+', default=['1M', '4M', '16M'],
                   help='graph sizes (edges; 4000, 500k, 4M, ...)')
    p.add_argument('--avg-degree', type=float, default=20,
                   help='E / N of every graph')
    p.add_argument('--exponent', type=float, default=2.5,
                   help='power-law exponent of the in- and out-degrees')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--models', nargs='+', default=list(MODELS),
                   choices=list(MODELS), help='the models (see the '
                   'docstring); sage, the yardstick, is always run first')
    p.add_argument('--modes', nargs='+', default=list(MODES),
                   choices=MODES, help='training step and/or no-grad '
                   'forward')
    p.add_argument('--channels', type=int, default=64,
                   help='input width F')
    p.add_argument('--hidden', type=int, default=64, help='hidden width H')
    p.add_argument('--repeats', type=int, default=1,
                   help='timed steps after the measured one (the fastest '
                   'is reported; 0: time the measured step)')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads per process (default 1: the '
                   'machines are shared)')
    p.add_argument('--max-gb', type=float, default=10.0,
                   help='skip a measurement predicted above this, and kill '
                   'a child whose RSS passes it')
    p.add_argument('--timeout', type=float, default=1800.0,
                   help='seconds before a child is killed')
    p.add_argument('--in-process', action='store_true',
                   help='measure every model in this process, one after '
                   'another (fast but not isolated: for smoke tests only)')
    p.add_argument('--out', default=None,
                   help='write the table here (.md) and the raw figures '
                   'beside it (.json)')
    p.add_argument('--child', nargs=3, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child is not None:
        spec, model, mode = args.child
        print(json.dumps(measure(json.loads(spec), model, mode,
                                 args.channels, args.hidden, args.repeats)))
        return []
    if 'sage' not in args.models:
        args.models = ['sage'] + args.models
    args.models = sorted(args.models, key=list(MODELS).index)

    from tqdm import tqdm
    results: List[Dict] = []
    for label in args.edges:
        num_edges = parse_count(label)
        spec = dict(num_edges=num_edges,
                    num_nodes=max(1, int(num_edges / args.avg_degree)),
                    exponent=args.exponent, seed=args.seed)
        spec.update(graph_stats(spec))
        gc.collect()
        row = dict(label=label, runs={}, **spec)
        jobs = [(model, mode) for mode in args.modes
                for model in args.models]
        for model, mode in tqdm(jobs, desc=f'E = {label}', leave=False):
            need = predicted_bytes(spec, model, mode, results,
                                   args.channels)
            available = _meminfo('MemAvailable')
            key = f'{model}/{mode}'
            if need is not None and need > args.max_gb * 2**30:
                row['runs'][key] = dict(
                    skipped=f'predicted {fmt_gb(need)} > --max-gb '
                    f'{args.max_gb:g}')
            elif (not args.in_process and need is not None
                  and need > available - 2**30):
                row['runs'][key] = dict(
                    skipped=f'predicted {fmt_gb(need)}, only '
                    f'{fmt_gb(available)} available')
            elif args.in_process:
                row['runs'][key] = measure(spec, model, mode, args.channels,
                                           args.hidden, args.repeats)
            else:
                row['runs'][key] = run_child(spec, model, mode, args)
            found = row['runs'][key]
            tqdm.write(f'E = {label} {key}: ' + (
                found['skipped'] if 'skipped' in found else
                f'{found["peak_bytes"] / num_edges:,.0f} B/edge, '
                f'{fmt_time(found["time"])}'))
        results.append(row)

    report = render(results, args)
    print(report)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(report)
        with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
            json.dump(dict(results=results, machine=machine(args.threads),
                           args=stored_args(args)), f, indent=1)
    return results


if __name__ == '__main__':
    main()
