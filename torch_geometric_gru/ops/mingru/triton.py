r"""The segmented minGRU scan in Triton (CUDA; CPU under Triton's
interpreter for the tests).

Every segment is cut into chunks of :obj:`CHUNK` consecutive elements, so
that a hub's degree does not set the latency: the chunks of all segments
are scanned in parallel and only the short per-chunk summaries are
combined sequentially. Each step is the affine map
:math:`h \mapsto a \odot h + b` with :math:`a = 1 - z`, :math:`b = z \odot
\tilde{h}`, and a chunk is their composition :math:`(A, B)`.

Forward, two launches:

* :func:`_chunk_kernel`: one program owns :obj:`BLOCK_C` chunks and
  :obj:`BLOCK_H` channels; it loops over the chunk's :obj:`CHUNK` steps
  (all its chunks in lock step, masked), reading each element's gate row
  :obj:`GATES[ROWS[e]]` (the sigmoid and the gather are fused), and writes
  the chunk's :math:`(A, B)`;
* :func:`_combine_kernel`: one program owns :obj:`BLOCK_S` segments and
  :obj:`BLOCK_H` channels and composes their chunks in order; with
  :obj:`BACKWARD`, it also writes the state entering every chunk and the
  gradient of the state leaving it (the reverse composition).

Backward, after those two: :func:`_chunk_backward_kernel` (the tile of
:func:`_chunk_kernel`) runs each chunk forward from its entering state,
keeping the states in a transient fp32 buffer (one row per element), then
backward, writing one gradient row per element; the rows are summed into
the gate rows they read by :func:`torch.Tensor.index_add_`. Accumulation
in fp32 whatever the gates' dtype.
"""
from typing import Tuple

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover
    triton = None

from torch_geometric_gru.ops.gru import triton as gru_triton

CHUNK = 64  # Elements per chunk.
BLOCK_C = 16  # Chunks per program.
BLOCK_S = 16  # Segments per program.


def is_available(device: torch.device) -> bool:
    r"""Whether the kernels can run on :obj:`device` (as the GRU's)."""
    return gru_triton.is_available(device)


if triton is not None:
    @triton.jit
    def _sigmoid(x):
        return 1.0 / (1.0 + tl.exp(-x))

    @triton.jit
    def _load_step(GATES, stride, ROWS, e, active, col, H):
        r"""The gate and the candidate of elements :obj:`e`, fp32."""
        row = tl.load(ROWS + e, mask=active, other=0)
        mask = active[:, None] & (col < H)[None, :]
        ptr = GATES + row[:, None] * stride + col[None, :]
        z = _sigmoid(tl.load(ptr, mask=mask, other=0.).to(tl.float32))
        c = tl.load(ptr + H, mask=mask, other=0.).to(tl.float32)
        return z, c, mask

    @triton.jit
    def _chunk_kernel(GATES, stride, ROWS, CSTART, CEND, A, B, num_chunks, H,
                      CHUNK: tl.constexpr, BLOCK_C: tl.constexpr,
                      BLOCK_H: tl.constexpr):
        chunk = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
        col = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
        valid = chunk < num_chunks
        start = tl.load(CSTART + chunk, mask=valid, other=0)
        end = tl.load(CEND + chunk, mask=valid, other=0)
        a = tl.full((BLOCK_C, BLOCK_H), 1.0, tl.float32)
        b = tl.zeros((BLOCK_C, BLOCK_H), tl.float32)
        for t in range(0, CHUNK):
            e = start + t
            active = e < end
            z, c, mask = _load_step(GATES, stride, ROWS, e, active, col, H)
            # Inactive lanes load z = 1/2, c = 0: keep them out.
            z = tl.where(mask, z, 0.)
            b = b + z * (c - b)
            a = a * (1.0 - z)
        out = chunk[:, None] * H + col[None, :]
        mask = valid[:, None] & (col < H)[None, :]
        tl.store(A + out, a, mask=mask)
        tl.store(B + out, b, mask=mask)

    @triton.jit
    def _combine_kernel(CPTR, A, B, OUT, HSTART, DH, GRAD_OUT, num_seg, H,
                        BACKWARD: tl.constexpr, BLOCK_S: tl.constexpr,
                        BLOCK_H: tl.constexpr):
        seg = tl.program_id(0) * BLOCK_S + tl.arange(0, BLOCK_S)
        col = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
        valid = seg < num_seg
        lo = tl.load(CPTR + seg, mask=valid, other=0)
        hi = tl.load(CPTR + seg + 1, mask=valid, other=0)
        n = hi - lo
        cmask = (col < H)[None, :]
        h = tl.zeros((BLOCK_S, BLOCK_H), tl.float32)
        for k in range(0, tl.max(n, axis=0)):
            active = (k < n)[:, None] & cmask
            at = (lo + k)[:, None] * H + col[None, :]
            if BACKWARD:
                tl.store(HSTART + at, h, mask=active)
            a = tl.load(A + at, mask=active, other=1.)
            b = tl.load(B + at, mask=active, other=0.)
            h = a * h + b
        out = seg[:, None] * H + col[None, :]
        mask = valid[:, None] & cmask
        if BACKWARD:
            d = tl.load(GRAD_OUT + out, mask=mask, other=0.).to(tl.float32)
            for k in range(0, tl.max(n, axis=0)):
                j = n - 1 - k
                active = (j >= 0)[:, None] & cmask
                at = (lo + j)[:, None] * H + col[None, :]
                tl.store(DH + at, d, mask=active)
                a = tl.load(A + at, mask=active, other=1.)
                d = d * a
        else:
            tl.store(OUT + out, h, mask=mask)

    @triton.jit
    def _chunk_backward_kernel(GATES, stride, ROWS, CSTART, CEND, HSTART, DH,
                               HBUF, GRAD, num_chunks, H,
                               CHUNK: tl.constexpr, BLOCK_C: tl.constexpr,
                               BLOCK_H: tl.constexpr):
        chunk = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
        col = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
        valid = chunk < num_chunks
        start = tl.load(CSTART + chunk, mask=valid, other=0)
        end = tl.load(CEND + chunk, mask=valid, other=0)
        at = chunk[:, None] * H + col[None, :]
        cmask = valid[:, None] & (col < H)[None, :]
        h = tl.load(HSTART + at, mask=cmask, other=0.)
        d = tl.load(DH + at, mask=cmask, other=0.)
        for t in range(0, CHUNK):  # The states entering every step.
            e = start + t
            z, c, mask = _load_step(GATES, stride, ROWS, e, e < end, col, H)
            tl.store(HBUF + e[:, None] * H + col[None, :], h, mask=mask)
            h = h + z * (c - h)
        for t in range(0, CHUNK):
            e = start + CHUNK - 1 - t
            z, c, mask = _load_step(GATES, stride, ROWS, e, e < end, col, H)
            hp = tl.load(HBUF + e[:, None] * H + col[None, :], mask=mask,
                         other=0.)
            g = GRAD + e[:, None] * (2 * H) + col[None, :]
            tl.store(g, d * (c - hp) * z * (1.0 - z), mask=mask)
            tl.store(g + H, d * z, mask=mask)
            d = tl.where(mask, d * (1.0 - z), d)


