r"""The documentation: every Python block of the README and of the guides
runs as written, on its own, from an empty working directory and without
warnings; the API reference lists every public name on the page of its
kind; the Sphinx site builds with warnings as errors."""
import argparse
import glob
import importlib.util
import inspect
import json
import os
import os.path as osp
import re
import runpy
import shlex
import subprocess
import sys
import textwrap

import pytest
from torch_geometric.nn.aggr import Aggregation
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.transforms import BaseTransform
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

import torch_geometric_gru

ROOT = osp.abspath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
PAGES = ['README.md'] + sorted(
    osp.relpath(path, ROOT)
    for path in glob.glob(osp.join(ROOT, 'docs', '*.md')))

# A block whose first line is this continues the block before it on the
# same page: the test runs the two (or more) stitched together.
FRAGMENT = '# Continued from the block above.'

# Blocks that take more than a few seconds run with `pytest -m slow`:
# (page, number of the block on its page, a phrase it holds).
# (page, block, a phrase of it): blocks that train for a while, or compile
# and export (10-20 s each in CI, whose fresh TMPDIR holds no compiled
# kernels); the slow suite runs them, the default one keeps the graph-break
# check of tests/ops/test_compile.py.
SLOW = [('README.md', 1, 'for epoch in range(200):'),
        ('docs/guide.md', 2, 'torch.compile(conv, dynamic=True'),
        ('docs/pipelines.md', 5, 'torch.compile(model, dynamic=True')]


# What a block may need beyond the test extra (it skips without it), and the
# warnings that advise on the installation rather than on the documented
# code (PyG's sampler asks for pyg-lib where torch-sparse serves instead).
NEEDS = [('NeighborLoader', WITH_PYG_LIB or WITH_TORCH_SPARSE,
          'NeighborLoader needs a sampler backend: pyg-lib or torch-sparse '
          '(see PyG\'s install guide)'),
         ('time_attr', WITH_PYG_LIB,
          'temporal sampling needs pyg-lib (see PyG\'s install guide)'),
         ('torch_geometric_gru.onnx', all(
             importlib.util.find_spec(name) is not None
             for name in ('onnx', 'onnxscript', 'onnxruntime')),
          "needs onnx, onnxscript, onnxruntime: pip install -e '.[onnx]'")]
INSTALL_ADVICE = "Please install 'pyg-lib'"


def skip_reason(name):
    page, number = name.rsplit(':', 1)
    source = blocks(page)[int(number) - 1]
    for word, available, reason in NEEDS:
        if word in source and not available:
            return reason
    return None


def blocks(page):
    r"""The Python blocks of :obj:`page`, each with its fragments'
    predecessors stitched in front."""
    with open(osp.join(ROOT, page)) as f:
        found = re.findall(r'^```python\n(.*?)^```', f.read(), re.S | re.M)
    stitched = []
    for i, block in enumerate(found):
        if block.startswith(FRAGMENT):
            assert i > 0, f'{page}: its first block cannot be a fragment'
            block = stitched[-1] + block
        stitched.append(block)
    return stitched


def block_ids(slow):
    ids = []
    for page in PAGES:
        for number, _ in enumerate(blocks(page), start=1):
            if any((page, number) == s[:2] for s in SLOW) == slow:
                ids.append(f'{page}:{number}')
    return ids


# Runs blocks in a fresh interpreter, each from its own empty folder in a
# fresh namespace, as `python block.py` would; records what a user would
# see: the exception, and the warnings that the default filters show.
DRIVER = textwrap.dedent(r'''
    import json, os, sys, tempfile, traceback, warnings

    jobs, out, base = json.load(sys.stdin), sys.argv[1], sys.argv[2]
    results = {}
    for name, source in jobs:
        os.chdir(tempfile.mkdtemp(dir=base))
        with warnings.catch_warnings(record=True) as caught:
            try:
                exec(compile(source, name, 'exec'), {'__name__': '__main__'})
                error = None
            except BaseException:
                error = traceback.format_exc()
        results[name] = dict(error=error, warnings=[
            f'{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}'
            for w in caught
        ])
    with open(out, 'w') as f:
        json.dump(results, f)
''')


