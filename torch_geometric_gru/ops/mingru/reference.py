r"""The plain-PyTorch segmented minGRU scan: the reference that the fused
kernels are tested against, their fallback where none applies, and the
differentiable path of gradients of gradients.

Segment :obj:`s` reads the rows :obj:`rows[ptr[s]:ptr[s + 1]]` of
:obj:`gates = [pre_z | candidate]`, in order; the segments are packed
(longest first, :class:`~torch_geometric_gru.PackedLayout`) and
reduced by the pairwise tree of
:obj:`ops.mingru.naive.affine_reduce`.
"""
import torch
from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.ops.mingru.naive import affine_reduce


def scan(gates: Tensor, rows: Tensor, ptr: Tensor) -> Tensor:
    r"""The final state of every segment, :obj:`[len(ptr) - 1, H]`
    (zeros for empty segments); differentiable in :obj:`gates`."""
    hidden = gates.size(1) // 2
    if rows.numel() == 0:
        return gates.new_zeros(ptr.numel() - 1, hidden)
    layout = PackedLayout.from_ptr(ptr, rows.numel())
    z = torch.sigmoid(gates[:, :hidden])
    src = rows.index_select(0, layout.perm)
    final = affine_reduce(1 - z, z * gates[:, hidden:], layout, src)
    return layout.unpack_final(final)


def scan_backward(grad_out: Tensor, gates: Tensor, rows: Tensor,
                  ptr: Tensor) -> Tensor:
    r"""The gradient of :func:`scan` with respect to :obj:`gates`: the
    reverse scan, one vectorised step at a time over the packed segments
    (plain tensor operations, no autograd: it runs inside the backward
    operator, below PyTorch's autograd)."""
    hidden = gates.size(1) // 2
    grad = torch.zeros_like(gates)
    if rows.numel() == 0:
        return grad
    layout = PackedLayout.from_ptr(ptr, rows.numel())
    src = rows.index_select(0, layout.perm)
    offsets, sizes = layout.offsets, layout.batch_sizes_list

    def step(t):
        g = gates.index_select(0, src[offsets[t]:offsets[t] + sizes[t]])
        return torch.sigmoid(g[:, :hidden]), g[:, hidden:]

    h = gates.new_zeros(sizes[0], hidden)
    entering = []  # The state entering every step.
    for t in range(len(sizes)):
        z, c = step(t)
        entering.append(h[:sizes[t]])
        h = torch.cat([h[:sizes[t]] + z * (c - h[:sizes[t]]), h[sizes[t]:]])
    dh = grad_out.index_select(0, layout.nodes).to(gates.dtype)
    per_row = gates.new_empty(layout.num_packed, 2 * hidden)
    for t in range(len(sizes) - 1, -1, -1):
        z, c = step(t)
        d = dh[:sizes[t]]
        rows_t = slice(offsets[t], offsets[t] + sizes[t])
        per_row[rows_t, :hidden] = d * (c - entering[t]) * z * (1 - z)
        per_row[rows_t, hidden:] = d * z
        dh = torch.cat([d * (1 - z), dh[sizes[t]:]])
    return grad.index_add_(0, src, per_row)