def _chunks(ptr: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The chunks of every segment: their first and end elements, and
    the first chunk of every segment (a pointer vector)."""
    lengths = ptr.diff()
    per_segment = torch.div(lengths + CHUNK - 1, CHUNK, rounding_mode='floor')
    cptr = torch.zeros_like(ptr)
    torch.cumsum(per_segment, 0, out=cptr[1:])
    num_chunks = int(cptr[-1])  # The one transfer to the host.
    seg = torch.repeat_interleave(
        torch.arange(lengths.numel(), device=ptr.device), per_segment,
        output_size=num_chunks)
    start = ptr[seg] + (torch.arange(num_chunks, device=ptr.device) -
                        cptr[seg]) * CHUNK
    end = torch.minimum(start + CHUNK, ptr[seg + 1])
    return start, end, cptr


def _block_h(hidden: int) -> int:
    return min(triton.next_power_of_2(hidden), 64)


def _summaries(gates: Tensor, rows: Tensor, ptr: Tensor):
    hidden = gates.size(1) // 2
    start, end, cptr = _chunks(ptr)
    num_chunks = start.numel()
    a = gates.new_empty(num_chunks, hidden, dtype=torch.float32)
    b = torch.empty_like(a)
    block_h = _block_h(hidden)
    grid = (triton.cdiv(num_chunks, BLOCK_C), triton.cdiv(hidden, block_h))
    if num_chunks > 0:
        _chunk_kernel[grid](gates, gates.stride(0), rows, start, end, a, b,
                            num_chunks, hidden, CHUNK=CHUNK, BLOCK_C=BLOCK_C,
                            BLOCK_H=block_h)
    return start, end, cptr, a, b


def scan(gates: Tensor, rows: Tensor, ptr: Tensor) -> Tensor:
    gates, rows, ptr = gates.contiguous(), rows.contiguous(), ptr.contiguous()
    hidden = gates.size(1) // 2
    num_seg = ptr.numel() - 1
    _, _, cptr, a, b = _summaries(gates, rows, ptr)
    out = gates.new_empty(num_seg, hidden, dtype=torch.float32)
    block_h = _block_h(hidden)
    grid = (triton.cdiv(num_seg, BLOCK_S), triton.cdiv(hidden, block_h))
    if num_seg > 0:
        _combine_kernel[grid](cptr, a, b, out, out, out, out, num_seg, hidden,
                              BACKWARD=False, BLOCK_S=BLOCK_S,
                              BLOCK_H=block_h)
    return out.to(gates.dtype)


def scan_backward(grad_out: Tensor, gates: Tensor, rows: Tensor,
                  ptr: Tensor) -> Tensor:
    gates, rows, ptr = gates.contiguous(), rows.contiguous(), ptr.contiguous()
    grad_out = grad_out.contiguous()
    hidden = gates.size(1) // 2
    num_seg = ptr.numel() - 1
    start, end, cptr, a, b = _summaries(gates, rows, ptr)
    num_chunks = start.numel()
    grad = torch.zeros(gates.shape, dtype=torch.float32, device=gates.device)
    if num_chunks == 0:
        return grad.to(gates.dtype)
    h_start, dh = torch.empty_like(a), torch.empty_like(a)
    block_h = _block_h(hidden)
    grid = (triton.cdiv(num_seg, BLOCK_S), triton.cdiv(hidden, block_h))
    _combine_kernel[grid](cptr, a, b, a, h_start, dh, grad_out, num_seg,
                          hidden, BACKWARD=True, BLOCK_S=BLOCK_S,
                          BLOCK_H=block_h)
    del a, b
    h_buf = gates.new_empty(rows.numel(), hidden, dtype=torch.float32)
    per_element = gates.new_empty(rows.numel(), 2 * hidden,
                                  dtype=torch.float32)
    grid = (triton.cdiv(num_chunks, BLOCK_C), triton.cdiv(hidden, block_h))
    _chunk_backward_kernel[grid](gates, gates.stride(0), rows, start, end,
                                 h_start, dh, h_buf, per_element, num_chunks,
                                 hidden, CHUNK=CHUNK, BLOCK_C=BLOCK_C,
                                 BLOCK_H=block_h)
    del h_buf
    return grad.index_add_(0, rows, per_element).to(gates.dtype)
