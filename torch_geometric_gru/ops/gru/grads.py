r"""What the CPU and Triton backwards share: the gradients that flow
through the input projection :obj:`x[src] W_ih^T + b_ih`, accumulated
chunk by chunk from the input gates' gradient of packed rows."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def hoisted(x: Tensor, src: Optional[Tensor]) -> bool:
    r"""Whether the packed rows read the projections of the rows of
    :obj:`x` through :obj:`src` (fewer rows than reads: node features read
    by every out-edge, projected once per node); otherwise the
    projections of the packed rows themselves, chunk by chunk."""
    return src is not None and x.size(0) < src.numel()


class InputGrads:
    r"""Accumulates the gradients of :obj:`x`, :obj:`w_ih` and :obj:`b_ih`
    (those asked for) in :obj:`dtype` (default: :obj:`x`'s). Hoisted
    (:func:`hoisted`), the input-gate gradients are summed per row of
    :obj:`x` and turned into the three gradients by GEMMs at the end."""
    def __init__(self, x: Tensor, src: Optional[Tensor], w_ih: Tensor,
                 need_x: bool, need_w: bool,
                 dtype: Optional[torch.dtype] = None):
        self.x, self.src, self.need_x, self.need_w = x, src, need_x, need_w
        self.dtype = dtype or x.dtype
        self.w_ih = w_ih.to(self.dtype)
        self.hoisted = hoisted(x, src)
        new = lambda *size: torch.zeros(  # noqa: E731
            size, dtype=self.dtype, device=x.device)
        if self.hoisted:
            self.per_x = new(x.size(0), w_ih.size(0))
            return
        self.grad_x = new(*x.shape) if need_x else None
        self.grad_w_ih = new(*w_ih.shape) if need_w else None
        self.grad_b_ih = new(w_ih.size(0))

    def add(self, rows: slice, grad: Tensor,
            xs: Optional[Tensor] = None) -> None:
        r"""Adds the input-gate gradient :obj:`grad` of the packed rows
        :obj:`rows`, whose inputs :obj:`xs` (gathered here if not given)
        are rows of :obj:`x`."""
        src = self.src
        if self.hoisted:
            self.per_x.index_add_(0, src[rows], grad)
            return
        if self.grad_w_ih is not None:
            if xs is None:
                xs = (self.x[rows] if src is None else
                      self.x.index_select(0, src[rows]))
            self.grad_w_ih.addmm_(grad.t(), xs.to(self.dtype))
        self.grad_b_ih += grad.sum(0)
        if self.grad_x is not None:
            if src is None:
                torch.mm(grad, self.w_ih, out=self.grad_x[rows])
            else:
                self.grad_x.index_add_(0, src[rows], grad.mm(self.w_ih))

    def result(self) -> Tuple[Optional[Tensor], Optional[Tensor], Tensor]:
        r"""The gradients of :obj:`x`, :obj:`w_ih` and :obj:`b_ih`, in
        :obj:`dtype` (:obj:`None` where not asked for)."""
        if self.hoisted:
            per_x = self.per_x
            return (per_x.mm(self.w_ih) if self.need_x else None,
                    per_x.t().mm(self.x.to(self.dtype))
                    if self.need_w else None, per_x.sum(0))
        return self.grad_x, self.grad_w_ih, self.grad_b_ih
