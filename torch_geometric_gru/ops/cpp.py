r"""The C++ step loops of the CPU kernel (:obj:`ops/gru/csrc/gru_cpu.cpp`),
compiled on first use.

:mod:`torch_geometric_gru.ops.gru.cpu` runs its sequential loops (the
forward steps, the backward's :math:`dh` recurrence) through this extension
when it is available, and through its own Python loops otherwise: both
compute the same thing (the tests compare them). The extension is built
with :func:`torch.utils.cpp_extension.load` the first time a kernel needs it
(one to three minutes; it needs a C++ compiler and :obj:`ninja`) and cached
in PyTorch's extensions folder (:obj:`TORCH_EXTENSIONS_DIR`, by default
:obj:`~/.cache/torch_extensions`), so later processes only load it. One
build per vector instruction set, source, PyTorch version and Python
environment: a cache shared by machines of different CPU types never hands
one of them code it cannot run, and checkouts or virtual environments that
share it never rebuild each other's. The build runs the :obj:`ninja` of
the Python environment (the package installs it there) where there is
one, whatever :obj:`PATH` says, and the build is named by that
:obj:`ninja` too: two :obj:`ninja` versions read each other's build log as
out of date, so processes of one environment with different :obj:`PATH`
values (one activated, one not) would otherwise rebuild it in turn.

The first build says so on standard error (one line: what, once, about
how long, how to skip). Build it ahead of time, e.g. in a Docker image or
before a job array starts, with::

    python -m torch_geometric_gru.ops.build

Processes that start together wait for one build (an OS file lock, which
a killed build releases; a lock file that a killed build of PyTorch's
leaves behind is removed). A process waits at most
:obj:`TORCH_GEOMETRIC_GRU_CPP_TIMEOUT` seconds (default 900) for another's
build, then keeps the Python loops. A cached build that no longer loads
(a truncated or corrupt file) is rebuilt once.

If the build fails, the package warns once and keeps the Python loops. Set
:obj:`TORCH_GEOMETRIC_GRU_CPP=0` to use the Python loops without trying.
"""
import contextlib
import hashlib
import os
import os.path as osp
import shutil
import sys
import tempfile
import threading
import time
import warnings
from types import ModuleType
from typing import Dict, List, Optional, Set, Tuple

import torch

ENV = 'TORCH_GEOMETRIC_GRU_CPP'
TIMEOUT_ENV = 'TORCH_GEOMETRIC_GRU_CPP_TIMEOUT'
OPS = osp.dirname(osp.abspath(__file__))
#: The C++ source of each extension, by name: one extension per recurrence,
#: in the :obj:`csrc/` folder of its operator.
SOURCES: Dict[str, str] = {
    'gru': osp.join(OPS, 'gru', 'csrc', 'gru_cpu.cpp'),
    'mingru': osp.join(OPS, 'mingru', 'csrc', 'mingru_cpu.cpp'),
}

_modules: Dict[str, ModuleType] = {}
_failed: Set[str] = set()


def enabled() -> bool:
    r"""Whether the C++ loops may be used: :obj:`False` when the
    environment variable :obj:`TORCH_GEOMETRIC_GRU_CPP` is :obj:`0`,
    :obj:`false`, :obj:`no` or :obj:`off`. Read on every call."""
    value = os.environ.get(ENV, '1').strip().lower()
    return value not in ('0', 'false', 'no', 'off')


def _flags() -> Tuple[str, List[str]]:
    r"""The build's name suffix and compiler flags: the ATen vector types
    pick their instruction set from these macros, set here to the one that
    PyTorch's own kernels use on this CPU (AVX-512 or AVX2, with the same
    flags as PyTorch's build), else the portable default."""
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # Older PyTorch, or no CPU capability reported.
        capability = 'DEFAULT'
    if capability == 'AVX512':
        return 'avx512', ['-O3', '-mavx512f', '-mavx512bw', '-mavx512vl',
                          '-mavx512dq', '-mfma', '-DCPU_CAPABILITY=AVX512',
                          '-DCPU_CAPABILITY_AVX512']
    if capability == 'AVX2':
        return 'avx2', ['-O3', '-mavx2', '-mfma', '-DCPU_CAPABILITY=AVX2',
                        '-DCPU_CAPABILITY_AVX2']
    return 'default', ['-O3']


