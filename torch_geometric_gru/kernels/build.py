r"""Builds the C++ step loops of the CPU kernel ahead of time (or loads
them if built), so that no later process spends its first forward on the
compile, and says where the build is::

    python -m torch_geometric_gru.kernels.build

Exits with a non-zero status if the extension cannot be built (no C++
compiler or :obj:`ninja`) or is disabled by
:obj:`TORCH_GEOMETRIC_GRU_CPP=0`.
"""
import os
import sys
import time

from torch_geometric_gru.kernels import cpp


def main() -> int:
    start = time.perf_counter()
    module = cpp.extension()
    if module is None:
        print(f"torch_geometric_gru: the C++ kernel is not available "
              f"({cpp.ENV}={os.environ.get(cpp.ENV, '1')}, or its build "
              f"failed: see the warning above)", file=sys.stderr)
        return 1
    print(f"torch_geometric_gru: the C++ kernel is ready "
          f"({time.perf_counter() - start:.1f} s): {module.__file__}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
