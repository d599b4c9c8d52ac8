r"""One GRU layer over packed rows in plain PyTorch operations: any device,
any dtype, differentiable to any order, one Python step per step of the
longest sequence.

It is the kernels' path for higher-order gradients: their hand-written
backward computes first-order gradients fast, and when the backward itself
must be differentiated (:obj:`create_graph=True`: gradient penalties,
Hessian-vector products, :func:`torch.autograd.gradgradcheck`), they
differentiate this layer instead (:func:`double_backward`). It is also the
plain reference of the kernels' contract.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout


def gru_layer(x: Tensor, src: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Optional[Tensor], b_hh: Optional[Tensor],
              layout: PackedLayout, sequence: bool) -> Tensor:
    r"""One direction of one GRU layer over the packed rows of
    :obj:`layout`, with the contract of
    :class:`torch_geometric_gru.ops.gru.cpu.GRULayer`: packed row :obj:`p`
    reads :obj:`x[src[p]]` (:obj:`x[p]` if :obj:`src` is :obj:`None`), the
    initial state is zero, and the result is the state after every packed
    row (:obj:`sequence=True`) or the final state of every sequence, in
    packed order."""
    hidden = w_hh.size(1)
    gi = F.linear(x, w_ih, b_ih)
    if src is not None:
        gi = gi.index_select(0, src)
    sizes, offsets = layout.batch_sizes_list, layout.offsets
    h = gi.new_zeros(sizes[0] if sizes else 0, hidden)
    states: List[Tensor] = []
    finished: List[Tensor] = []  # Final states, by descending rank.
    for t, size in enumerate(sizes):
        g = gi[offsets[t]:offsets[t] + size]
        h_prev = h[:size]
        gh = F.linear(h_prev, w_hh, b_hh)
        r = torch.sigmoid(g[:, :hidden] + gh[:, :hidden])
        z = torch.sigmoid(g[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
        n = torch.tanh(g[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
        h = n + z * (h_prev - n)
        states.append(h)
        end = sizes[t + 1] if t + 1 < len(sizes) else 0
        finished.append(h[end:size])
    if sequence:
        return torch.cat(states) if states else gi.new_zeros(0, hidden)
    return (torch.cat(finished[::-1]) if finished else
            gi.new_zeros(0, hidden))


def double_backward(grad_out: Tensor, inputs: Sequence[Optional[Tensor]],
                    needs: Sequence[bool], src: Optional[Tensor],
                    layout: PackedLayout, sequence: bool,
                    ) -> Tuple[Optional[Tensor], ...]:
    r"""The gradients of a kernel's layer with respect to
    :obj:`inputs = (x, w_ih, w_hh, b_ih, b_hh)` (those with :obj:`needs`),
    as differentiable functions of the inputs and of :obj:`grad_out`:
    :func:`gru_layer` is recomputed and differentiated with
    :obj:`create_graph=True`."""
    out = gru_layer(inputs[0], src, *inputs[1:], layout, sequence)
    if not out.requires_grad:  # No packed rows (a graph without edges).
        return tuple(torch.zeros_like(t) if need and t is not None else None
                     for t, need in zip(inputs, needs))
    wanted = [t for t, need in zip(inputs, needs) if need and t is not None]
    grads = iter(torch.autograd.grad(out, wanted, grad_out,
                                     create_graph=True, allow_unused=True))
    return tuple(
        next(grads) if need and t is not None else None
        for t, need in zip(inputs, needs))
