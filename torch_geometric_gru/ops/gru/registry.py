r"""The kernels of the :obj:`torch_geometric_gru::gru_layer` operator, by
name: the operator looks its kernel up here once, so that its body has no
branch per kernel. A new kernel is a new module beside these and one line
in :obj:`KERNELS`.

Every kernel keeps one contract (see :mod:`torch_geometric_gru.ops.gru.op`):
:obj:`forward(x, rows, w_ih, w_hh, b_ih, b_hh, layout, sequence, save)`
returns :obj:`(out, states)` in packed order, and
:obj:`backward(grad_out, x, rows, w_ih, w_hh, b_ih, b_hh, states, layout,
sequence, needs)` the gradients of :obj:`(x, w_ih, w_hh, b_ih, b_hh)`.
"""
from typing import Callable, Dict, NamedTuple, Optional

import torch

from torch_geometric_gru.ops.gru import cpu
from torch_geometric_gru.ops.gru import triton as triton_kernels


class Kernel(NamedTuple):
    r"""One kernel of the operator and the shape of what it saves."""
    forward: Callable
    backward: Callable
    #: Rows kept after the saved states (the Triton kernels keep a row of
    #: zeros there: the state before a first step).
    extra_state_rows: int
    #: The dtype of the saved states (:obj:`None`: the input's).
    state_dtype: Optional[torch.dtype]


def _cpu_backward(grad_out, *args):
    return cpu.gru_layer_backward(grad_out.contiguous(), *args)


KERNELS: Dict[str, Kernel] = {
    'native': Kernel(cpu.gru_layer, _cpu_backward, 0, None),
    'triton': Kernel(triton_kernels.forward, triton_kernels.backward, 1,
                     torch.float32),
}
