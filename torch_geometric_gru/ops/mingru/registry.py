r"""The kernels of the segmented minGRU scan, by name, and the choice of
one for a device and dtype: the operator body calls what this returns.

* :obj:`"cpp"`: the C++ kernel (CPU; float32 and float64);
* :obj:`"triton"`: the Triton kernels (CUDA, or CPU under Triton's
  interpreter; fp32 accumulation);
* :obj:`"reference"`: the plain-PyTorch scan (any device and dtype).

:obj:`"auto"` picks :obj:`"cpp"` on CPU where the extension builds,
:obj:`"triton"` on CUDA where Triton runs (not for float64, which the
Triton kernels would round to fp32), else :obj:`"reference"`. Float16 and
bfloat16 gates run the C++ kernel in fp32 and are rounded back.
"""
from typing import Callable, Dict, NamedTuple

import torch
from torch import Tensor

from torch_geometric_gru.ops.mingru import cpp, reference
from torch_geometric_gru.ops.mingru import triton as triton_kernels


class Kernel(NamedTuple):
    scan: Callable[[Tensor, Tensor, Tensor], Tensor]
    scan_backward: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


def _in_fp32(kernel: Kernel) -> Kernel:
    r"""Runs a float32/float64 kernel on half-precision gates in fp32."""
    def scan(gates, rows, ptr):
        if gates.dtype in (torch.float32, torch.float64):
            return kernel.scan(gates, rows, ptr)
        return kernel.scan(gates.float(), rows, ptr).to(gates.dtype)

    def scan_backward(grad_out, gates, rows, ptr):
        if gates.dtype in (torch.float32, torch.float64):
            return kernel.scan_backward(grad_out, gates, rows, ptr)
        return kernel.scan_backward(grad_out.float(), gates.float(), rows,
                                    ptr).to(gates.dtype)

    return Kernel(scan, scan_backward)


KERNELS: Dict[str, Kernel] = {
    'cpp': _in_fp32(Kernel(cpp.scan, cpp.scan_backward)),
    'triton': Kernel(triton_kernels.scan, triton_kernels.scan_backward),
    'reference': Kernel(reference.scan, reference.scan_backward),
}
NAMES = ('auto', ) + tuple(KERNELS)


def pick(name: str, gates: Tensor) -> Kernel:
    r"""The kernel :obj:`name`, or for :obj:`"auto"` the best one for
    :obj:`gates`' device and dtype."""
    if name == 'auto':
        device = gates.device
        if device.type == 'cpu' and cpp.available():
            name = 'cpp'
        elif (device.type == 'cuda' and gates.dtype != torch.float64
              and triton_kernels.is_available(device)):
            name = 'triton'
        else:
            name = 'reference'
    return KERNELS[name]
