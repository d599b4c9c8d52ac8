r"""The :obj:`torch_geometric_gru::mingru_scan` operator and its backward:
the segmented affine scan of the minGRU cell, registered with
:mod:`torch.library` (schema, fake, autograd) so that
:func:`torch.compile` and :func:`torch.export` see one opaque call.

* :obj:`mingru_scan(gates, rows, ptr, kernel) -> out`: :obj:`gates` is
  :obj:`[R, 2H] = [pre_z | candidate]` per row (per node when the input
  projection is hoisted, or per element); segment :obj:`s` reads the rows
  :obj:`rows[ptr[s]:ptr[s + 1]]` in order and runs :math:`h \leftarrow h +
  \sigma(\mathrm{pre\_z}) \odot (\mathrm{candidate} - h)` from :math:`h =
  0`; :obj:`out[s]` is its final state (zeros for empty segments),
  :obj:`[len(ptr) - 1, H]`.
* :obj:`mingru_scan_backward(grad_out, gates, rows, ptr, kernel) ->
  grad_gates`: the gradient of :obj:`gates`.

The backward saves only :obj:`gates`, :obj:`rows` and :obj:`ptr` (inputs
that exist anyway): the kernels recompute the states they need.
Gradients of gradients (:obj:`create_graph=True`) differentiate the
plain-PyTorch reference instead.
"""
import torch
from torch import Tensor

from torch_geometric_gru.ops.mingru import reference, registry


def _check_inputs(gates: Tensor, rows: Tensor, ptr: Tensor,
                  kernel: str) -> None:
    torch._check(kernel in registry.NAMES,
                 lambda: f"'kernel' must be one of {registry.NAMES}")
    torch._check(gates.dim() == 2 and gates.size(1) % 2 == 0,
                 lambda: "'gates' must be [R, 2H] ([pre_z | candidate])")
    torch._check(gates.is_floating_point(),
                 lambda: "'gates' must be a floating-point tensor")
    torch._check(rows.dim() == 1 and rows.dtype == torch.long,
                 lambda: "'rows' must be a 1-D int64 tensor")
    torch._check(ptr.dim() == 1 and ptr.dtype == torch.long
                 and ptr.numel() >= 1,
                 lambda: "'ptr' must be a non-empty 1-D int64 tensor")
    for name, t in (('rows', rows), ('ptr', ptr)):
        torch._check(t.device == gates.device,
                     lambda: f"'{name}' must be on the device of 'gates'")


def _scan(gates: Tensor, rows: Tensor, ptr: Tensor,
          kernel: str = 'auto') -> Tensor:
    _check_inputs(gates, rows, ptr, kernel)
    return registry.pick(kernel, gates).scan(gates, rows, ptr)


mingru_scan = torch.library.custom_op('torch_geometric_gru::mingru_scan',
                                      _scan, mutates_args=())


@mingru_scan.register_fake
def _(gates, rows, ptr, kernel='auto'):
    _check_inputs(gates, rows, ptr, kernel)
    return gates.new_empty(ptr.size(0) - 1, gates.size(1) // 2)


def _scan_backward(grad_out: Tensor, gates: Tensor, rows: Tensor,
                   ptr: Tensor, kernel: str = 'auto') -> Tensor:
    _check_inputs(gates, rows, ptr, kernel)
    return registry.pick(kernel, gates).scan_backward(grad_out, gates, rows,
                                                      ptr)


mingru_scan_backward = torch.library.custom_op(
    'torch_geometric_gru::mingru_scan_backward', _scan_backward,
    mutates_args=())


@mingru_scan_backward.register_fake
def _(grad_out, gates, rows, ptr, kernel='auto'):
    _check_inputs(gates, rows, ptr, kernel)
    torch._check(grad_out.shape == (ptr.size(0) - 1, gates.size(1) // 2),
                 lambda: "'grad_out' must be [len(ptr) - 1, H]")
    return torch.empty_like(gates)


def _setup_context(ctx, inputs, output) -> None:
    gates, rows, ptr, kernel = inputs
    ctx.kernel = kernel
    ctx.set_materialize_grads(False)
    if ctx.needs_input_grad[0]:
        ctx.save_for_backward(gates, rows, ptr)


def _backward(ctx, grad_out):
    if grad_out is None or not ctx.needs_input_grad[0]:
        return None, None, None, None
    gates, rows, ptr = ctx.saved_tensors
    if torch.is_grad_enabled():  # create_graph: differentiable gradients.
        out = reference.scan(gates, rows, ptr)
        grad, = torch.autograd.grad(out, gates, grad_out, create_graph=True)
    else:
        grad = mingru_scan_backward(grad_out.contiguous(), gates, rows, ptr,
                                    ctx.kernel)
    return grad, None, None, None


mingru_scan.register_autograd(_backward, setup_context=_setup_context)
