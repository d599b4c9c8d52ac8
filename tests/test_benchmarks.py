r"""Smoke runs of the benchmark scripts, the examples and the README's
example, so that they cannot rot. They read the real datasets from the
local datasets folder (copied to a temporary root) and skip without it."""
import contextlib
import json
import os
import os.path as osp
import re
import runpy
import subprocess
import sys
import time

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..')
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

from datasets import dataset_available  # noqa: E402
from reference import NO_SAMPLER  # noqa: E402


def needs(*names):
    names = [n.capitalize() if n in ('minesweeper', 'tolokers') else n
             for n in names]
    missing = [n for n in names if not dataset_available(n)]
    return pytest.mark.skipif(
        bool(missing), reason=f'no raw files for {missing} in '
        'the datasets folder (set $TORCH_GEOMETRIC_GRU_DATASETS)')


def _script(path, argv):
    old, threads = sys.argv, torch.get_num_threads()
    sys.argv = [path] + argv
    try:
        return runpy.run_path(path, run_name='__main__')
    finally:
        sys.argv = old
        torch.set_num_threads(threads)  # A script sets the process's.


@contextlib.contextmanager
def _namespace(module_dir, script='main.py'):
    # The scripts import their siblings by name; load them from their folder.
    sys.path.insert(0, module_dir)
    threads = torch.get_num_threads()
    try:
        yield runpy.run_path(osp.join(module_dir, script))
    finally:
        torch.set_num_threads(threads)  # A script sets the process's.
        sys.path.remove(module_dir)
        for name in ('main', 'models', 'train_eval'):
            sys.modules.pop(name, None)


def _main(module_dir, argv):
    with _namespace(module_dir) as namespace:
        return namespace['main'](argv)


def _defaults(module_dir, argv):
    with _namespace(module_dir) as namespace:
        return vars(namespace['parser']().parse_args(argv))


@pytest.mark.parametrize('script,dataset,result', [
    ('citation', 'Cora', 'cora'),
    ('citation', 'CiteSeer', 'citeseer'),
    ('citation', 'PubMed', 'pubmed'),
    ('kernel', 'PROTEINS', 'proteins'),
])
def test_defaults_produced_the_tables(script, dataset, result):
    # docs/results.md promises that a script's defaults are what produced
    # its main table: every option stored with the table's run must still
    # default to the stored value.
    with open(osp.join(ROOT, 'docs', 'results', f'{result}.json')) as f:
        stored = json.load(f)['args']
    defaults = _defaults(osp.join(ROOT, 'benchmarks', script),
                         ['--dataset', dataset])
    changed = {
        key: (value, defaults[key])
        for key, value in stored.items()
        if key not in ('out', 'dataset') and defaults.get(key) != value
    }
    assert not changed, f'(table, default) differ: {changed}'


@pytest.mark.slow  # About 20 s: four models trained for ten epochs.
@needs('Cora')
def test_citation_script(tmp_path):
    out = tmp_path / 'cora.json'
    results = _main(osp.join(ROOT, 'benchmarks', 'citation'), [
        '--dataset', 'Cora', '--runs', '1', '--epochs', '10', '--models',
        'gru', 'gcn', 'sage', 'sage-gru-mean', '--order', 'degree',
        '--shuffle', '--num-permutations', '2', '--out', str(out)
    ])
    assert set(results) == {'gru', 'gcn', 'sage', 'sage-gru-mean'}
    with open(out) as f:
        stored = json.load(f)
    assert stored['args']['out'] == 'cora.json'  # No machine's path.
    for name, result in results.items():
        assert stored['results'][name]['test_acc'] == result['test_acc']
        # Accuracy on Cora's 1,000 test nodes, at the best validation epoch:
        acc = result['test_acc'][0]
        assert abs(acc * 1000 - round(acc * 1000)) < 1e-3
        curve = result['curves'][0]
        assert len(curve) == 10
        assert result['val_acc'][0] == max(curve)
    # Ten epochs are enough for GCN to learn well above chance (0.32):
    assert results['gcn']['mean'] > 0.5


@needs('Cora')
def test_citation_script_without_root_weight():
    import torch_geometric_gru

    built = []
    init = torch_geometric_gru.GRUConv.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch_geometric_gru.GRUConv, '__init__', spy)
        _main(osp.join(ROOT, 'benchmarks', 'citation'), [
            '--dataset', 'Cora', '--runs', '1', '--epochs', '1', '--models',
            'gru', '--no-root-weight'
        ])
    assert len(built) == 2
    assert all(conv.lin_root is None for conv in built)


@needs('Cora')
def test_variants_script_without_variant_is_the_main_model():
    citation = osp.join(ROOT, 'benchmarks', 'citation')
    argv = ['--dataset', 'Cora', '--runs', '1', '--epochs', '3']
    ours = _main(citation, argv + ['--models', 'gru'])['gru']
    with _namespace(citation, 'variants.py') as namespace:
        variant = namespace['main'](argv)
    assert variant['curves'] == ours['curves']
    assert variant['test_acc'] == ours['test_acc']


@needs('Cora')
def test_defaults_script_candidates_start_from_the_layer():
    # The README's natural model: a candidate without options is GRUConv
    # with the search's settings (no in-edge drop, no mean, no scale),
    # parameter for parameter, so the same seed trains it identically;
    # '--option' reaches both layers.
    citation = osp.join(ROOT, 'benchmarks', 'citation')
    argv = ['--dataset', 'Cora', '--seeds', '1', '--epochs', '3']
    # Imported as a module: PyG's inspector reads a MessagePassing
    # subclass's module from sys.modules, which run_path does not fill.
    sys.path.insert(0, citation)
    threads = torch.get_num_threads()
    try:
        import defaults
        plain = defaults.main(argv + ['--conv', 'gru', '--option',
                                      'edge_dropout=0.0', '--option',
                                      'add_mean=False', '--option',
                                      'gru_scale=False'])
        candidate = defaults.main(argv + ['--conv', 'candidate'])
        # rezero became GRUConv's gru_scale: the candidate passes it on
        # (scaled once, not twice).
        rezero = defaults.main(argv + ['--conv', 'candidate', '--option',
                                       'rezero=True'])
        scaled = defaults.main(argv + ['--conv', 'gru', '--option',
                                       'edge_dropout=0.0', '--option',
                                       'add_mean=False'])
        biased = defaults.main(argv + ['--conv', 'candidate',
                                       '--option', 'update_bias=2.0'])
        args = defaults.parser().parse_args(
            ['--option', 'shuffle=True', '--option', 'kernel=native'])
        net = defaults.Net(defaults.CONVS['gru'], 10, 8, 3,
                           **dict(args.option))
    finally:
        torch.set_num_threads(threads)
        sys.path.remove(citation)
        sys.modules.pop('defaults', None)
    assert plain == candidate
    assert rezero == scaled and rezero != plain
    assert biased != plain
    assert 0 < plain[0]['val'] <= 1 and 1 <= plain[0]['epoch'] <= 3
    for conv in (net.conv1, net.conv2):
        assert conv.aggr_module.shuffle and conv.aggr_module.kernel == 'native'


