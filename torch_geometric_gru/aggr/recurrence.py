r"""Running a :class:`torch.nn.GRU` over a :class:`PackedLayout`: layers,
directions and the choice of kernel: the Triton kernels of
:mod:`torch_geometric_gru.ops.gru.triton` on CUDA, the hand-written
:mod:`torch_geometric_gru.ops.gru.cpu` on CPU, and PyTorch's own packed GRU
(cuDNN on CUDA) as the fallback and as an explicit option."""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric_gru import ops
from torch_geometric_gru.aggr.fold import folds_linear
from torch_geometric_gru.ops.gru import triton as triton_gru
from torch_geometric_gru.ops.gru.cudnn import cudnn_gru
from torch_geometric_gru.layout.registry import LayoutParts, as_layout, parts
from torch_geometric_gru.layout.packed import PackedLayout

KERNELS = ('auto', 'triton', 'native', 'cudnn')
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class GRU(torch.nn.RNNBase):
    r"""A :class:`torch.nn.GRU`, parameter for parameter: the same
    arguments, parameter names (:obj:`weight_ih_l0`, ...), initialisation
    and :meth:`forward`, so that :obj:`state_dict` s load both ways with
    :class:`torch.nn.GRU` and with PyG's
    :class:`~torch_geometric.nn.aggr.GRUAggregation`.

    It is not a subclass of :class:`torch.nn.GRU` on purpose:
    :func:`torch.compile` refuses to trace a module that holds one
    (:obj:`torch._dynamo.config.allow_rnn`), whereas the aggregations only
    read its weights and run them through their own operators.

    Args:
        input_size (int): The size of each input row.
        hidden_size (int): The size of the state.
        **kwargs (optional): :obj:`num_layers`, :obj:`bias`,
            :obj:`batch_first`, :obj:`dropout`, :obj:`bidirectional`,
            :obj:`device`, :obj:`dtype`, as for :class:`torch.nn.GRU`.
    """
    def __init__(self, input_size: int, hidden_size: int, **kwargs):
        super().__init__('GRU', input_size, hidden_size, **kwargs)

    forward = torch.nn.GRU.forward

    def __prepare_scriptable__(self):
        # Called by torch.jit.script on every submodule before it compiles.
        raise_not_scriptable()


def raise_not_scriptable() -> None:
    r"""The error of :func:`torch.jit.script` on the package's layers."""
    raise TypeError("torch_geometric_gru's layers do not support TorchScript "
                    "(torch.jit.script); use torch.compile, torch.export, or "
                    "ONNX export (torch_geometric_gru.onnx.export) instead")


