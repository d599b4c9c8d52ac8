r"""How many threads a benchmark may use on a machine shared with other work.

Importing this module before :mod:`torch` (every script in
:obj:`benchmarks/` does) sets OpenMP's wait policy to passive, unless the
caller set one: a thread that waits for its team then sleeps instead of
spinning for a while, so that a thread whose core is taken by another
process does not stall the rest of its team (with torch's defaults, the
main job ran 4.6-4.9x slower on busy cores than with these, and up to 137x
slower than with one thread; ``docs/benchmarks.md``). OpenMP reads the
variable once, when :mod:`torch` loads it, so this must happen first; the
module imports nothing heavy.

:func:`default_threads` then picks the torch thread count: the cores this
process may run on that are free, measured over a short window, never more,
at least one.
"""
import math
import os
import sys
import time
from typing import Dict, Optional, Sequence, Tuple

if 'torch' not in sys.modules:  # Later would change nothing.
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

#: The window over which :func:`busy_cores` measures the other processes.
WINDOW = 0.25


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
    measured now by :func:`busy_cores`, else from the one-minute load
    average where the kernel has no per-core times."""
    cores = usable_cores() if cores is None else cores
    if busy is None:
        busy = busy_cores(cores)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # No load average (Windows).
            busy = 0.0
    return choose_threads(len(cores), busy)