def run_blocks(names, tmp_dir):
    jobs = []
    for name in names:
        page, number = name.rsplit(':', 1)
        jobs.append((name, blocks(page)[int(number) - 1]))
    out = osp.join(tmp_dir, 'results.json')
    env = dict(os.environ, PYTHONPATH=ROOT)  # This checkout's package.
    # The README's default: the Cora that ships with the repository.
    env.pop('TORCH_GEOMETRIC_GRU_DATASETS', None)
    env.pop('TRITON_INTERPRET', None)  # Set by conftest.py, not by users.
    subprocess.run([sys.executable, '-c', DRIVER, out, tmp_dir],
                   input=json.dumps(jobs), text=True, env=env, check=True,
                   timeout=1200)
    with open(out) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def fast_results(tmp_path_factory):
    names = [name for name in block_ids(slow=False) if not skip_reason(name)]
    return run_blocks(names, str(tmp_path_factory.mktemp('blocks')))


def check(result):
    assert result['error'] is None, result['error']
    shown = [w for w in result['warnings'] if INSTALL_ADVICE not in w]
    assert not shown, '\n'.join(shown)


@pytest.mark.parametrize('name', block_ids(slow=False))
def test_code_block_runs_on_its_own(name, request):
    if skip_reason(name):
        pytest.skip(skip_reason(name))
    check(request.getfixturevalue('fast_results')[name])


@pytest.mark.slow
@pytest.mark.parametrize('name', block_ids(slow=True))
def test_slow_code_block_runs_on_its_own(name, tmp_path):
    if skip_reason(name):
        pytest.skip(skip_reason(name))
    check(run_blocks([name], str(tmp_path))[name])


def test_slow_blocks_are_where_the_list_says():
    for page, number, phrase in SLOW:
        assert phrase in blocks(page)[number - 1]


def test_every_page_has_its_blocks_found():
    # The pattern finds every fenced Python block (a block it missed would
    # go untested).
    for page in PAGES:
        with open(osp.join(ROOT, page)) as f:
            fences = len(re.findall(r'^```python$', f.read(), re.M))
        assert len(blocks(page)) == fences, page


def test_driver_reports_errors_and_warnings(tmp_path):
    # The runner is what makes the tests above able to fail.
    import unittest.mock

    sources = {'a.md:1': 'import warnings\nwarnings.warn("beta")\n',
               'a.md:2': 'open("benchmarks/embedded/Cora/raw/x")\n',
               'a.md:3': 'import os\nassert not os.listdir()\n'}
    with unittest.mock.patch(f'{__name__}.blocks',
                             lambda page: list(sources.values())):
        results = run_blocks(list(sources), str(tmp_path))
    assert 'UserWarning: beta' in results['a.md:1']['warnings'][0]
    assert 'FileNotFoundError' in results['a.md:2']['error']
    check(results['a.md:3'])  # Each block starts in an empty folder.


# The API reference: one page per kind of object, as in PyG's reference.
API = osp.join(ROOT, 'docs', 'api')


def documented():
    r"""Every object the API pages document, as :obj:`{qualified name:
    page}`."""
    found = {}
    for path in sorted(glob.glob(osp.join(API, '*.rst'))):
        module = None
        with open(path) as f:
            for line in f:
                m = re.match(r'\.\. (currentmodule|automodule|autoclass|'
                             r'autofunction):: (\S+)', line)
                if m is None:
                    continue
                kind, name = m.groups()
                if kind == 'currentmodule':
                    module = name
                    continue
                if kind != 'automodule' and module and '.' not in name:
                    name = f'{module}.{name}'
                found[name] = osp.basename(path)
    return found


