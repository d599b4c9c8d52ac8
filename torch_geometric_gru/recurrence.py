r"""Running a :class:`torch.nn.GRU` over a :class:`PackedLayout`: layers,
directions and the choice of kernel: the Triton kernels of
:mod:`torch_geometric_gru.kernels.triton` on CUDA, the hand-written
:mod:`torch_geometric_gru.kernels.cpu` on CPU, and PyTorch's own packed GRU
(cuDNN on CUDA) as the fallback and as an explicit option."""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from torch_geometric_gru.kernels import cpu as cpu_gru, triton as triton_gru
from torch_geometric_gru.packing import PackedLayout
from torch_geometric_gru.kernels.workspace import Workspace

KERNELS = ('auto', 'triton', 'native', 'cudnn')
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def gru_parameters(gru: torch.nn.GRU, layer: int, direction: int,
                   ) -> Tuple[Tensor, Tensor, Optional[Tensor],
                              Optional[Tensor]]:
    r"""Returns :obj:`(w_ih, w_hh, b_ih, b_hh)` of one layer and direction
    of :obj:`gru`."""
    suffix = f'_l{layer}' + ('_reverse' if direction == 1 else '')
    return (getattr(gru, f'weight_ih{suffix}'),
            getattr(gru, f'weight_hh{suffix}'),
            getattr(gru, f'bias_ih{suffix}', None),
            getattr(gru, f'bias_hh{suffix}', None))


def check_kernel(kernel: str) -> None:
    r"""Checks the name of a kernel choice."""
    if kernel not in KERNELS:
        raise ValueError(f"'kernel' must be one of {KERNELS} (got "
                         f"{kernel!r})")


def resolve_kernel(kernel: str, x: Tensor) -> str:
    r"""The kernel that runs a GRU on :obj:`x` for the choice
    :obj:`kernel`:

    * :obj:`"auto"`: :obj:`"triton"` on CUDA for fp32, fp16 and bf16 when
      :mod:`triton` imports, else :obj:`"cudnn"`; :obj:`"native"` on every
      other device;
    * :obj:`"triton"`: the Triton kernels (CUDA, or CPU under
      :obj:`TRITON_INTERPRET=1`), state and accumulation in fp32;
    * :obj:`"native"`: the hand-written kernel of
      :mod:`~torch_geometric_gru.kernels.cpu` (any device; the CPU default);
    * :obj:`"cudnn"`: :class:`torch.nn.GRU` on a
      :class:`~torch.nn.utils.rnn.PackedSequence` (cuDNN on CUDA,
      PyTorch's own kernel elsewhere).
    """
    check_kernel(kernel)
    if kernel == 'auto':
        if x.is_cuda:
            usable = (x.dtype in TRITON_DTYPES
                      and triton_gru.is_available(x.device))
            return 'triton' if usable else 'cudnn'
        return 'native'
    if kernel == 'triton':
        if not triton_gru.is_available(x.device):
            where = ('triton (3.0 or newer) is not installed'
                     if triton_gru.triton is None else
                     f'Triton does not run on {x.device.type} tensors '
                     f'(on CPU only in its interpreter: TRITON_INTERPRET=1 '
                     f'set before import, triton 3.7 or newer)')
            raise ValueError(f"kernel='triton' cannot run here: {where}; "
                             f"use kernel='auto'")
        if x.dtype not in TRITON_DTYPES:
            raise ValueError(f"kernel='triton' computes in float32 and "
                             f"takes float32, float16 or bfloat16 inputs "
                             f"(got {x.dtype}); use kernel='native' or "
                             f"'cudnn' for {x.dtype}")
    return kernel


def packed_gru(
    gru: torch.nn.GRU,
    layout: PackedLayout,
    x: Tensor,
    src: Optional[Tensor] = None,
    kernel: str = 'auto',
    workspace: Optional[Workspace] = None,
) -> Tensor:
    r"""Runs :obj:`gru` over every sequence of :obj:`layout` and returns the
    top layer's final states of shape :obj:`[num_sequences, D * H]` in
    packed order (forward direction first when bidirectional), exactly as
    :obj:`gru` run on each sequence alone.

    Args:
        gru (torch.nn.GRU): The GRU, whose weights are used as they are.
        layout (PackedLayout): The layout of the sequences.
        x (torch.Tensor): The input rows, of shape
            :obj:`[num_rows, gru.input_size]`.
        src (torch.Tensor, optional): The row of :obj:`x` that each packed
            row reads, of shape :obj:`[layout.num_packed]`; if :obj:`None`,
            :obj:`x` is already packed. When :obj:`x` has fewer rows than
            the packing (node features read by every out-edge), the input
            projection is computed once per row of :obj:`x`.
            (default: :obj:`None`)
        kernel (str, optional): :obj:`"auto"`, :obj:`"triton"`,
            :obj:`"native"` or :obj:`"cudnn"` (see :func:`resolve_kernel`).
            (default: :obj:`"auto"`)
        workspace (Workspace, optional): A pool for the scratch buffers of
            the native kernel. (default: :obj:`None`)
    """
    num_dirs = 2 if gru.bidirectional else 1
    hidden = gru.hidden_size
    if layout.num_packed == 0:  # Still part of the graph (of x):
        return x[:0, :1].expand(0, num_dirs * hidden) * 0

    kernel = resolve_kernel(kernel, x)
    if kernel == 'cudnn':
        data = x if src is None else x.index_select(0, src)
        _, h_n = gru(PackedSequence(data, layout.batch_sizes))
        return h_n[-num_dirs:].transpose(0, 1).reshape(-1, num_dirs * hidden)

    def run_layer(x, rows, params, sequence):
        if kernel == 'triton':
            return triton_gru.run_layer(x, rows, params, layout, sequence)
        return cpu_gru.run_layer(x, rows, params, layout, sequence, workspace)

    for layer in range(gru.num_layers):
        top = layer == gru.num_layers - 1
        outputs: List[Tensor] = []
        for direction in range(num_dirs):
            rows = src
            if direction == 1:  # Read every sequence reversed.
                rev = layout.reverse_perm
                rows = rev if rows is None else rows.index_select(0, rev)
            out = run_layer(x, rows, gru_parameters(gru, layer, direction),
                            not top)
            if direction == 1 and not top:
                out = out.index_select(0, layout.reverse_perm)
            outputs.append(out)
        x = torch.cat(outputs, dim=-1) if num_dirs > 1 else outputs[0]
        src = None
        if not top and gru.dropout > 0 and gru.training:
            x = F.dropout(x, p=gru.dropout, training=True)
    return x
