r"""The first use of the C++ step loops: it says what it does, never hangs
(a killed build's lock is survived, a busy lock is waited for a bounded
time), rebuilds a corrupt cached build once, and is keyed by the
environment. The slow tests compile the extension in a private folder,
twice (about a minute each on two cores)."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
import warnings

import pytest

from torch_geometric_gru.ops import cpp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# A process that builds (or loads) the extension and runs a forward on it.
SAYS = 'compiling the C++ loops of the CPU kernel (gru)'
USE = ("import torch; from torch_geometric_gru.ops import cpp; "
       "from torch_geometric_gru import GRUAggregation; "
       "assert cpp.extension() is not None, 'no extension'; "
       "GRUAggregation(3, 4)(torch.randn(5, 3), torch.tensor([0, 0, 1, 1, 1]))"
       "; print('loaded', cpp.extension().__file__)")

needs_cpp = pytest.mark.skipif(not cpp.enabled(),
                               reason=f'{cpp.ENV}=0 disables the C++ kernel')


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    env.update(extra)
    return env


def _run(code, timeout, **env):
    return subprocess.run([sys.executable, '-c', code], env=_env(**env),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def built():
    r"""The extension, built or loaded in this process."""
    if not cpp.enabled():
        pytest.skip(f'{cpp.ENV}=0 disables the C++ kernel')
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        module = cpp.extension()
    if module is None:
        pytest.skip('the C++ kernel cannot be built here (no compiler?)')
    return module


def test_build_is_keyed_by_the_environment(monkeypatch):
    name = cpp._name_and_flags()[0]
    assert cpp._name_and_flags()[0] == name
    monkeypatch.setattr(sys, 'prefix', '/another/venv')
    assert cpp._name_and_flags()[0] != name


def test_stale_lock_of_a_killed_build_is_survived(built):
    # A build killed mid-way leaves PyTorch's lock file, for which every
    # later load would wait forever: it must load all the same.
    directory = osp.dirname(built.__file__)
    stale = osp.join(directory, 'lock')
    open(stale, 'w').close()
    try:
        result = _run(USE, timeout=300)  # A hang guard, not a timing.
    finally:
        if osp.exists(stale):
            os.remove(stale)
    assert result.returncode == 0, result.stderr
    assert 'loaded' in result.stdout
    assert 'compiling' not in result.stderr  # Cached: loaded, not built.


def test_a_busy_build_is_waited_for_a_bounded_time(built, monkeypatch):
    # Another process holds the build lock: after the timeout, one warning
    # and the Python loops, not an endless wait.
    pytest.importorskip('fcntl')
    directory = osp.dirname(built.__file__)
    holder = subprocess.Popen(
        [sys.executable, '-c',
         f"import fcntl, time; f = open({osp.join(directory, 'tggru.lock')!r}"
         f", 'a+'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True)"
         f"; time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        monkeypatch.setenv(cpp.TIMEOUT_ENV, '1')
        monkeypatch.setattr(cpp, '_modules', {})
        monkeypatch.setattr(cpp, '_failed', set())
        with pytest.warns(RuntimeWarning, match=r"TimeoutError.*for over 1 "
                          r"s; raise TORCH_GEOMETRIC_GRU_CPP_TIMEOUT"):
            assert cpp.extension() is None
    finally:
        holder.kill()
        holder.wait()
    monkeypatch.setattr(cpp, '_modules', {})
    monkeypatch.setattr(cpp, '_failed', set())
    assert cpp.extension() is not None  # Released: loads again.


def test_timeout_must_be_a_number(monkeypatch):
    monkeypatch.setenv(cpp.TIMEOUT_ENV, 'soon')
    with pytest.raises(ValueError, match='must be a number of seconds'):
        cpp._timeout()


def _wait_for(path, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if osp.exists(path):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@needs_cpp
@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_build_killed_mid_way_then_next_process_builds(tmp_path, sig):
    # A first build in a private extensions folder, killed (with its
    # compiler) while it compiles, as a job's time limit kills it; the next
    # process says it compiles, builds and runs; the one after only loads.
    env = dict(TORCH_EXTENSIONS_DIR=str(tmp_path))
    first = subprocess.Popen([sys.executable, '-c', USE], env=_env(**env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        # PyTorch's lock file appears when the compile starts.
        found = [False]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not found[0]:
            for root, _, files in os.walk(tmp_path):
                if 'lock' in files:
                    found[0] = True
            time.sleep(0.2)
        assert found[0], 'the build never started'
        time.sleep(2)
        os.killpg(first.pid, sig)
    finally:
        first.wait(timeout=60)
    _, err = first.communicate()
    # Said when it started:
    assert SAYS in err

    second = _run(USE, timeout=900, **env)
    assert second.returncode == 0, second.stderr
    assert SAYS in second.stderr
    third = _run(USE, timeout=300, **env)
    assert third.returncode == 0, third.stderr
    assert 'compiling' not in third.stderr


@pytest.mark.slow
@needs_cpp
def test_corrupt_cached_build_is_rebuilt_once(tmp_path):
    env = dict(TORCH_EXTENSIONS_DIR=str(tmp_path))
    first = _run(USE, timeout=900, **env)
    assert first.returncode == 0, first.stderr
    path = first.stdout.split('loaded', 1)[1].strip()
    with open(path, 'r+b') as f:  # Truncated, as by a full disk.
        f.truncate(100)
    second = _run(USE, timeout=900, **env)
    assert second.returncode == 0, second.stderr
    assert SAYS in second.stderr
    assert 'RuntimeWarning' not in second.stderr  # No fallback.
    ahead = subprocess.run(
        [sys.executable, '-m', 'torch_geometric_gru.ops.build'],
        env=_env(**env), capture_output=True, text=True, timeout=300)
    assert ahead.returncode == 0, ahead.stderr
    assert 'the C++ kernel is ready (gru' in ahead.stdout
    assert '(gru)' not in ahead.stderr  # Built above: loaded, not rebuilt.