@needs('Cora')
@pytest.mark.parametrize('flag', [
    '--message-norm', '--project-state', '--self-loop-first',
    '--update-bias=2', '--decay-first-layer-only', '--raw-features',
    '--linear-head', '--bidirectional'
])
def test_variants_script(flag):
    citation = osp.join(ROOT, 'benchmarks', 'citation')
    with _namespace(citation, 'variants.py') as namespace:
        args = namespace['parser']().parse_args([flag])
        model = namespace['make_model'](args, 10, 3)
        result = namespace['main'](
            ['--dataset', 'Cora', '--runs', '1', '--epochs', '2', flag])
        without_root = namespace['make_model'](
            namespace['parser']().parse_args([flag, '--no-root-weight']),
            10, 3)
    acc = result['test_acc'][0]  # On Cora's 1,000 test nodes:
    assert abs(acc * 1000 - round(acc * 1000)) < 1e-3
    assert not any('root' in name for name, _ in
                   without_root.named_parameters())
    names = {type(m).__name__ for m in model.modules()}
    grus = [m for m in model.modules() if isinstance(m, torch.nn.RNNBase)]
    if flag == '--message-norm':
        assert 'LayerNorm' in names
    elif flag == '--project-state':
        assert [g.hidden_size for g in grus] == [64, 64]
        assert model(torch.randn(4, 10), torch.tensor([[0, 1], [1, 2]]),
                     ).shape == (4, 3)
    elif flag == '--update-bias=2':
        for g in grus:
            h = g.hidden_size
            assert bool((g.bias_ih_l0[h:2 * h] == 2).all())
            assert bool((g.bias_hh_l0[h:2 * h] == 0).all())
    elif flag == '--linear-head':
        assert model.head.out_channels == 3
    elif flag == '--bidirectional':
        assert all(g.bidirectional for g in grus)


@needs('Cora')
def test_variants_self_loop_is_read_first():
    citation = osp.join(ROOT, 'benchmarks', 'citation')
    with _namespace(citation, 'variants.py') as namespace:
        parse = namespace['parser']().parse_args
        _, first = namespace['load'](parse(['--self-loop-first']))
        _, last = namespace['load'](parse([]))
    for data, position in ((first, 0), (last, -1)):
        src, dst = data.edge_index
        perm = torch.sort(dst, stable=True)[1]
        src, dst = src[perm], dst[perm]
        node = int(dst[0])
        assert int(src[dst == node][position]) == node


@needs('MUTAG')
def test_kernel_script(tmp_path):
    results = _main(osp.join(ROOT, 'benchmarks', 'kernel'), [
        '--dataset', 'MUTAG', '--only-folds', '1', '--epochs', '1',
        '--models', 'gru', 'sage-gru-mean', 'sage-lstm', 'sage-pyg-gru',
        '--shuffle', '--out', str(tmp_path / 'mutag.json')
    ])
    assert set(results) == {'gru', 'sage-gru-mean', 'sage-lstm',
                            'sage-pyg-gru'}
    assert len(results['gru']['test_acc']) == 1


@pytest.mark.parametrize('script,dataset', [('citation', 'Cora'),
                                            ('kernel', 'MUTAG')])
def test_mean_and_gru_model_refuses_another_cell(script, dataset):
    # 'sage-gru-mean' has a GRU cell only: '--cell mingru' is refused
    # before any data is read, not ignored.
    with pytest.raises(ValueError, match="without '--cell'"):
        _main(osp.join(ROOT, 'benchmarks', script), [
            '--dataset', dataset, '--models', 'sage-gru-mean', '--cell',
            'mingru', '--root', '/nonexistent'
        ])


@pytest.mark.slow
@needs('Cora')
def test_aggr_speed_script(tmp_path):
    out = tmp_path / 'speed.md'
    subprocess.run([
        sys.executable, osp.join(ROOT, 'benchmarks', 'aggr_speed.py'),
        '--graphs', 'cora', '--methods', 'ours', 'pyg', 'mean', 'conv',
        '--modes', 'forward', '--repeats', '1', '--budget', '0.1', '--out',
        str(out)
    ], check=True, capture_output=True, timeout=600)
    table = out.read_text()
    assert '| Cora | 2,708 | 10,556 | 168 |' in table
    # Our error against the per-node reference is at float precision:
    row = [line for line in table.splitlines() if line.startswith('| Cora')]
    assert float(row[0].split('|')[-3]) < 1e-5


@pytest.mark.slow
@needs('Cora')
def test_compile_speed_script(tmp_path):
    out = tmp_path / 'compile.md'
    subprocess.run([
        sys.executable, osp.join(ROOT, 'benchmarks', 'compile_speed.py'),
        '--datasets', 'Cora', '--steps', '1', '--out', str(out)
    ], check=True, capture_output=True, timeout=900)
    row = [line for line in out.read_text().splitlines()
           if line.startswith('| Cora')][0].split('|')
    assert row[2].strip() == '10,556'
    assert float(row[5]) > 0  # compiled / eager
    assert float(row[-2]) < 1e-5  # compiled equals eager


