r"""How many threads a benchmark may use on a machine shared with other work.

Importing this module before :mod:`torch` (every script in
:obj:`benchmarks/` does) measures how many of this process's cores other
processes keep busy (:func:`busy_cores`, over :data:`WINDOW` seconds) and,
when that is at least :data:`PASSIVE_FROM` cores, sets OpenMP's wait policy
to passive, unless the caller set one: a thread that waits for its team
then sleeps instead of spinning for a while, so that a thread whose core is
taken by another process does not stall the rest of its team (with torch's
defaults, the main job ran 4.6-4.9x slower on busy cores than with these,
and up to 137x slower than with one thread; ``docs/benchmarks.md``). On
free cores the policy is left alone: there, spinning is what makes a
team's short waits cheap (passive waits cost the main job 20-50% of its
idle speed). OpenMP reads the variable once, when :mod:`torch` loads it, so
this must happen first; the module imports nothing heavy.

:func:`default_threads` then picks the torch thread count: the cores this
process may run on that are free (the same measurement), never more, at
least one.
"""
import math
import os
import sys
import time
from typing import Dict, Optional, Sequence, Tuple

#: The window over which :func:`busy_cores` measures the other processes.
WINDOW = 0.25
#: Other processes keeping at least this many cores busy make the wait
#: policy passive (:func:`wait_policy`).
PASSIVE_FROM = 0.5
#: The busy cores measured when this module was first imported, before
#: :mod:`torch` loaded (:obj:`None` if it was not measured: :mod:`torch`
#: was already loaded, the caller had set :obj:`OMP_WAIT_POLICY`, or the
#: kernel does not say).
BUSY_AT_IMPORT: Optional[float] = None


def choose_threads(cores: int, busy: float) -> int:
    r"""The thread count for :obj:`cores` usable cores of which :obj:`busy`
    (a core count, possibly fractional, possibly above :obj:`cores` when
    more work waits than there are cores) are taken by other processes: the
    free cores rounded to the nearest whole core, at least one and at most
    :obj:`cores`."""
    if cores < 1:
        raise ValueError(f'cores must be at least 1 (got {cores})')
    if not busy >= 0:  # Also NaN.
        raise ValueError(f'busy must be a non-negative core count (got '
                         f'{busy})')
    return max(1, min(cores, math.floor(cores - busy + 0.5)))


def usable_cores() -> Sequence[int]:
    r"""The ids of the cores this process may run on (its affinity mask,
    else every core)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # Not Linux.
        return list(range(os.cpu_count() or 1))


def _cpu_times(path: str = '/proc/stat') -> Dict[int, Tuple[int, int]]:
    r"""Per core: (total, idle) time so far, in clock ticks, from
    :obj:`/proc/stat` (idle includes waiting for I/O)."""
    times = {}
    with open(path) as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith('cpu') and name[3:].isdigit():
                ticks = [int(v) for v in fields[:8]]  # Guest time is in user.
                times[int(name[3:])] = (sum(ticks), ticks[3] + ticks[4])
    return times


def busy_cores(cores: Sequence[int], window: float = WINDOW,
               read=_cpu_times, sleep=time.sleep) -> Optional[float]:
    r"""How many of :obj:`cores` other processes keep busy: the busy share
    of each core over :obj:`window` seconds, summed (this process sleeps
    meanwhile, so it does not count itself). :obj:`None` where the kernel
    does not say (no :obj:`/proc/stat`)."""
    try:
        before = read()
        sleep(window)
        after = read()
    except OSError:
        return None
    busy = 0.0
    for core in cores:
        if core not in before or core not in after:
            continue
        total = after[core][0] - before[core][0]
        idle = after[core][1] - before[core][1]
        if total > 0:
            busy += min(1.0, max(0.0, 1 - idle / total))
    return busy


def default_threads(cores: Optional[Sequence[int]] = None,
                    busy: Optional[float] = None) -> int:
    r"""The torch thread count for a benchmark that was not told one: the
    free cores among those this process may use (:func:`usable_cores`),
    measured at import (:data:`BUSY_AT_IMPORT`) or now by
    :func:`busy_cores`, else from the one-minute load average where the
    kernel has no per-core times."""
    if cores is None:
        cores = usable_cores()
        if busy is None:  # Measured a moment ago, at import.
            busy = BUSY_AT_IMPORT
    if busy is None:
        busy = busy_cores(cores)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # No load average (Windows).
            busy = 0.0
    return choose_threads(len(cores), busy)


def wait_policy(busy: Optional[float]) -> Optional[str]:
    r"""The OpenMP wait policy to set when other processes keep :obj:`busy`
    cores busy: ``'PASSIVE'`` from :data:`PASSIVE_FROM` cores on, else
    :obj:`None` (leave OpenMP's default, which spins briefly before it
    sleeps)."""
    if busy is not None and busy >= PASSIVE_FROM:
        return 'PASSIVE'
    return None


def _set_wait_policy() -> None:
    global BUSY_AT_IMPORT
    # Once torch is loaded, OpenMP has read the variable: later would
    # change nothing. A caller's own choice stands.
    if 'torch' in sys.modules or 'OMP_WAIT_POLICY' in os.environ:
        return
    BUSY_AT_IMPORT = busy_cores(usable_cores())
    policy = wait_policy(BUSY_AT_IMPORT)
    if policy is not None:
        os.environ['OMP_WAIT_POLICY'] = policy


_set_wait_policy()