def _read(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def _build_directory(name: str) -> str:
    try:  # Where torch.utils.cpp_extension.load puts it by default.
        from torch.utils.cpp_extension import _get_build_directory
        return _get_build_directory(name, verbose=False)
    except Exception:  # A private helper: it may move.
        root = os.environ.get('TORCH_EXTENSIONS_DIR', osp.join(
            osp.expanduser('~'), '.cache', 'torch_extensions'))
        path = osp.join(root, name)
        os.makedirs(path, exist_ok=True)
        return path


def _timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV, '900')
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds (got "
                         f"{value!r})") from None


@contextlib.contextmanager
def _build_lock(directory: str, timeout: float):
    r"""Holds an exclusive OS lock on :obj:`directory` (released by the OS
    if this process dies), waiting at most :obj:`timeout` seconds for
    another process's build. While it is held no other build of ours runs
    there, so a lock file of PyTorch's own left in it is stale (a build
    killed mid-way) and is removed: PyTorch would wait for it forever."""
    try:
        import fcntl
    except ImportError:  # Not POSIX: PyTorch's own lock file only.
        yield
        return
    with open(osp.join(directory, 'tggru.lock'), 'a+') as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"another process has been building the C++ kernel "
                        f"in {directory} for over {timeout:.0f} s; raise "
                        f"{TIMEOUT_ENV} to wait longer") from None
                time.sleep(0.2)
        try:
            stale = osp.join(directory, 'lock')
            if osp.exists(stale):
                os.remove(stale)
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _environment_ninja() -> Optional[str]:
    r"""The :obj:`ninja` beside this Python (the :obj:`ninja` package
    installs it in the environment's :obj:`bin/`), or :obj:`None`."""
    for folder in (osp.dirname(sys.executable), osp.join(sys.prefix, 'bin'),
                   osp.join(sys.prefix, 'Scripts')):
        for name in ('ninja', 'ninja.exe'):
            path = osp.join(folder, name)
            if osp.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


def _ninja() -> Optional[str]:
    r"""The :obj:`ninja` a build runs: the environment's own, else the
    first on :obj:`PATH`, else :obj:`None`."""
    return _environment_ninja() or shutil.which('ninja')


# PATH is the process's: one build at a time changes it.
_path_lock = threading.RLock()


@contextlib.contextmanager
def _ninja_first():
    r"""Puts the folder of the environment's :obj:`ninja` first on
    :obj:`PATH` while PyTorch builds (it runs :obj:`ninja` by name), then
    restores :obj:`PATH`; without one, leaves :obj:`PATH` as it is (its
    first :obj:`ninja` is the one to run, and the compilers keep their
    order)."""
    ninja = _environment_ninja()
    with _path_lock:
        if ninja is None:
            yield
            return
        old = os.environ.get('PATH')
        os.environ['PATH'] = osp.dirname(ninja) + (os.pathsep + old
                                                   if old else '')
        try:
            yield
        finally:
            if old is None:
                os.environ.pop('PATH', None)
            else:
                os.environ['PATH'] = old