def public_objects():
    r"""Every public object of :obj:`torch_geometric_gru.__all__`, as
    :obj:`{qualified name: object}`; a public module contributes itself and
    the public classes and functions defined in it."""
    objects = {}
    for name in torch_geometric_gru.__all__:
        if name == '__version__':
            continue
        obj = getattr(torch_geometric_gru, name)
        if inspect.ismodule(obj):
            objects[obj.__name__] = obj
            names = getattr(obj, '__all__', None) or [
                key for key, value in vars(obj).items()
                if not key.startswith('_') and (
                    inspect.isclass(value) or inspect.isfunction(value))
                and value.__module__ == obj.__name__
            ]
            for key in names:
                objects[f'{obj.__name__}.{key}'] = getattr(obj, key)
        else:
            objects[f'torch_geometric_gru.{name}'] = obj
    return objects


def page_of(obj):
    r"""The API page an object belongs on."""
    if inspect.ismodule(obj) or inspect.isfunction(obj):
        module = obj.__name__ if inspect.ismodule(obj) else obj.__module__
        # The page of its top-level module or subpackage:
        return f"{module.split('.')[1]}.rst"
    for base, page in ((Aggregation, 'aggr.rst'),
                       (MessagePassing, 'conv.rst'),
                       (BaseTransform, 'transforms.rst')):
        if issubclass(obj, base):
            return page
    if issubclass(obj, torch_geometric_gru.PackedLayout):
        return 'layout.rst'
    return 'models.rst'  # Any other module: a model.


def test_api_reference_lists_every_public_name():
    found = documented()
    objects = public_objects()
    missing = sorted(set(objects) - set(found))
    assert not missing, f'not in docs/api/*.rst: {missing}'
    unknown = sorted(set(found) - set(objects))
    assert not unknown, f'documented but not public: {unknown}'
    misplaced = {
        name: (found[name], page_of(obj))
        for name, obj in objects.items() if found[name] != page_of(obj)
    }
    assert not misplaced, f'(page, expected page): {misplaced}'


def test_api_reference_sees_a_new_public_name(monkeypatch):
    # A class added to __all__ without a line in the reference fails.
    class NewModel(torch_geometric_gru.GRUGraphSAGE):
        pass

    monkeypatch.setattr(torch_geometric_gru, 'NewModel', NewModel,
                        raising=False)
    monkeypatch.setattr(torch_geometric_gru, '__all__',
                        torch_geometric_gru.__all__ + ['NewModel'])
    with pytest.raises(AssertionError, match='NewModel'):
        test_api_reference_lists_every_public_name()


def _has_docs_tools():
    return all(importlib.util.find_spec(name) is not None
               for name in ('sphinx', 'myst_parser', 'furo'))


@pytest.mark.slow
@pytest.mark.skipif(not _has_docs_tools(),
                    reason="needs the docs tools: pip install -e '.[docs]'")
def test_sphinx_site_builds_without_warnings(tmp_path):
    from sphinx.util.inventory import InventoryFile

    out = tmp_path / 'html'
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([
        sys.executable, '-m', 'sphinx', '-W', '-q', '-b', 'html',
        osp.join(ROOT, 'docs'), str(out), '-d', str(tmp_path / 'doctrees')
    ], check=True, env=env, timeout=600)
    with open(out / 'objects.inv', 'rb') as f:
        inventory = InventoryFile.load(f, '', osp.join)
    names = {name for entries in inventory.values() for name in entries}
    missing = sorted(set(public_objects()) - names)
    assert not missing, f'not in the built reference: {missing}'


# The commands the README and the guides print, run from the repository's
# root as they say: every script exists and accepts its arguments.
def code_spans(page):
    r"""The shell lines of :obj:`page`'s bash blocks (continuation lines
    joined) and its inline code spans."""
    with open(osp.join(ROOT, page)) as f:
        text = f.read()
    lines = []
    for block in re.findall(r'^```(?:bash|sh)\n(.*?)^```', text, re.S | re.M):
        lines += block.replace('\\\n', ' ').splitlines()
    text = re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)
    return [line.strip() for line in lines] + re.findall(r'`([^`\n]+)`', text)


def printed(prefix):
    return [(page, line) for page in PAGES for line in code_spans(page)
            if line.startswith(prefix) and '<' not in line]