def _memory_table(argv):
    with _namespace(osp.join(ROOT, 'benchmarks'), 'memory.py') as ns:
        results = ns['main'](argv)
        models = ns['MODELS']
    rows = {}
    with open(argv[argv.index('--out') + 1]) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            if len(cells) == 13 and cells[0].startswith('E = '):
                rows[cells[1]] = cells
    return results, models, rows


def test_memory_script(tmp_path):
    # Every model in this process (the real runs use a fresh process per
    # measurement; --in-process keeps the smoke test to seconds).
    out = str(tmp_path / 'memory.md')
    results, models, rows = _memory_table([
        '--edges', '2k', '--in-process', '--repeats', '0', '--out', out])
    assert set(rows) == set(models.values())
    for cells in rows.values():
        for cell in cells[2:5] + cells[7:9]:
            float(cell.replace(',', ''))  # Every number parses.
        assert float(cells[3]) > 0 and float(cells[8]) > 0
    sage = rows['SAGEConv (mean)']
    assert sage[3] == sage[8] == sage[10] == '1.00'
    # The saved-tensor hook sees the states our GRU keeps: at least one
    # (E, H) fp32 tensor per layer.
    gru = results[0]['runs']['gru/train']  # Every in-edge read (EXACT_GRU).
    assert gru['saved_float_bytes'] >= 2 * 64 * 4 * 2000
    with open(osp.splitext(out)[0] + '.json') as f:
        assert json.load(f)['results'][0]['num_edges'] == 2000


@pytest.mark.slow
def test_memory_script_fresh_processes(tmp_path):
    out = str(tmp_path / 'memory.md')
    results, _, rows = _memory_table([
        '--edges', '2k', '--models', 'sage', 'gru', '--modes', 'train',
        '--repeats', '0', '--out', out])
    assert set(rows) == {'SAGEConv (mean)', 'GRUConv'}
    assert results[0]['runs']['gru/train']['peak_bytes'] > 0


def test_power_law_graph():
    from datasets import power_law_graph
    edge_index = power_law_graph(200_000, 10_000, seed=1)
    assert torch.equal(edge_index, power_law_graph(200_000, 10_000, seed=1))
    src, dst = edge_index
    assert bool((dst[1:] >= dst[:-1]).all())  # Sorted by destination.
    assert int(edge_index.max()) < 10_000
    # Hubs on both sides, and different nodes:
    in_degree = torch.bincount(dst, minlength=10_000)
    out_degree = torch.bincount(src, minlength=10_000)
    assert in_degree.max() > 50 * 20 and out_degree.max() > 50 * 20
    assert in_degree.argmax() != out_degree.argmax()


@needs('Cora')
def test_profile_script(capsys):
    _script(osp.join(ROOT, 'benchmarks', 'profile_kernel.py'),
            ['--graph', 'cora', '--mode', 'train', '--iterations', '1'])
    assert 'GRULayer.backward.steps' in capsys.readouterr().out


needs_sampler = pytest.mark.skipif(not (WITH_PYG_LIB or WITH_TORCH_SPARSE),
                                   reason=NO_SAMPLER)

SCALE_TINY = ['--num-nodes', '2000', '--num-edges', '20000', '--batch-size',
              '64', '--batches', '2', '--warmup', '1', '--channels', '8',
              '--hidden', '16', '--no-progress']


def _scale(argv):
    with _namespace(osp.join(ROOT, 'benchmarks'), 'scale.py') as ns:
        return ns['main'](argv)


def _check_scale(run, models, out):
    table = out.read_text()
    assert table == run['table']
    rows = [line.split(' | ') for line in table.splitlines()
            if line.startswith('| G')]
    names = {'sage': 'GraphSAGE (mean, PyG)', 'gru': 'GRUGNN',
             'sage-gru': 'GRUGraphSAGE'}
    assert [(r[0][2:], r[1]) for r in rows] == [
        (names[m], trim) for m in models for trim in ('no', 'yes')]
    for row in rows:
        if row[0] == '| GraphSAGE (mean, PyG)':
            assert row[4] == '1.00×' and row[6] == '—'
        else:
            assert float(row[4][:-1]) > 0 and row[6].endswith('%')
    for model in models:
        full = run['results'][(model, 'no')]
        trimmed = run['results'][(model, 'yes')]
        # The same batches and the same initial weights: trimming is exact,
        # so the first step's loss is the same.
        assert full['fingerprint'] == trimmed['fingerprint']
        assert full['loss'][0] == pytest.approx(trimmed['loss'][0],
                                                abs=1e-5)
        assert 0 < full['empty'] < 1


@needs_sampler
def test_scale_script(tmp_path):
    out = tmp_path / 'scale.md'
    run = _scale(SCALE_TINY + ['--in-process', '--out', str(out)])
    _check_scale(run, ['sage', 'gru', 'sage-gru'], out)
    assert 'in one process' in run['table']
    # The generator: seeded, no self-loops or duplicates, hubs on both
    # sides (a power law, not near-Poisson degrees).
    with _namespace(osp.join(ROOT, 'benchmarks'), 'scale.py') as ns:
        graph = ns['power_law_graph']
        edge_index = graph(2000, 20000, seed=1)
        assert torch.equal(edge_index, graph(2000, 20000, seed=1))
        assert not torch.equal(edge_index, graph(2000, 20000, seed=2))
    src, dst = edge_index
    assert not bool((src == dst).any())
    assert torch.unique(src * 2000 + dst).numel() == src.numel()
    mean = src.numel() / 2000
    for side in (src, dst):
        assert int(torch.bincount(side).max()) > 20 * mean


@needs('Cora')
def test_profile_script_python_loops(monkeypatch, capsys):
    monkeypatch.setenv('TORCH_GEOMETRIC_GRU_CPP', '1')  # Restored after.
    _script(osp.join(ROOT, 'benchmarks', 'profile_kernel.py'),
            ['--graph', 'cora', '--mode', 'forward', '--iterations', '1',
             '--no-cpp'])
    assert os.environ['TORCH_GEOMETRIC_GRU_CPP'] == '0'
    # The Python loops' per-step ops show in the table:
    assert 'aten::sigmoid_' in capsys.readouterr().out