def gru_parameters(gru: torch.nn.RNNBase, layer: int, direction: int,
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
      :mod:`~torch_geometric_gru.ops.gru.cpu` (any device; the CPU default);
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


def folds_input_weight(in_features: int, input_size: int, hidden_size: int,
                       num_directions: int) -> bool:
    r"""Whether a linear map :math:`\mathbb{R}^{F} \to \mathbb{R}^{I}`
    in front of a GRU (input size :math:`I`, hidden size :math:`H`,
    :math:`D` directions) costs less folded into the GRU's first input
    projection: :math:`D \cdot F \cdot 3H` multiply-adds per row instead
    of :math:`F \cdot I + D \cdot I \cdot 3H` (true for example when
    :math:`F = I` and :math:`D = 1`, or whenever :math:`F < I`): the rule of
    :func:`~torch_geometric_gru.aggr.fold.folds_linear`."""
    return folds_linear(in_features, input_size,
                        3 * hidden_size * num_directions)


def packed_gru(
    gru: torch.nn.RNNBase,
    layout: Union[PackedLayout, LayoutParts],
    x: Tensor,
    src: Optional[Tensor] = None,
    kernel: str = 'auto',
    checkpoint: bool = False,
    x_weight: Optional[Tensor] = None,
) -> Tensor:
    r"""Runs :obj:`gru` over every sequence of :obj:`layout` and returns the
    top layer's final states of shape :obj:`[num_nodes, D * H]` (forward
    direction first when bidirectional; zeros for nodes without elements),
    exactly as :obj:`gru` run on each sequence alone.

    Every layer and direction is one call of the
    :obj:`torch_geometric_gru::gru_layer` operator (kernels
    :obj:`"native"` and :obj:`"triton"`), so that :func:`torch.compile` and
    :func:`torch.export` trace it without a graph break;
    :obj:`kernel="cudnn"` runs :class:`torch.nn.GRU` on a
    :class:`~torch.nn.utils.rnn.PackedSequence`, eagerly.

    Args:
        gru (GRU or torch.nn.GRU): The GRU, whose weights are used as they
            are.
        layout (PackedLayout or LayoutParts): The layout of the sequences.
        x (torch.Tensor): The input rows, of shape
            :obj:`[num_rows, gru.input_size]`.
        src (torch.Tensor, optional): The row of :obj:`x` that each packed
            row reads, of shape :obj:`[num_packed]`; if :obj:`None`,
            :obj:`x` is already packed. When :obj:`x` has fewer rows than
            the packing (node features read by every out-edge), the input
            projection is computed once per row of :obj:`x`.
            (default: :obj:`None`)
        kernel (str, optional): :obj:`"auto"`, :obj:`"triton"`,
            :obj:`"native"` or :obj:`"cudnn"` (see :func:`resolve_kernel`).
            (default: :obj:`"auto"`)
        checkpoint (bool, optional): If set to :obj:`True`, no per-row
            state is kept for the backward, which recomputes it.
            (default: :obj:`False`)
        x_weight (torch.Tensor, optional): A linear map of shape
            :obj:`[gru.input_size, F]` that the rows of :obj:`x` (of
            width :obj:`F`) pass through before the GRU reads them. Where
            :func:`folds_input_weight` says it costs less, it is folded
            into the first layer's input weights (:obj:`W_ih @ x_weight`,
            the same function with fewer operations and no
            :obj:`[num_rows, input_size]` tensor); otherwise it is applied
            to :obj:`x` first. (default: :obj:`None`)
    """
    kernel = resolve_kernel(kernel, x)
    if x_weight is not None and (kernel == 'cudnn' or not folds_input_weight(
            x_weight.size(1), gru.input_size, gru.hidden_size,
            2 if gru.bidirectional else 1)):
        x, x_weight = F.linear(x, x_weight), None
    if kernel == 'cudnn':
        _check_cudnn(checkpoint, x)
        return cudnn_gru(gru, as_layout(layout), x, src)
    perm, node_perm, degree = parts(layout)
    num_dirs = 2 if gru.bidirectional else 1
    # With `checkpoint`, the operator's backward recomputes the states.
    save = not checkpoint and torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in gru.parameters()))
    for layer in range(gru.num_layers):
        top = layer == gru.num_layers - 1
        outputs: List[Tensor] = []
        for direction in range(num_dirs):
            w_ih, w_hh, b_ih, b_hh = gru_parameters(gru, layer, direction)
            if x_weight is not None and layer == 0:
                w_ih = w_ih.mm(x_weight)  # [3H, F]: one projection.
            out, _ = ops.run_gru_layer(x, src, w_ih, w_hh, b_ih, b_hh, perm,
                                       node_perm, degree, not top,
                                       direction == 1, save, kernel)
            outputs.append(out)
        x = torch.cat(outputs, dim=-1) if num_dirs > 1 else outputs[0]
        src = None
        if not top and gru.dropout > 0 and gru.training:
            x = F.dropout(x, p=gru.dropout, training=True)
    return x


def _check_cudnn(checkpoint: bool, x: Tensor) -> None:
    if checkpoint:
        raise ValueError(f"'checkpoint' needs kernel='native' or 'triton', "
                         f"but the cuDNN kernel was picked for this input "
                         f"({x.dtype} on {x.device}); pass kernel='native' "
                         f"or drop 'checkpoint'")