class Parsed(Exception):
    pass


@pytest.mark.parametrize('page,command', printed('python '))
def test_printed_script_command_parses(page, command, monkeypatch):
    argv = shlex.split(command)[1:]
    if argv[0] == '-m':  # A module of the package: it must exist.
        assert importlib.util.find_spec(argv[1]) is not None, \
            f'{page}: no module {argv[1]}'
        return
    script = osp.join(ROOT, argv[0])
    assert osp.isfile(script), f'{page}: no script {argv[0]}'
    if 'triton' in argv[0]:
        pytest.importorskip('triton', reason="needs triton: pip install -e "
                            "'.[triton]'")

    parse_args = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        raise Parsed(parse_args(self, args, namespace))  # Then stop.

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_only)
    monkeypatch.setattr(sys, 'argv', argv)
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)  # A user's shell.
    monkeypatch.syspath_prepend(osp.dirname(script))  # Its siblings.
    modules = set(sys.modules)
    try:
        with pytest.raises(Parsed):
            runpy.run_path(script, run_name='__main__')
    finally:
        for name in set(sys.modules) - modules:
            if not name.startswith(('torch', 'triton')):
                del sys.modules[name]


@pytest.mark.parametrize('page,command', printed('pip install -e '))
def test_printed_install_command_names_real_extras(page, command):
    tomllib = pytest.importorskip('tomllib')
    with open(osp.join(ROOT, 'pyproject.toml'), 'rb') as f:
        extras = tomllib.load(f)['project']['optional-dependencies']
    for spec in re.findall(r"\.\[([^\]]+)\]", command):
        for extra in spec.split(','):
            assert extra in extras, f'{page}: {command}'


def test_printed_paths_exist():
    # Every file or folder of the repository that the README and the guides
    # name exists (outputs of a printed command or of the docs build aside).
    pattern = (r'(?<![\w/.])((?:tests|benchmarks|examples|docs|'
               r'torch_geometric_gru)/[\w/.-]*\w)')
    missing = []
    for page in PAGES:
        with open(osp.join(ROOT, page)) as f:
            text = f.read()
        outputs = set(re.findall(r'--out \S*?(\S+)', text))
        for path in sorted(set(re.findall(pattern, text))):
            if path in outputs or path.startswith('docs/_build'):
                continue
            if not osp.exists(osp.join(ROOT, path)):
                missing.append(f'{page}: {path}')
    assert not missing, missing


def test_index_lists_every_page():
    # A page outside every toctree is unreachable in the site (and a
    # warning, so an error, in the CI build).
    with open(osp.join(ROOT, 'docs', 'index.rst')) as f:
        toctrees = re.findall(r'^\.\. toctree::\n((?:   .*\n|\n)*)', f.read(),
                              re.M)
    entries = {line.strip() for tree in toctrees for line in tree.splitlines()
               if line.strip() and not line.strip().startswith(':')}
    pages = {osp.splitext(osp.relpath(path, osp.join(ROOT, 'docs')))[0]
             for pattern in ('*.md', osp.join('api', '*.rst'))
             for path in glob.glob(osp.join(ROOT, 'docs', pattern))}
    assert pages and pages == entries


# What a newcomer reads: the pages a user opens, and nothing in them that
# only the project's own developers could follow.
USER_PAGES = PAGES + ['CHANGELOG.md'] + sorted(
    osp.relpath(path, ROOT)
    for path in glob.glob(osp.join(ROOT, 'benchmarks', '**', 'README.md'),
                          recursive=True))
# Pages rewritten elsewhere at the moment; they pass once that lands.
INTERNAL = [
    r'\bissue \d+', r"\bthe issue(?:'s)?\b", r'\b(?:this|last|previous) round',
    r'\bprevious session', r'\.ci/run', r'\.\./shared', r'/work/',
    r'\blent\b', r'\$OUT\b',
]


def internal_references(text):
    return sorted({m.group(0) for pattern in INTERNAL
                   for m in re.finditer(pattern, text, re.I)})


