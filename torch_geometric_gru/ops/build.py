r"""Builds the C++ step loops of the CPU kernel ahead of time (or loads
them if built), so that no later process spends its first forward on the
compile, and says where the build is::

    python -m torch_geometric_gru.ops.build

Exits with a non-zero status if the extension cannot be built (no C++
compiler or :obj:`ninja`) or is disabled by
:obj:`TORCH_GEOMETRIC_GRU_CPP=0`.
"""
import os
import sys
import time

from torch_geometric_gru.ops import cpp


def main() -> int:
    status = 0
    for kind in cpp.SOURCES:
        start = time.perf_counter()
        module = cpp.extension(kind)
        if module is None:
            print(f"torch_geometric_gru: the C++ kernel ({kind}) is not "
                  f"available ({cpp.ENV}={os.environ.get(cpp.ENV, '1')}, or "
                  f"its build failed: see the warning above)",
                  file=sys.stderr)
            status = 1
            continue
        print(f"torch_geometric_gru: the C++ kernel is ready ({kind}, "
              f"{time.perf_counter() - start:.1f} s): {module.__file__}")
    return status


if __name__ == '__main__':
    sys.exit(main())