def _name_and_flags(kind: str = 'gru') -> Tuple[str, List[str], List[str]]:
    suffix, flags = _flags()
    ldflags = []
    if 'OpenMP' in torch.__config__.parallel_info():
        # at::parallel_for splits large steps over PyTorch's threads; the
        # OpenMP runtime is the one PyTorch has already loaded (same
        # soname), so both share one thread pool.
        flags, ldflags = flags + ['-fopenmp'], ['-fopenmp']
    # One build per source, flags, PyTorch, Python environment and ninja:
    # checkouts or virtual environments that share the cache never rebuild
    # each other's extension (the build files name the include folders of
    # the environment's torch and Python, and ninja versions disagree on
    # what their build logs say).
    key = hashlib.sha256(b'\0'.join([
        _read(SOURCES[kind]), ' '.join(flags).encode(),
        torch.__version__.encode(),
        osp.dirname(osp.abspath(torch.__file__)).encode(),
        sys.prefix.encode(), sys.version.encode(),
        (_ninja() or '').encode()])).hexdigest()[:12]
    prefix = 'torch_geometric_gru' + ('' if kind == 'gru' else f'_{kind}')
    return f'{prefix}_cpu_{suffix}_{key}', flags, ldflags


def _built(directory: str, name: str) -> bool:
    return any(f.startswith(name) and f.endswith(('.so', '.pyd'))
               for f in os.listdir(directory))


def _build(kind: str = 'gru') -> ModuleType:
    from torch.utils.cpp_extension import load
    name, flags, ldflags = _name_and_flags(kind)
    directory = _build_directory(name)
    source = _read(SOURCES[kind])
    filename = osp.basename(SOURCES[kind])
    with _ninja_first(), _build_lock(directory, _timeout()):
        # The source is compiled from a copy in the build folder, so that
        # the build does not depend on where the package is installed.
        copy = osp.join(directory, filename)
        if not osp.exists(copy) or _read(copy) != source:
            fd, tmp = tempfile.mkstemp(dir=directory, suffix='.cpp.tmp')
            with os.fdopen(fd, 'wb') as f:
                f.write(source)
            os.replace(tmp, copy)
        cached = _built(directory, name)
        if not cached:
            _say_building(directory, kind)

        def run():
            return load(name=name, sources=[copy], extra_cflags=flags,
                        extra_ldflags=ldflags, build_directory=directory,
                        verbose=False)

        try:
            return run()
        except (ImportError, OSError):
            if not cached:
                raise
            # A cached build that does not load (truncated, corrupt):
            # rebuilt once, from a clean folder.
            for entry in os.listdir(directory):
                if entry not in (filename, 'tggru.lock'):
                    path = osp.join(directory, entry)
                    if osp.isdir(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.remove(path)
            _say_building(directory, kind)
            return run()


def _say_building(directory: str, kind: str) -> None:
    print(f"torch_geometric_gru: compiling the C++ loops of the CPU "
          f"kernel ({kind}), once per environment (about 1-3 minutes; "
          f"cached in {directory}). To skip it, set {ENV}=0 (slower "
          f"Python loops); to do it ahead of time, run 'python -m "
          f"torch_geometric_gru.ops.build'.", file=sys.stderr, flush=True)


def extension(kind: str = 'gru') -> Optional[ModuleType]:
    r"""The compiled extension of the recurrence :obj:`kind` (a key of
    :obj:`SOURCES`; built or loaded on the first call), or :obj:`None` if
    it is disabled or cannot be built (then with one warning per process
    and extension that says why)."""
    if not enabled() or kind in _failed:
        return None
    module = _modules.get(kind)
    if module is None:
        try:
            module = _modules[kind] = _build(kind)
        except Exception as e:  # No compiler, no ninja, a failed build.
            _failed.add(kind)
            warnings.warn(
                f"torch_geometric_gru: the C++ CPU kernel ({kind}) could not "
                f"be built ({type(e).__name__}: {str(e).strip()[-500:]}); "
                f"using the slower Python loops. Install a C++ compiler "
                f"and 'ninja' to get it, or set {ENV}=0 to silence this.",
                RuntimeWarning, stacklevel=2)
            return None
    return module


def is_available(kind: str = 'gru') -> bool:
    r"""Whether the C++ loops of :obj:`kind` are enabled and built (builds
    them on the first call)."""
    return extension(kind) is not None
