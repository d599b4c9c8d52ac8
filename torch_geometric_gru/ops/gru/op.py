r"""The :obj:`torch_geometric_gru::gru_layer` operator and its backward:
one direction of one GRU layer over a packed layout, registered with
:mod:`torch.library` so that :func:`torch.compile` and
:func:`torch.export` see one opaque call with static output shapes.

* :obj:`gru_layer(x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree,
  sequence, reverse, save, kernel) -> (out, states)`: :obj:`out` is
  :obj:`[E, H]` (the state after every packed row, in packed order) if
  :obj:`sequence`, else :obj:`[N, H]` (the final state of every node, zeros
  for nodes without elements); :obj:`states` is what the backward reads
  (:obj:`[E, H]`, or :obj:`[E + 1, H]` in fp32 for the Triton kernels;
  empty unless :obj:`save`: then the backward recomputes them, which is
  how :obj:`checkpoint=True` trades time for memory).
* :obj:`gru_layer_backward(...)`: the gradients of :obj:`x, w_ih, w_hh,
  b_ih, b_hh` from the gradient of :obj:`out` and :obj:`states`.

Both dispatch to the kernels of :mod:`torch_geometric_gru.ops.gru`:
:obj:`kernel="native"` is the hand-written kernel
(:mod:`~torch_geometric_gru.ops.gru.cpu`, any device),
:obj:`kernel="triton"` the Triton kernels (CUDA, or CPU under Triton's
interpreter). Gradients of gradients (:obj:`create_graph=True`)
differentiate the plain-PyTorch layer of
:mod:`~torch_geometric_gru.ops.gru.naive` instead.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru.ops.gru import naive
from torch_geometric_gru.ops.gru.registry import KERNELS
from torch_geometric_gru.layout.registry import lookup
from torch_geometric_gru.layout.packed import PackedLayout

OP_KERNELS = tuple(KERNELS)


def _rows(src: Optional[Tensor], layout: PackedLayout,
          reverse: bool) -> Optional[Tensor]:
    r"""The row of the input that every packed row reads, every sequence
    reversed if :obj:`reverse`."""
    if not reverse:
        return src
    rev = layout.reverse_perm
    return rev if src is None else src.index_select(0, rev)


def _states_shape(num_rows: int, hidden: int, kernel: str) -> List[int]:
    return [num_rows + KERNELS[kernel].extra_state_rows, hidden]


def _forward(x: Tensor, src: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
             b_ih: Optional[Tensor], b_hh: Optional[Tensor], perm: Tensor,
             node_perm: Tensor, degree: Tensor, sequence: bool,
             reverse: bool, save: bool, kernel: str,
             ) -> Tuple[Tensor, Tensor]:
    r"""One direction of one GRU layer over the layout :obj:`(perm,
    node_perm, degree)`: packed row :obj:`p` reads :obj:`x[src[p]]`
    (:obj:`x[p]` if :obj:`src` is :obj:`None`), every sequence reversed if
    :obj:`reverse`. Returns :obj:`(out, states)` (see the module)."""
    layout = lookup(perm, node_perm, degree)
    hidden = w_hh.size(1)
    if layout.num_packed == 0:
        out = x.new_zeros(0 if sequence else layout.num_nodes, hidden)
        states = x.new_empty(_states_shape(0, hidden, kernel) if save else
                             [0, hidden])
        return out, states
    rows = _rows(src, layout, reverse)
    out, states = KERNELS[kernel].forward(x, rows, w_ih, w_hh, b_ih, b_hh,
                                          layout, sequence, save=save)
    if states is None:
        states = x.new_empty(0, hidden)
    if sequence:
        if reverse:
            out = out.index_select(0, layout.reverse_perm)
        elif save and (out.untyped_storage().data_ptr() ==
                       states.untyped_storage().data_ptr()):
            out = out.clone()  # A view of the states: outputs never alias.
    else:
        out = layout.unpack_final(out)
    return out, states


gru_layer = torch.library.custom_op('torch_geometric_gru::gru_layer',
                                    _forward, mutates_args=())


@gru_layer.register_fake
def _(x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree, sequence,
      reverse, save, kernel):
    _check_inputs(x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree,
                  kernel)
    hidden = w_hh.size(1)
    rows = perm.numel()
    out = x.new_empty(rows if sequence else node_perm.numel(), hidden)
    if save:
        dtype = KERNELS[kernel].state_dtype or x.dtype
        states = x.new_empty(_states_shape(rows, hidden, kernel),
                             dtype=dtype)
    else:
        states = x.new_empty(0, hidden)
    return out, states


def _check_inputs(x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree,
                  kernel) -> None:
    hidden = w_hh.size(1)
    torch._check(kernel in OP_KERNELS,
                 lambda: f"'kernel' must be one of {OP_KERNELS}")
    torch._check(x.dim() == 2, lambda: "'x' must be 2-D")
    torch._check(w_ih.shape == (3 * hidden, x.size(1)),
                 lambda: f"'w_ih' must be [3H, F] = [{3 * hidden}, "
                 f"{x.size(1)}] (got {tuple(w_ih.shape)})")
    torch._check(w_hh.shape == (3 * hidden, hidden),
                 lambda: "'w_hh' must be [3H, H]")
    for name, b in (('b_ih', b_ih), ('b_hh', b_hh)):
        if b is not None:
            torch._check(b.shape == (3 * hidden, ),
                         lambda: f"'{name}' must be [3H]")
    torch._check(node_perm.shape == degree.shape,
                 lambda: "'node_perm' and 'degree' must be [N]")
    if src is not None:
        torch._check(src.shape == perm.shape,
                     lambda: "'src' needs one row per packed row")
    else:
        torch._check(x.size(0) == perm.numel(),
                     lambda: "without 'src', 'x' has one row per packed row")
    for t in (w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree, src):
        if t is not None:
            torch._check(t.device == x.device,
                         lambda: "every input must be on x's device")


def _backward_impl(grad_out: Tensor, x: Tensor, src: Optional[Tensor],
                   w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor],
                   b_hh: Optional[Tensor], states: Tensor, perm: Tensor,
                   node_perm: Tensor, degree: Tensor, sequence: bool,
                   reverse: bool, kernel: str, needs: List[bool],
                   ) -> List[Tensor]:
    r"""The gradients of :obj:`[x, w_ih, w_hh, b_ih, b_hh]`; an empty
    tensor where :obj:`needs` is :obj:`False` or the input is
    :obj:`None`."""
    layout = lookup(perm, node_perm, degree)
    params = (w_ih, w_hh, b_ih, b_hh)
    if layout.num_packed == 0:
        grads = [torch.zeros_like(t) if t is not None else None
                 for t in (x, ) + params]
    else:
        if states.numel() == 0:  # Checkpointed: rebuild the states.
            _, states = _forward(x, src, w_ih, w_hh, b_ih, b_hh, perm,
                                 node_perm, degree, sequence, reverse, True,
                                 kernel)
        rows = _rows(src, layout, reverse)
        if sequence:
            if reverse:
                grad_out = grad_out.index_select(0, layout.reverse_perm)
        else:
            grad_out = grad_out.index_select(0, layout.nodes)
        grads = KERNELS[kernel].backward(grad_out, x, rows, *params, states,
                                         layout, sequence, tuple(needs))
    return [g if g is not None and need else x.new_empty(0)
            for g, need in zip(grads, needs)]


gru_layer_backward = torch.library.custom_op(
    'torch_geometric_gru::gru_layer_backward', _backward_impl,
    mutates_args=())


@gru_layer_backward.register_fake
def _(grad_out, x, src, w_ih, w_hh, b_ih, b_hh, states, perm, node_perm,
      degree, sequence, reverse, kernel, needs):
    return [torch.empty_like(t) if t is not None and need else
            x.new_empty(0) for t, need in zip((x, w_ih, w_hh, b_ih, b_hh),
                                              needs)]


# Autograd ###############################################################

def _setup_context(ctx, inputs, output) -> None:
    (x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree, sequence,
     reverse, save, kernel) = inputs
    _, states = output
    ctx.sequence, ctx.reverse, ctx.kernel = sequence, reverse, kernel
    ctx.device_type = x.device.type
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm,
                          degree, states)


def _backward(ctx, grad_out: Optional[Tensor], _, backward_fn=None):
    # The forward ran in the weights' dtype with autocast off; so does the
    # backward, also when .backward() is called inside torch.autocast.
    with torch.autocast(ctx.device_type, enabled=False):
        return _backward_body(ctx, grad_out, backward_fn)


def _backward_body(ctx, grad_out: Optional[Tensor], backward_fn=None):
    (x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree,
     states) = ctx.saved_tensors
    needs = list(ctx.needs_input_grad[:6])
    del needs[1]  # src
    none = (None, ) * 8
    if grad_out is None or not any(needs):
        return (None, ) * 6 + none[:7]
    if torch.is_grad_enabled():  # create_graph: differentiable gradients.
        layout = lookup(perm, node_perm, degree)
        rows = _rows(src, layout, ctx.reverse)
        go = grad_out
        if ctx.sequence and ctx.reverse:
            go = go.index_select(0, layout.reverse_perm)
        elif not ctx.sequence:
            go = go.index_select(0, layout.nodes)
        grads = naive.double_backward(go, (x, w_ih, w_hh, b_ih, b_hh), needs,
                                      rows, layout, ctx.sequence)
    else:
        backward_fn = backward_fn or gru_layer_backward
        grads = backward_fn(grad_out, x, src, w_ih, w_hh, b_ih, b_hh, states,
                            perm, node_perm, degree, ctx.sequence,
                            ctx.reverse, ctx.kernel, needs)
        grads = [g if need else None for g, need in zip(grads, needs)]
    g_x, g_w_ih, g_w_hh, g_b_ih, g_b_hh = grads
    return (g_x, None, g_w_ih, g_w_hh, g_b_ih, g_b_hh) + none[:7]


gru_layer.register_autograd(_backward, setup_context=_setup_context)


class _FunctorchGRULayer(torch.autograd.Function):
    r"""The operator's forward and backward as an autograd Function with
    :meth:`setup_context`: the path under :mod:`torch.func` transforms
    (:func:`torch.func.grad`, ...), which custom operators with a
    registered autograd formula do not support."""
    @staticmethod
    def forward(*args):
        return _forward(*args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])
        _setup_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx, grad_out, grad_states):
        return _backward(ctx, grad_out, grad_states,
                         backward_fn=_backward_impl)


def run_gru_layer(x: Tensor, src: Optional[Tensor], w_ih: Tensor,
                  w_hh: Tensor, b_ih: Optional[Tensor], b_hh: Optional[Tensor],
                  perm: Tensor, node_perm: Tensor, degree: Tensor,
                  sequence: bool, reverse: bool, save: bool, kernel: str,
                  ) -> Tuple[Tensor, Tensor]:
    r"""Calls :obj:`torch.ops.torch_geometric_gru.gru_layer` (the same
    arguments), or, under :mod:`torch.func` transforms, the same
    computation as an autograd Function."""
    args = (x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree,
            sequence, reverse, save, kernel)
    if torch._C._are_functorch_transforms_active():
        return _FunctorchGRULayer.apply(*args)
    return gru_layer(*args)