@needs('Cora')
def test_cpp_speed_script(monkeypatch, capsys):
    from torch_geometric_gru.ops import cpp
    monkeypatch.setenv(cpp.ENV, '1')  # The script switches it; restored.
    if not cpp.is_available():
        pytest.skip('the C++ kernel cannot be built here')
    _script(osp.join(ROOT, 'benchmarks', 'cpp_speed.py'),
            ['--graphs', 'cora', '--repeats', '1'])
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith('| Cora')]
    assert [r.split('|')[3].strip() for r in rows] == ['forward', 'train']
    assert all(float(r.split('|')[-2]) < 1e-5 for r in rows)


@pytest.mark.slow
@needs_sampler
def test_scale_script_in_processes(tmp_path):
    # One process per model, as the table is measured: they sample the
    # same batches (main checks their fingerprints).
    out = tmp_path / 'scale.md'
    run = _scale(SCALE_TINY + ['--models', 'sage', 'gru', '--out',
                               str(out)])
    _check_scale(run, ['sage', 'gru'], out)


def _readme_blocks():
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    return text, re.findall(r'```python\n(.*?)```', text, re.S)


def _run_readme_example(monkeypatch, source, cwd):
    # The README's example runs from any folder, on the Cora that ships
    # with the repository by default.
    monkeypatch.chdir(cwd)
    monkeypatch.delenv('TORCH_GEOMETRIC_GRU_DATASETS', raising=False)
    printed = []
    namespace = {'print': lambda *args: printed.append(' '.join(
        str(a) for a in args))}
    exec(compile(source, 'README.md', 'exec'), namespace)
    return namespace, printed


@pytest.mark.zero_gru_scale  # The user's code, with the layer's own init.
def test_readme_example_learns(monkeypatch, tmp_path):
    # The README's example as written, for a few epochs: the loss falls.
    _, blocks = _readme_blocks()
    source = blocks[0].replace('range(200)', 'range(8)').replace(
        '    optimizer.step()\n',
        '    optimizer.step()\n    losses.append(loss.item())\n')
    assert 'losses.append' in source
    namespace, printed = _run_readme_example(
        monkeypatch, 'losses = []\n' + source, tmp_path)
    losses = namespace['losses']
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert printed[-1].startswith('Test accuracy: ')
    exec(blocks[1], {})  # The aggregation examples build.


@pytest.mark.slow
@pytest.mark.zero_gru_scale  # The user's code, with the layer's own init.
def test_readme_example_prints_the_quoted_accuracy(monkeypatch, tmp_path):
    text, blocks = _readme_blocks()
    _, printed = _run_readme_example(monkeypatch, blocks[0], tmp_path)
    quoted = re.search(r'prints `Test accuracy: ([0-9.]+)`', text).group(1)
    got = printed[-1].split(': ')[1]
    # Never bit for bit: oneDNN/MKL and the C++ step loops pick other
    # kernels on other CPUs (AMD EPYC vs Intel Xeon with AVX-512) and thread
    # counts, so the last bits of every sum move and 200 epochs of training
    # amplify them (0.782-0.788 on one EPYC over one and two threads). The
    # README states the tolerance.
    assert abs(float(got) - float(quoted)) < 0.06


def _gpu_check(argv):
    with _namespace(osp.join(ROOT, 'benchmarks'), 'gpu_check.py') as ns:
        return ns['main'](argv), ns


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available() and
                    os.environ.get('TRITON_INTERPRET') != '1',
                    reason='needs CUDA or the Triton interpreter')
def test_gpu_check_script(tmp_path, capsys):
    # On a GPU, a short real run; elsewhere the same code on a tiny graph,
    # with the Triton kernels in Triton's interpreter.
    pytest.importorskip('triton', reason="needs triton: pip install -e "
                        "'.[triton]'")
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    graph, data = ('cora', 'Cora') if device == 'cuda' else ('tiny', 'tiny')
    out = str(tmp_path / 'gpu')
    _gpu_check([
        '--device', device, '--skip-tests', '--graphs', graph, '--datasets',
        data, '--methods', 'triton', 'cudnn', 'mingru', 'pyg', 'mean',
        '--models',
        'gru', 'sage', 'sage-pyg-gru', '--wide-graphs', '--repeats', '1',
        '--out', out
    ])
    with open(out + '.json') as f:
        report = json.load(f)
    row = report['aggr'][graph]
    for key in ('triton/forward', 'triton/train', 'cudnn/forward',
                'mingru/forward', 'mingru/train', 'pyg/forward', 'pyg/train',
                'mean/train'):
        assert row[key]['time'] > 0, key  # PyG's ran in its own process.
    assert report['exact'][graph]['triton']['out'] < 1e-5
    assert report['exact'][graph]['triton']['grad'] < 1e-5
    assert report['exact'][graph]['mingru']['out'] < 1e-5
    assert report['exact'][graph]['mingru']['grad'] < 1e-5
    assert report['e2e'][data]['sage-pyg-gru']['time'] > 0
    with open(out + '.md') as f:
        table = f.read()
    assert '| GRUConv (Triton) |' in table and 'Triton vs cuDNN' in table


def test_gpu_check_reports_a_crashed_child():
    # A child that dies (as PyG's padded GRU can kill a CUDA context) is a
    # row marked failed, not a crash of the whole check.
    with _namespace(osp.join(ROOT, 'benchmarks'), 'gpu_check.py') as ns:
        spec = dict(kind='aggr', method='pyg', graph='/nonexistent.pt',
                    args=dict(device='cpu'))
        found = ns['in_child'](spec, ['forward', 'train'], timeout=120)
    assert set(found) == {'forward', 'train'}
    assert 'nonexistent' in found['forward']['failed']