@pytest.mark.parametrize('page', USER_PAGES)
def test_user_pages_name_no_internal_references(page):
    with open(osp.join(ROOT, page)) as f:
        found = internal_references(f.read())
    assert not found, f'{page}: {found}'


def test_internal_references_are_found():
    assert internal_references(
        'As issue 22 asked, this round reads ../shared/datasets (.ci/run); '
        "the issue's figure") == sorted([
            'issue 22', 'this round', '../shared', '.ci/run', "the issue's"])
    assert not internal_references('rounded; ⌈log₂ T⌉ rounds; silent')


def section(page, heading):
    r"""The text of :obj:`page` under :obj:`heading` (a Markdown heading
    line), up to the next heading of the same or a higher level."""
    with open(osp.join(ROOT, page)) as f:
        text = f.read()
    level = heading.split(' ')[0]
    start = text.index(f'\n{heading}\n') + len(heading) + 2
    end = re.search(rf'^#{{1,{len(level)}}} ', text[start:], re.M)
    return text[start:start + end.start() if end else None]


def test_cora_epoch_time_is_quoted_once():
    # One measured source for a Cora epoch: the table in benchmarks.md;
    # the other pages link to it instead of copying (or drifting from) it.
    table = section('docs/benchmarks.md', '## Training epochs on Cora')
    ours = re.findall(r'^\| GRUConv \(ours\) \|[^|]*\| (\d+\.\d+) \|$',
                      table, re.M)
    assert len(ours) == 1, table
    for page in USER_PAGES:
        with open(osp.join(ROOT, page)) as f:
            text = f.read()
        if page == 'docs/benchmarks.md':
            text = text.replace(table, '')
        copied = re.search(rf'(?<![\d.]){re.escape(ours[0])}(?!\d)', text)
        assert not copied, f'{page} repeats the Cora epoch time {ours[0]}'


def test_compatibility_table_states_what_pyproject_declares():
    tomllib = pytest.importorskip('tomllib')
    with open(osp.join(ROOT, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    declared = {'Python': project['requires-python']}
    for dependency in project['dependencies']:
        name = re.match(r'[\w-]+', dependency).group(0)
        declared[name] = dependency.replace(' ', '')
    rows = {}
    for line in section('docs/guide.md', '## Compatibility').splitlines():
        cells = [cell.strip() for cell in line.strip('|').split('|')]
        if line.startswith('|') and len(cells) == 4:
            rows[cells[0]] = cells[1:]  # Declared, tested, notes.
    assert rows['Python'][0] == f"`{declared['Python']}`"
    assert rows['PyTorch'][0] == f"`{declared['torch']}`"
    assert rows['PyG'][0] == f"`{declared['torch-geometric']}`"
    # Until a GPU has run them, the kernels are said to be untested there:
    assert 'untested on hardware' in rows['GPU'][1]
    assert 'interpreter only' in rows['Triton'][1]
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = f.read()
    for spec in (declared['torch'], declared['torch-geometric']):
        assert f'`{spec}`' in readme, spec


def test_package_metadata_files():
    with open(osp.join(ROOT, 'LICENSE')) as f:
        license_text = f.read()
    assert license_text.startswith('MIT License')
    assert 'torch_geometric_gru developers' in license_text
    with open(osp.join(ROOT, 'CITATION.cff')) as f:
        citation = f.read()
    assert re.search(r'^cff-version: 1\.2\.0$', citation, re.M)
    version = re.search(r'^version: "([^"]+)"$', citation, re.M).group(1)
    assert version == torch_geometric_gru.__version__
    with open(osp.join(ROOT, 'CHANGELOG.md')) as f:
        assert '\n## [Unreleased]\n' in f.read()
    for heading in ('## Citing', '## License', '## Compatibility'):
        assert f'\n{heading}\n' in readme_text()
    assert f'version = {{{version}}}' in readme_text()  # The BibTeX entry.


def readme_text():
    with open(osp.join(ROOT, 'README.md')) as f:
        return f.read()
