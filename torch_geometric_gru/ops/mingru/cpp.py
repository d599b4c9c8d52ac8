r"""The C++ segmented minGRU scan on CPU (:obj:`csrc/mingru_cpu.cpp`):
one vectorised pass per segment, segments split over PyTorch's threads;
the backward is the reverse scan over states recomputed chunk by chunk.
Float32 and float64."""
from typing import Optional

import torch
from torch import Tensor

from torch_geometric_gru.ops import cpp


def available() -> bool:
    r"""Whether the extension is enabled and built (builds it on the first
    call)."""
    return cpp.extension('mingru') is not None


def scan(gates: Tensor, rows: Tensor, ptr: Tensor) -> Tensor:
    return cpp.extension('mingru').forward(gates.contiguous(),
                                           rows.contiguous(),
                                           ptr.contiguous())


def scan_backward(grad_out: Tensor, gates: Tensor, rows: Tensor,
                  ptr: Tensor, direct: Optional[bool] = None) -> Tensor:
    # With one thread the gradient rows accumulate in place; with more, two
    # segments may read the same row (hoisted node projections), so every
    # element gets its own gradient row, summed into the rows afterwards.
    if direct is None:
        direct = torch.get_num_threads() == 1
    ext = cpp.extension('mingru')
    grad = ext.backward(grad_out.contiguous(), gates.contiguous(),
                        rows.contiguous(), ptr.contiguous(), direct)
    if direct:
        return grad
    return grad.new_zeros(gates.shape).index_add_(0, rows, grad)