@pytest.mark.slow
def test_triton_kernels_compile_without_spills():
    # The CUDA kernels compile for sm_80 and sm_90 on any machine; the
    # shipped launch options of the default precision spill nothing.
    pytest.importorskip('triton', reason="needs triton: pip install -e "
                        "'.[triton]'")
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    proc = subprocess.run([
        sys.executable, osp.join(ROOT, 'benchmarks', 'triton_resources.py'),
        '--arch', '80', '90', '--hidden', '16', '64', '256', '--precision',
        'tf32x3', '--check'
    ], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('| sm_') == 2 * 3 * 3


def test_synthetic_script(tmp_path):
    out = tmp_path / 'synthetic.json'
    results = _main(osp.join(ROOT, 'benchmarks', 'synthetic'), [
        '--tasks', 'second_smallest', 'first', '--aggrs', 'gru-sorted',
        'gru-id', 'mingru-sorted', 'mingru-id', 'mean', '--seeds', '1',
        '--epochs', '2', '--num-train', '200', '--num-eval', '100',
        '--eval-every', '1', '--out', str(out)
    ])
    # The sorted cells read the set tasks, the id-order ones the order
    # tasks:
    assert set(results['second_smallest']) == {'gru-sorted',
                                               'mingru-sorted', 'mean'}
    assert set(results['first']) == {'gru-id', 'mingru-id', 'mean'}
    run = results['first']['gru-id'][0]
    assert run['epoch'] in (1, 2) and 0 <= run['test'] <= 1
    table = (tmp_path / 'synthetic.md').read_text()
    assert '| GRU, id order | — |' in table  # Not run on set tasks.


def test_synthetic_targets():
    with _namespace(osp.join(ROOT, 'benchmarks', 'synthetic')) as ns:
        tasks = ns['TASKS']
        values = [3, 1, 4, 1, 5]  # In id order.
        expected = dict(range=4.0, variance=2.56, distinct=4.0,
                        second_smallest=1, third_largest=3, first=3,
                        runs=3.0)  # Runs: [3], [1, 4], [1, 5].
        for name, want in expected.items():
            assert tasks[name][1](values) == pytest.approx(want)
        stars = ns['make_stars'](50, (3, 8), seed=0)
        src, dst = stars['edge_index']
        target = int(stars['targets'][0])
        leaves = src[dst == target]
        assert torch.equal(leaves, leaves.sort().values)  # Id order.
        assert stars['seqs'][0] == stars['x'][leaves].argmax(-1).tolist()


def test_roc_auc_is_the_pairwise_ranking_rate():
    with _namespace(osp.join(ROOT, 'benchmarks', 'heterophilous')) as ns:
        roc_auc = ns['roc_auc']
    gen = torch.Generator().manual_seed(0)
    score = torch.randint(0, 5, (40, ), generator=gen).float()  # Ties.
    y = torch.randint(0, 2, (40, ), generator=gen)
    pos, neg = score[y == 1], score[y == 0]
    pairs = (pos.view(-1, 1) > neg.view(1, -1)).double() + 0.5 * (
        pos.view(-1, 1) == neg.view(1, -1)).double()
    assert roc_auc(score, y) == pytest.approx(float(pairs.mean()))


@needs('minesweeper')
def test_heterophilous_script(tmp_path):
    out = tmp_path / 'minesweeper.json'
    results = _main(osp.join(ROOT, 'benchmarks', 'heterophilous'), [
        '--dataset', 'Minesweeper', '--splits', '3', '--epochs', '2',
        '--eval-every', '1', '--hidden', '8', '--layers', '1', '--models',
        'gru-id', 'mingru-id', 'sage', 'gat-sep', 'sage-multi', '--device',
        'cpu', '--out', str(out)
    ])
    assert set(results) == {'gru-id', 'mingru-id', 'sage', 'gat-sep',
                            'sage-multi'}
    run = results['gru-id']['runs'][0]
    assert run['split'] == 3 and run['epoch'] in (1, 2)
    assert 0.3 < run['test'] < 0.8  # Two epochs: about chance (0.5).
    assert 0.3 < results['mingru-id']['runs'][0]['test'] < 0.8
    text = (tmp_path / 'minesweeper.md').read_text()
    assert 'GAT-sep 93.91' in text
    assert "GRUConv(cell='mingru'), id order" in text


def test_heterophilous_mingru_reads_the_id_order():
    from torch_geometric_gru import MinGRUAggregation
    with _namespace(osp.join(ROOT, 'benchmarks', 'heterophilous')) as ns:
        aggregate = ns['Aggregate']('mingru-id', 8, num_permutations=4)
    assert isinstance(aggregate.op.aggr_module, MinGRUAggregation)
    assert aggregate.op.lin_root is None and aggregate.op.bias is None
    x = torch.randn(3, 8)
    edge_index = torch.tensor([[1, 2], [0, 0]])
    aggregate.eval()
    # Not a set function: the reversed sequence gives another state.
    assert not torch.allclose(aggregate(x, edge_index),
                              aggregate(x, edge_index.flip(1)))


@needs_sampler
def test_heterophilous_mini_batches_read_the_full_graph_order():
    # A spy model records what each training step reads; every sampled
    # neighbourhood must list its sources in the order the full graph does.
    with _namespace(osp.join(ROOT, 'benchmarks', 'heterophilous')) as ns:
        neighbor_batches, train_epoch = (ns['neighbor_batches'],
                                         ns['train_epoch'])
        parser = ns['parser']
    gen = torch.Generator().manual_seed(0)
    num_nodes, num_edges = 60, 600
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    edge_index = edge_index[:, torch.randperm(num_edges, generator=gen)]
    # The first feature is the node's id, so the spy can map back.
    data = Data(x=torch.arange(num_nodes).float().view(-1, 1),
                y=torch.randint(0, 2, (num_nodes, ), generator=gen),
                edge_index=edge_index)
    train = torch.rand(num_nodes, generator=gen) < 0.5
    args = parser().parse_args(['--batch-size', '8', '--layers', '2',
                                '--num-neighbors', '-1', '-1'])
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, edge_index):
            seen.append((x[:, 0].long(), edge_index))
            return x[:, 0] * self.weight

    model = Spy()
    loader = neighbor_batches(data, edge_index, train, args)
    steps = train_epoch(model, torch.optim.SGD(model.parameters(), lr=0.1),
                        data, edge_index, data.y.float(), train, loader)
    assert steps == len(seen) == -(-int(train.sum()) // 8)
    for n_id, sub in seen:
        src, dst = n_id[sub[0]], n_id[sub[1]]
        for node in dst.unique().tolist():
            # Full neighbourhoods ([-1, -1]): the whole sequence, in order.
            assert src[dst == node].tolist() == \
                edge_index[0, edge_index[1] == node].tolist()


def test_heterophilous_batching_arguments():
    with _namespace(osp.join(ROOT, 'benchmarks', 'heterophilous')) as ns:
        parser, check = ns['parser'], ns['check_batching']
    args = parser().parse_args(['--batch-size', '64', '--layers', '3'])
    check(args)
    assert args.num_neighbors == [15, 10, 10]
    for argv, match in [
        (['--num-neighbors', '5'], '--num-neighbors needs --batch-size'),
        (['--batch-size', '0'], '--batch-size must be at least 1'),
        (['--batch-size', '4', '--layers', '2', '--num-neighbors', '5'],
         'one value per block'),
    ]:
        with pytest.raises(ValueError, match=match):
            check(parser().parse_args(argv))


def test_main_job_on_a_fresh_clone(monkeypatch, capsys):
    # No dataset folder beside the repository and no $TORCH_GEOMETRIC_GRU_
    # DATASETS: the README's main command reads the embedded Cora.
    import datasets
    monkeypatch.delenv('TORCH_GEOMETRIC_GRU_DATASETS', raising=False)
    monkeypatch.setattr(datasets, 'SHARED', '/nonexistent/shared/datasets')
    assert datasets.dataset_source('Cora') == datasets.EMBEDDED
    assert not datasets.dataset_available('CiteSeer')
    results = _main(osp.join(ROOT, 'benchmarks', 'citation'), [
        '--dataset', 'Cora', '--runs', '1', '--epochs', '2'
    ])
    assert set(results) == {'gru', 'gcn', 'sage'}
    assert '| GRUConv (ours) |' in capsys.readouterr().out


def test_dataset_folder_resolution(monkeypatch, tmp_path):
    import datasets
    monkeypatch.setenv('TORCH_GEOMETRIC_GRU_DATASETS', str(tmp_path / 'no'))
    with pytest.raises(FileNotFoundError, match='which is not a folder'):
        datasets.dataset_source('Cora')
    monkeypatch.setenv('TORCH_GEOMETRIC_GRU_DATASETS', str(tmp_path))
    with pytest.raises(FileNotFoundError, match="'Cora/raw'"):
        datasets.dataset_source('Cora')  # No silent fallback.
    # --root comes first:
    assert datasets.dataset_source('Cora', datasets.EMBEDDED) == \
        osp.abspath(datasets.EMBEDDED)


def test_dataset_cache_is_keyed_by_content(monkeypatch, tmp_path):
    # One cache for every clone: the same raw files in two folders share
    # one processing root; other files get another.
    import shutil

    import datasets
    monkeypatch.setenv('TORCH_GEOMETRIC_GRU_CACHE', str(tmp_path / 'cache'))
    for clone in ('a', 'b'):
        shutil.copytree(osp.join(datasets.EMBEDDED, 'Cora', 'raw'),
                        tmp_path / clone / 'Cora' / 'raw')
    root = datasets._root('Cora', str(tmp_path / 'a'))
    assert root.startswith(str(tmp_path / 'cache'))
    assert datasets._root('Cora', str(tmp_path / 'b')) == root
    with open(tmp_path / 'b' / 'Cora' / 'raw' / 'ind.cora.y', 'ab') as f:
        f.write(b'\0')
    assert datasets._root('Cora', str(tmp_path / 'b')) != root


def test_plot_scripts(tmp_path):
    pytest.importorskip('matplotlib', reason="needs matplotlib: pip install "
                        "-e '.[benchmark]'")
    results = tmp_path / 'synthetic.json'
    _main(osp.join(ROOT, 'benchmarks', 'synthetic'), [
        '--tasks', 'range', 'first', '--aggrs', 'gru-id', 'mean', '--seeds',
        '2', '--epochs', '1', '--num-train', '60', '--num-eval', '30',
        '--eval-every', '1', '--out', str(results)
    ])
    plot = osp.join(ROOT, 'benchmarks', 'plot_results.py')
    for kind, paths in (('synthetic', [results]),
                        ('curves', [osp.join(ROOT, 'docs', 'results',
                                             'cora.json')])):
        out = tmp_path / f'{kind}.png'
        subprocess.run([sys.executable, plot, kind, str(out)] +
                       [str(p) for p in paths], check=True, timeout=300)
        with open(out, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_epoch_timers_wait_for_cuda(monkeypatch):
    # The scripts' epoch timers stop only after the queued CUDA kernels
    # ran; on CPU there is nothing to wait for.
    import options
    calls = []
    monkeypatch.setattr(torch.cuda, 'synchronize', calls.append)
    options.wait_for('cpu')
    assert calls == []
    options.wait_for(torch.device('cuda', 1))
    assert calls == [torch.device('cuda', 1)]


@pytest.mark.parametrize('cores,busy,threads', [
    (2, 0.0, 2),
    (2, 0.3, 2),  # Background noise: both cores are free.
    (2, 0.6, 1),  # Less than half of the second core is free.
    (2, 1.0, 1),
    (2, 2.0, 1),  # Two busy loops: one thread, never zero.
    (2, 7.5, 1),  # A load average above the core count.
    (8, 3.2, 5),
    (1, 0.0, 1),
])
def test_threads_are_the_free_cores(cores, busy, threads):
    import cpu_threads
    assert cpu_threads.choose_threads(cores, busy) == threads


def test_threads_measure_only_the_usable_cores():
    import cpu_threads

    # (total, idle) ticks per core, before and after the window: core 0
    # fully busy, core 1 a quarter busy, core 2 idle but not ours.
    snapshots = iter([{0: (0, 0), 1: (0, 0), 2: (0, 0)},
                      {0: (100, 0), 1: (100, 75), 2: (100, 100)}])
    slept = []
    busy = cpu_threads.busy_cores([0, 1], read=lambda: next(snapshots),
                                  sleep=slept.append)
    assert busy == pytest.approx(1.25) and slept == [cpu_threads.WINDOW]
    assert cpu_threads.default_threads([0, 1], busy) == 1
    assert cpu_threads.default_threads([0, 1, 2], busy) == 2


def test_threads_without_per_core_times(monkeypatch):
    import cpu_threads

    def unreadable():
        raise OSError('no /proc/stat')

    assert cpu_threads.busy_cores([0], read=unreadable) is None
    # Then the one-minute load average decides:
    monkeypatch.setattr(cpu_threads, 'busy_cores', lambda cores: None)
    monkeypatch.setattr(cpu_threads.os, 'getloadavg', lambda: (1.9, 0, 0))
    assert cpu_threads.default_threads([0, 1]) == 1
    monkeypatch.setattr(cpu_threads.os, 'getloadavg', lambda: (0.1, 0, 0))
    assert cpu_threads.default_threads([0, 1]) == 2
    with pytest.raises(ValueError, match='cores must be at least 1'):
        cpu_threads.choose_threads(0, 0.0)


def test_set_threads_precedence(monkeypatch, capsys):
    import argparse

    import options
    calls = []
    monkeypatch.setattr(options.torch, 'set_num_threads', calls.append)
    monkeypatch.setattr(options, 'default_threads', lambda: 1)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    # --threads first:
    assert options.set_threads(argparse.Namespace(threads=3)) == 3
    assert calls == [3]
    # Else the free cores, said on stderr:
    assert options.set_threads(argparse.Namespace(threads=None)) == 1
    assert calls == [3, 1]
    assert 'torch threads: 1' in capsys.readouterr().err
    # $OMP_NUM_THREADS, which torch already read, is left alone:
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    options.set_threads(argparse.Namespace(threads=None))
    assert calls == [3, 1]
    with pytest.raises(ValueError, match='--threads must be at least 1'):
        options.set_threads(argparse.Namespace(threads=0))


def _entry_scripts():
    for folder, _, files in os.walk(osp.join(ROOT, 'benchmarks')):
        for name in sorted(files):
            path = osp.join(folder, name)
            if name.endswith('.py'):
                with open(path) as f:
                    if 'set_threads(args)' in f.read():
                        yield path


@pytest.mark.parametrize('path', list(_entry_scripts()),
                         ids=lambda p: osp.relpath(p, ROOT))
def test_scripts_set_the_wait_policy_before_torch_loads(path):
    # OpenMP reads OMP_WAIT_POLICY once, when torch loads it: a script
    # that imports anything but the standard library before cpu_threads
    # would keep the spinning default.
    import ast
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ([a.name for a in node.names] if isinstance(
                node, ast.Import) else [node.module])
            if 'cpu_threads' in names:
                return
            for name in names:
                assert name.split('.')[0] in sys.stdlib_module_names, (
                    f'{name} is imported before cpu_threads')
    pytest.fail('cpu_threads is never imported')


@pytest.mark.parametrize('busy,policy', [
    (None, None),  # Not measured: OpenMP's default.
    (0.0, None),
    (0.3, None),  # Background noise: spinning keeps idle speed.
    (0.5, 'PASSIVE'),
    (2.0, 'PASSIVE'),
])
def test_wait_policy_is_passive_on_busy_cores(busy, policy):
    import cpu_threads
    assert cpu_threads.wait_policy(busy) == policy


def _import_cpu_threads(env):
    code = ('import os, sys; sys.path.insert(0, "benchmarks"); '
            'import cpu_threads; '
            'print(os.environ.get("OMP_WAIT_POLICY"), '
            'cpu_threads.BUSY_AT_IMPORT, "torch" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    policy, busy, torch_loaded = out.split()
    assert torch_loaded == 'False'
    return policy, None if busy == 'None' else float(busy)


def test_cpu_threads_sets_the_wait_policy_from_the_load_at_import():
    import cpu_threads
    env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'}
    # Whatever the load now, the policy follows the measurement:
    policy, busy = _import_cpu_threads(env)
    assert busy is not None and busy >= 0
    assert policy == str(cpu_threads.wait_policy(busy))
    # Two busy loops: at least half a core is taken, whatever the machine.
    loops = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
             for _ in range(2)]
    try:
        time.sleep(0.5)
        policy, busy = _import_cpu_threads(env)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert busy >= 0.5 and policy == 'PASSIVE'
    env['OMP_WAIT_POLICY'] = 'ACTIVE'  # The caller's choice stands,
    policy, busy = _import_cpu_threads(env)
    assert policy == 'ACTIVE' and busy is None  # unmeasured.


class _Bar:
    def __init__(self):
        self.n, self.postfixes = 0, []

    def update(self, n=1):
        self.n += n

    def set_postfix(self, refresh=True, **kwargs):
        self.postfixes.append(kwargs)


@pytest.mark.parametrize('patience', [0, 2])
def test_progress_moves_per_epoch(patience):
    # One bar step per epoch with the loss and validation accuracy; a run
    # that stops early moves the bar to its end, so the total stays right.
    from torch_geometric.nn import GCNConv
    sys.path.insert(0, osp.join(ROOT, 'benchmarks', 'citation'))
    try:
        from train_eval import run
    finally:
        sys.path.pop(0)
    torch.manual_seed(0)
    data = Data(x=torch.randn(30, 4), edge_index=torch.randint(0, 30, (2, 90)),
                y=torch.randint(0, 2, (30, )))
    for i, split in enumerate(('train', 'val', 'test')):
        data[f'{split}_mask'] = torch.arange(30) % 3 == i

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = GCNConv(4, 2)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    bar = _Bar()
    result = run(Net, data, runs=2, epochs=12, lr=0.01, weight_decay=0.0,
                 patience=patience, progress=bar)
    assert bar.n == 2 * 12
    epochs = sum(len(curve) for curve in result['curves'])
    assert len(bar.postfixes) == epochs
    if patience:
        assert epochs < 2 * 12
    last = bar.postfixes[-1]
    assert set(last) == {'loss', 'val'}
    assert float(last['val']) == pytest.approx(result['curves'][1][-1],
                                               abs=1e-3)


def _screen(tmp_path, options):
    # Runs a script under the screen wrapper; the script saves what it saw.
    out = tmp_path / 'screen.pt'
    script = tmp_path / 'build.py'
    script.write_text(
        'import sys, torch\n'
        'from torch_geometric_gru import GRUConv\n'
        'from torch_geometric_gru.layout import plan\n'
        'torch.manual_seed(0)\n'
        'x = torch.randn(6, 3)\n'
        'edge_index = torch.tensor([[1, 2, 3, 4, 5, 0, 2],\n'
        '                           [0, 0, 0, 0, 0, 1, 1]])\n'
        'convs = [GRUConv(3, 4).eval(), GRUConv(3, 4, bidirectional=True,\n'
        '                                       edge_dim=2).eval()]\n'
        'edge_attr = torch.randn(7, 2)\n'
        'outs = [convs[0](x, edge_index),\n'
        '        convs[1](x, edge_index, edge_attr)]\n'
        'index = torch.tensor([0] * 5 + [1] * 2 + [2] + [3] * 3)\n'
        'masks = torch.stack([plan.dropped(index, 4, 0.9)\n'
        '                     for _ in range(200)])\n'
        '# A training forward (edge_dropout=0.5) against the same layer\n'
        '# reading every in-edge:\n'
        'drop, exact = GRUConv(3, 4), GRUConv(3, 4, edge_dropout=0.0)\n'
        'with torch.no_grad():  # The GRU in the output.\n'
        '    drop.gru_scale.fill_(1.0)\n'
        'exact.load_state_dict(drop.state_dict())\n'
        'trained = [torch.equal(drop(x, edge_index), exact(x, edge_index))\n'
        '           for _ in range(20)]\n'
        'torch.save(dict(states=[c.state_dict() for c in convs], x=x,\n'
        '                outs=outs, edge_index=edge_index,\n'
        '                edge_attr=edge_attr, masks=masks, trained=trained,\n'
        '                none=GRUConv(3, 4, gru_scale=False).gru_scale),\n'
        '           sys.argv[1])\n')
    from torch_geometric_gru import GRUConv
    from torch_geometric_gru.layout import plan
    originals = (GRUConv.reset_parameters, GRUConv.neighbourhood,
                 plan.dropped)
    with _namespace(osp.join(ROOT, 'benchmarks'),
                    'screen_defaults.py') as ns:
        ns['main'](options + [str(script), str(out)])
    assert (GRUConv.reset_parameters, GRUConv.neighbourhood,
            plan.dropped) == originals  # Restored.
    return torch.load(out)


def test_screen_defaults_scale_init_and_gain(tmp_path):
    # The scale starts at --scale-init; its parameter is that over the
    # gain, and the layer computes with gain times the parameter: the
    # package's layer with the effective scale gives the same output (also
    # bidirectional, with edge features).
    from torch_geometric_gru import GRUConv
    seen = _screen(tmp_path, ['--scale-init', '1.5', '--scale-gain', '10'])
    assert seen['none'] is None
    x, edge_index = seen['x'], seen['edge_index']
    for state, out, kwargs, args in zip(
            seen['states'], seen['outs'],
            [{}, dict(bidirectional=True, edge_dim=2)],
            [(), (seen['edge_attr'], )]):
        assert torch.allclose(state['gru_scale'], torch.full((4, ), 0.15))
        conv = GRUConv(3, 4, **kwargs).eval()
        conv.load_state_dict(dict(state, gru_scale=torch.full((4, ), 1.5)))
        expected = conv(x, edge_index, *args)
        assert torch.allclose(out, expected, atol=1e-6)
        assert not torch.allclose(out, expected / 2, atol=1e-3)
    # Without candidates, the package's drop: any node may lose all.
    seen = _screen(tmp_path, [])
    masks = seen['masks']
    assert masks[:, 5:7].all(1).float().mean() < 0.1
    assert (~masks[:, 5:7]).all(1).any() and (~masks[:, 7]).any()
    assert not any(seen['trained'])  # Training forwards drop in-edges.


def test_screen_defaults_refuses_a_candidate_that_never_acted(tmp_path):
    # A script whose layers have no scale and never drop in-edges: the
    # candidates would screen nothing, which is an error naming the fix.
    script = tmp_path / 'plain.py'
    script.write_text(
        'import torch\n'
        'from torch_geometric_gru import GRUConv\n'
        'conv = GRUConv(3, 4, gru_scale=False, edge_dropout=0.0)\n'
        'conv(torch.randn(3, 3), torch.tensor([[0, 1], [1, 2]]))\n')
    with _namespace(osp.join(ROOT, 'benchmarks'),
                    'screen_defaults.py') as ns:
        with pytest.raises(ValueError, match="'--option gru_scale=True'"):
            ns['main'](['--scale-gain', '10', str(script)])
        with pytest.raises(ValueError, match="'--option edge_dropout=0.5'"):
            ns['main'](['--drop-keep-one', str(script)])
        ns['main']([str(script)])  # No candidate: nothing to check.


def test_screen_defaults_drop_candidates(tmp_path):
    # Nodes 0-3 have 5, 2, 1 and 3 elements; drop 0.9.
    seen = _screen(tmp_path, ['--drop-min-degree', '3'])
    masks = seen['masks']
    assert masks[:, 5:8].all()  # Fewer than 3: every element kept.
    for node in (slice(0, 5), slice(8, 11)):  # The others: 0.1 kept.
        assert 0.05 < masks[:, node].float().mean() < 0.2
    # The layer's own training forward reaches the candidate: with every
    # node below the threshold, it reads every in-edge.
    assert not all(seen['trained'])  # Node 0 has 5 in-edges.
    assert all(_screen(tmp_path, ['--drop-min-degree', '6'])['trained'])
    # Keep one: the package's draw (the same keys), plus one element, a
    # random one, in every node that kept none.
    base = _screen(tmp_path, [])['masks']
    masks = _screen(tmp_path, ['--drop-keep-one'])['masks']
    for node in (slice(0, 5), slice(5, 7), slice(7, 8), slice(8, 11)):
        none = ~base[:, node].any(1)
        assert none.any() and (~none).any()
        assert torch.equal(masks[~none, node], base[~none, node])
        assert (masks[none, node].sum(1) == 1).all()
        if node.stop - node.start > 1:  # Not always the same element.
            assert masks[none, node].any(0).sum() > 1
