r"""One GRU layer over packed rows as Triton kernels (the CUDA path), with
the contract of :mod:`torch_geometric_gru.kernels.cpu`: the same inputs (rows
read through a row index), the same outputs, a hand-written backward.

Tile shape. Sequences are ranked by length, longest first
(:class:`~torch_geometric_gru.PackedLayout`). One program owns a tile of
:obj:`BLOCK_B = 16` consecutive ranks, holds their states as a
:obj:`[16, H]` block, and loops over the steps of its longest sequence; at
step :obj:`t` its rank :obj:`k` reads packed row :obj:`offsets[t] + k` if
:obj:`t < length[k]` and keeps its state otherwise. Tiles never wait for
each other: the sequential depth is the hub's degree, not a global step
count, and no kernel is launched per step.

Per step, a program computes :math:`W_{hh} h` with three :func:`tl.dot` of
:obj:`[16, H] x [H, H]`, and reads the input projection
:math:`W_{ih} x + b_{ih}` (one GEMM over the rows of :obj:`x` beforehand)
through the row index, so node features read by every out-edge are
projected once per node. Loads of the next step are issued before the
current step's math. Two variants:

* *resident* (:obj:`H <= 64`): :math:`W_{hh}` and the state stay in
  registers for the whole loop;
* *streamed* (larger :obj:`H`): the state lives in a two-slot buffer in
  global memory (L1/L2) and :math:`W_{hh}` is read in column blocks of
  :obj:`BLOCK_H` at every step, so any :obj:`H` fits; a barrier separates
  the steps.

The backward runs the same tiles in reverse: the :math:`dh` chain (one
:obj:`[16, 3H] x [3H, H]` product per step) and the gate gradients of
every row; the weight gradients and the input gradient are then single
GEMMs over all packed rows, as in the CPU kernel.

Precision: the state and every accumulation are fp32 whatever the input
dtype. The dot products follow PyTorch's fp32 matmul switch
(:func:`torch.get_float32_matmul_precision`): at :obj:`"highest"` (the
default) they are fp32-accurate (:obj:`"tf32x3"` on GPUs with TF32 tensor
cores: three TF32 products per fp32 product; IEEE fp32 elsewhere); TF32
only when the user allows it (:obj:`"high"`/:obj:`"medium"`, or
:obj:`torch.backends.cuda.matmul.allow_tf32 = True`).

The kernels run on CPU tensors under Triton's interpreter
(:obj:`TRITON_INTERPRET=1`, set before :mod:`triton` is imported), which
is how the test suite checks them without a GPU against the per-node
:class:`torch.nn.GRU` reference and the CPU kernel.
"""
import os
from functools import lru_cache
from typing import Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru.kernels import naive
from torch_geometric_gru.packing import PackedLayout

try:
    import triton
    import triton.language as tl
    TRITON_VERSION = tuple(int(v) for v in triton.__version__.split('.')[:2])
    if TRITON_VERSION < (3, 0):  # pragma: no cover (`input_precision`)
        triton = None
except ImportError:  # pragma: no cover (triton ships with CUDA builds)
    triton = None
    TRITON_VERSION = (0, 0)

BLOCK_B = 16  # Sequences per program (the smallest M of tl.dot).
RESIDENT_MAX_H = 64  # Largest padded H whose W_hh stays in registers.
BLOCK_H = 32  # Column (and reduction) block of the streamed variant.
PRECISIONS = ('ieee', 'tf32x3', 'tf32')


def interpreting() -> bool:
    r"""Whether Triton kernels run in Triton's CPU interpreter."""
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


def is_available(device: torch.device) -> bool:
    r"""Whether the Triton kernels can run on :obj:`device`: on CUDA when
    :mod:`triton` (3.0 or newer) imports, on CPU under its interpreter
    (:obj:`TRITON_INTERPRET=1`, triton 3.7 or newer)."""
    if triton is None:
        return False
    if device.type == 'cuda':
        return not interpreting()
    # Older interpreters cannot loop over a loaded bound under NumPy 2:
    return (device.type == 'cpu' and interpreting()
            and TRITON_VERSION >= (3, 7))


@lru_cache(maxsize=None)
def _has_tf32(device_index: int) -> bool:
    return torch.cuda.get_device_capability(device_index) >= (8, 0)


def dot_precision(device: torch.device) -> str:
    r"""The :obj:`input_precision` of the kernels' fp32 dot products on
    :obj:`device`, from PyTorch's fp32 matmul switch: TF32 where the user
    allowed it, fp32-accurate otherwise."""
    if device.type != 'cuda':
        return 'ieee'  # The interpreter computes in fp32 anyway.
    if not _has_tf32(device.index or 0):
        return 'ieee'
    if torch.get_float32_matmul_precision() != 'highest':
        return 'tf32'
    return 'tf32x3'


def _pad(hidden: int) -> int:
    return max(16, triton.next_power_of_2(hidden))


if triton is not None:

    @triton.jit
    def _sigmoid(x):
        return 1.0 / (1.0 + tl.exp(-x))

    @triton.jit
    def _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h):
        r"""The gate math of one step: returns :obj:`(r, z, n, h')`."""
        r = _sigmoid(gi_r + gh_r)
        z = _sigmoid(gi_z + gh_z)
        n = 2.0 * _sigmoid(2.0 * (gi_n + r * gh_n)) - 1.0  # tanh
        return r, z, n, n + z * (h - n)

    @triton.jit
    def _cell_backward(dh, r, z, n, gh_n, h_prev):
        r"""Returns :obj:`(d pre-r, d pre-z, d(W_hn h + b_hn), d pre-n)`
        for the state gradient :obj:`dh` of one step."""
        d_pre_n = dh * (1.0 - z) * (1.0 - n * n)
        d_r = d_pre_n * gh_n * r * (1.0 - r)
        d_z = dh * (h_prev - n) * z * (1.0 - z)
        return d_r, d_z, d_pre_n * r, d_pre_n

    @triton.jit
    def _tile(LEN, num_seq, BLOCK: tl.constexpr):
        r"""The ranks this program owns, their sequence lengths, and the
        number of steps of the tile (its first, longest, sequence's)."""
        pid = tl.program_id(0)
        rank = pid * BLOCK + tl.arange(0, BLOCK)
        length = tl.load(LEN + rank, mask=rank < num_seq, other=0)
        return rank, length, tl.load(LEN + pid * BLOCK)

    @triton.jit
    def _load_inputs(GI, gi_stride, SRC, OFF, t, rank, length, col, H,
                     HAS_SRC: tl.constexpr):
        r"""The input projections of step :obj:`t` of the ranks
        :obj:`rank` (zeros where the sequence is over), and the rows."""
        active = t < length
        row = tl.load(OFF + t) + rank
        if HAS_SRC:
            x_row = tl.load(SRC + row, mask=active, other=0)
        else:
            x_row = row
        mask = active[:, None] & (col < H)[None, :]
        ptr = GI + x_row.to(tl.int64)[:, None] * gi_stride + col[None, :]
        gi_r = tl.load(ptr, mask=mask, other=0.).to(tl.float32)
        gi_z = tl.load(ptr + H, mask=mask, other=0.).to(tl.float32)
        gi_n = tl.load(ptr + 2 * H, mask=mask, other=0.).to(tl.float32)
        return gi_r, gi_z, gi_n, row.to(tl.int64), mask

    @triton.jit
    def _store_row(HBUF, GATES, row, col, mask, H, r, z, n, gh_n, h,
                   STORE_H: tl.constexpr, SAVE: tl.constexpr):
        if STORE_H:
            tl.store(HBUF + row[:, None] * H + col[None, :], h, mask=mask)
        if SAVE:
            ptr = GATES + row[:, None] * (4 * H) + col[None, :]
            tl.store(ptr, r, mask=mask)
            tl.store(ptr + H, z, mask=mask)
            tl.store(ptr + 2 * H, n, mask=mask)
            tl.store(ptr + 3 * H, gh_n, mask=mask)

    @triton.jit
    def _load_w(WHH, gate, H, k, j, TRANSPOSE: tl.constexpr):
        r"""A block of gate :obj:`gate` of :math:`W_{hh}`
        (:obj:`[3H, H]`): :obj:`w[k, j] = W[gate * H + j, k]` if
        :obj:`TRANSPOSE` (for :math:`h W^T`), else :obj:`W[gate * H + k,
        j]` (for :math:`dg W`)."""
        mask = (k < H)[:, None] & (j < H)[None, :]
        if TRANSPOSE:
            ptr = WHH + (gate * H + j[None, :]) * H + k[:, None]
        else:
            ptr = WHH + (gate * H + k[:, None]) * H + j[None, :]
        return tl.load(ptr, mask=mask, other=0.).to(tl.float32)

    @triton.jit
    def _load_b(BHH, gate, H, col, HAS_BIAS: tl.constexpr):
        if HAS_BIAS:
            return tl.load(BHH + gate * H + col, mask=col < H,
                           other=0.).to(tl.float32)[None, :]
        else:
            return 0.0

    @triton.jit
    def _forward_resident(
        GI, gi_stride, SRC, WHH, BHH, LEN, OFF, HBUF, GATES, FINAL,
        num_seq, H,
        HAS_SRC: tl.constexpr, HAS_BIAS: tl.constexpr,
        STORE_H: tl.constexpr, SAVE: tl.constexpr,
        BLOCK: tl.constexpr, H_PAD: tl.constexpr, PRECISION: tl.constexpr,
    ):
        rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
        col = tl.arange(0, H_PAD)
        w_r = _load_w(WHH, 0, H, col, col, True)
        w_z = _load_w(WHH, 1, H, col, col, True)
        w_n = _load_w(WHH, 2, H, col, col, True)
        b_r = _load_b(BHH, 0, H, col, HAS_BIAS)
        b_z = _load_b(BHH, 1, H, col, HAS_BIAS)
        b_n = _load_b(BHH, 2, H, col, HAS_BIAS)

        h = tl.zeros([BLOCK, H_PAD], tl.float32)
        gi_r, gi_z, gi_n, row, mask = _load_inputs(
            GI, gi_stride, SRC, OFF, 0, rank, length, col, H, HAS_SRC)
        for t in range(0, num_steps):
            nxt_r, nxt_z, nxt_n, nxt_row, nxt_mask = _load_inputs(
                GI, gi_stride, SRC, OFF, t + 1, rank, length, col, H,
                HAS_SRC)
            gh_r = tl.dot(h, w_r, input_precision=PRECISION) + b_r
            gh_z = tl.dot(h, w_z, input_precision=PRECISION) + b_z
            gh_n = tl.dot(h, w_n, input_precision=PRECISION) + b_n
            r, z, n, h_new = _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h)
            h = tl.where(mask, h_new, h)
            _store_row(HBUF, GATES, row, col, mask, H, r, z, n, gh_n, h,
                       STORE_H, SAVE)
            gi_r, gi_z, gi_n, row, mask = nxt_r, nxt_z, nxt_n, nxt_row, \
                nxt_mask
        out = FINAL + rank.to(tl.int64)[:, None] * H + col[None, :]
        tl.store(out, h, mask=(rank < num_seq)[:, None] & (col < H)[None, :])

    @triton.jit
    def _forward_streamed(
        GI, gi_stride, SRC, WHH, BHH, LEN, OFF, HBUF, GATES, FINAL, STATE,
        num_seq, H, slot_stride,
        HAS_SRC: tl.constexpr, HAS_BIAS: tl.constexpr,
        STORE_H: tl.constexpr, SAVE: tl.constexpr,
        BLOCK: tl.constexpr, H_PAD: tl.constexpr, BLOCK_COLS: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        # STATE is [2, num_tiles * BLOCK, H_PAD], zeros: step t reads slot
        # t % 2 and writes slot (t + 1) % 2. Blocks of BLOCK_COLS columns
        # of the new state, each a sum over blocks of BLOCK_COLS of h.
        rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
        state = STATE + rank.to(tl.int64)[:, None] * H_PAD
        num_blocks = H_PAD // BLOCK_COLS
        for t in range(0, num_steps):
            cur = state + (t % 2) * slot_stride
            nxt = state + ((t + 1) % 2) * slot_stride
            for block in range(0, num_blocks):
                col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
                gi_r, gi_z, gi_n, row, mask = _load_inputs(
                    GI, gi_stride, SRC, OFF, t, rank, length, col, H,
                    HAS_SRC)
                gh_r = tl.zeros([BLOCK, BLOCK_COLS], tl.float32)
                gh_z = tl.zeros([BLOCK, BLOCK_COLS], tl.float32)
                gh_n = tl.zeros([BLOCK, BLOCK_COLS], tl.float32)
                for k_block in range(0, num_blocks):
                    k = k_block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
                    h = tl.load(cur + k[None, :])
                    gh_r += tl.dot(h, _load_w(WHH, 0, H, k, col, True),
                                   input_precision=PRECISION)
                    gh_z += tl.dot(h, _load_w(WHH, 1, H, k, col, True),
                                   input_precision=PRECISION)
                    gh_n += tl.dot(h, _load_w(WHH, 2, H, k, col, True),
                                   input_precision=PRECISION)
                gh_r += _load_b(BHH, 0, H, col, HAS_BIAS)
                gh_z += _load_b(BHH, 1, H, col, HAS_BIAS)
                gh_n += _load_b(BHH, 2, H, col, HAS_BIAS)
                h_col = tl.load(cur + col[None, :])
                r, z, n, h_new = _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n,
                                       h_col)
                h_col = tl.where(mask, h_new, h_col)
                tl.store(nxt + col[None, :], h_col)
                _store_row(HBUF, GATES, row, col, mask, H, r, z, n, gh_n,
                           h_col, STORE_H, SAVE)
            tl.debug_barrier()  # Every column of step t before step t + 1.
        last = state + (num_steps % 2) * slot_stride
        for block in range(0, num_blocks):
            col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
            h_col = tl.load(last + col[None, :])
            out = FINAL + rank.to(tl.int64)[:, None] * H + col[None, :]
            tl.store(out, h_col,
                     mask=(rank < num_seq)[:, None] & (col < H)[None, :])

    @triton.jit
    def _load_saved(GATES, HBUF, GRAD, OFF, t, rank, length, col, H,
                    final_grad, SEQUENCE: tl.constexpr):
        r"""What the backward of step :obj:`t` reads: the saved gates,
        the previous state and the incoming gradient of the rows."""
        # (A vector of t: Triton's interpreter mistypes bool scalar & bool
        # vector.)
        step = t + tl.zeros_like(length)
        active = (step < length) & (step >= 0)
        row = (tl.load(OFF + t, mask=t >= 0, other=0) + rank).to(tl.int64)
        mask = active[:, None] & (col < H)[None, :]
        prev_mask = (active & (step > 0))[:, None] & (col < H)[None, :]
        ptr = GATES + row[:, None] * (4 * H) + col[None, :]
        r = tl.load(ptr, mask=mask, other=0.)
        z = tl.load(ptr + H, mask=mask, other=0.)
        n = tl.load(ptr + 2 * H, mask=mask, other=0.)
        gh_n = tl.load(ptr + 3 * H, mask=mask, other=0.)
        prev = (tl.load(OFF + t - 1, mask=t > 0, other=0) + rank).to(
            tl.int64)
        h_prev = tl.load(HBUF + prev[:, None] * H + col[None, :],
                         mask=prev_mask, other=0.)
        if SEQUENCE:
            grad = tl.load(GRAD + row[:, None] * H + col[None, :],
                           mask=mask, other=0.).to(tl.float32)
        else:  # The final state's gradient enters at the last step.
            grad = tl.where((t == length - 1)[:, None], final_grad, 0.)
        return r, z, n, gh_n, h_prev, grad, row, mask

    @triton.jit
    def _store_grads(DG, row, col, mask, H, d_r, d_z, d_hn, d_n):
        ptr = DG + row[:, None] * (4 * H) + col[None, :]
        tl.store(ptr, d_r, mask=mask)
        tl.store(ptr + H, d_z, mask=mask)
        tl.store(ptr + 2 * H, d_hn, mask=mask)
        tl.store(ptr + 3 * H, d_n, mask=mask)

    @triton.jit
    def _backward_resident(
        GATES, HBUF, WHH, GRAD, LEN, OFF, DG, num_seq, H,
        SEQUENCE: tl.constexpr, BLOCK: tl.constexpr, H_PAD: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        # DG[row] = [d pre-r, d pre-z, d(W_hn h + b_hn), d pre-n].
        rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
        col = tl.arange(0, H_PAD)
        w_r = _load_w(WHH, 0, H, col, col, False)
        w_z = _load_w(WHH, 1, H, col, col, False)
        w_n = _load_w(WHH, 2, H, col, col, False)
        final_grad = 0.0
        if not SEQUENCE:
            final_grad = tl.load(
                GRAD + rank.to(tl.int64)[:, None] * H + col[None, :],
                mask=(rank < num_seq)[:, None] & (col < H)[None, :],
                other=0.).to(tl.float32)

        dh = tl.zeros([BLOCK, H_PAD], tl.float32)
        r, z, n, gh_n, h_prev, grad, row, mask = _load_saved(
            GATES, HBUF, GRAD, OFF, num_steps - 1, rank, length, col, H,
            final_grad, SEQUENCE)
        for i in range(0, num_steps):
            t = num_steps - 1 - i
            nxt = _load_saved(GATES, HBUF, GRAD, OFF, t - 1, rank, length,
                              col, H, final_grad, SEQUENCE)
            dh += grad
            d_r, d_z, d_hn, d_n = _cell_backward(dh, r, z, n, gh_n, h_prev)
            _store_grads(DG, row, col, mask, H, d_r, d_z, d_hn, d_n)
            dh_prev = dh * z
            dh_prev += tl.dot(d_r, w_r, input_precision=PRECISION)
            dh_prev += tl.dot(d_z, w_z, input_precision=PRECISION)
            dh_prev += tl.dot(d_hn, w_n, input_precision=PRECISION)
            dh = tl.where(mask, dh_prev, dh)
            r, z, n, gh_n, h_prev, grad, row, mask = nxt

    @triton.jit
    def _backward_streamed(
        GATES, HBUF, WHH, GRAD, LEN, OFF, DG, STATE, num_seq, H, slot_stride,
        SEQUENCE: tl.constexpr, BLOCK: tl.constexpr, H_PAD: tl.constexpr,
        BLOCK_COLS: tl.constexpr, PRECISION: tl.constexpr,
    ):
        # STATE holds dh in two slots, as the forward holds h.
        rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
        state = STATE + rank.to(tl.int64)[:, None] * H_PAD
        num_blocks = H_PAD // BLOCK_COLS
        for i in range(0, num_steps):
            t = num_steps - 1 - i
            cur = state + (i % 2) * slot_stride
            nxt = state + ((i + 1) % 2) * slot_stride
            # Phase 1: the gate gradients of every column block, and the
            # direct part dh z of the previous state's gradient.
            for block in range(0, num_blocks):
                col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
                final_grad = 0.0
                if not SEQUENCE:
                    final_grad = tl.load(
                        GRAD + rank.to(tl.int64)[:, None] * H + col[None, :],
                        mask=(rank < num_seq)[:, None] & (col < H)[None, :],
                        other=0.).to(tl.float32)
                r, z, n, gh_n, h_prev, grad, row, mask = _load_saved(
                    GATES, HBUF, GRAD, OFF, t, rank, length, col, H,
                    final_grad, SEQUENCE)
                dh = tl.load(cur + col[None, :]) + grad
                d_r, d_z, d_hn, d_n = _cell_backward(dh, r, z, n, gh_n,
                                                     h_prev)
                _store_grads(DG, row, col, mask, H, d_r, d_z, d_hn, d_n)
                tl.store(nxt + col[None, :], tl.where(mask, dh * z, dh))
            tl.debug_barrier()
            # Phase 2: dh_prev += [d_r, d_z, d_hn] W_hh, by blocks.
            row = (tl.load(OFF + t) + rank).to(tl.int64)
            active = (t < length)[:, None]
            for block in range(0, num_blocks):
                col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
                acc = tl.load(nxt + col[None, :])
                for j_block in range(0, num_blocks):
                    j = j_block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
                    ptr = DG + row[:, None] * (4 * H) + j[None, :]
                    mask = active & (j < H)[None, :]
                    d_r = tl.load(ptr, mask=mask, other=0.)
                    d_z = tl.load(ptr + H, mask=mask, other=0.)
                    d_hn = tl.load(ptr + 2 * H, mask=mask, other=0.)
                    acc += tl.dot(d_r, _load_w(WHH, 0, H, j, col, False),
                                  input_precision=PRECISION)
                    acc += tl.dot(d_z, _load_w(WHH, 1, H, j, col, False),
                                  input_precision=PRECISION)
                    acc += tl.dot(d_hn, _load_w(WHH, 2, H, j, col, False),
                                  input_precision=PRECISION)
                tl.store(nxt + col[None, :], acc)
            tl.debug_barrier()


def _plan(layout: PackedLayout) -> Tuple[Tensor, Tensor]:
    r"""The per-rank sequence lengths and the per-step row offsets on the
    layout's device, built once per layout."""
    def build(layout: PackedLayout) -> Tuple[Tensor, Tensor]:
        lengths = layout.degree.index_select(0, layout.nodes).to(torch.int32)
        offsets = torch.tensor(layout.offsets, dtype=torch.int64,
                               device=layout.device)
        return lengths, offsets

    return layout.plan('triton', build)


def launch_options(hidden: int, block: Optional[int] = None,
                   num_warps: Optional[int] = None) -> dict:
    r"""The variant and the compile options of the kernels for the hidden
    size :obj:`hidden`: chosen so that no variant spills registers on
    sm_80/sm_90 (see :obj:`benchmarks/triton_resources.py`).
    :obj:`block` (sequences per program) and :obj:`num_warps` override
    the defaults (for tuning)."""
    h_pad = _pad(hidden)
    options = dict(BLOCK=block or BLOCK_B, H_PAD=h_pad)
    if h_pad > RESIDENT_MAX_H:
        options.update(BLOCK_COLS=min(BLOCK_H, h_pad), num_warps=8,
                       num_stages=1)
    else:
        options.update(num_warps=4 if h_pad <= 32 else 8)
    if num_warps is not None:
        options['num_warps'] = num_warps
    return options


def _launch(kernels: Tuple, layout: PackedLayout, hidden: int, device,
            args: list, flags: dict) -> None:
    r"""Launches the resident or the streamed kernel of :obj:`kernels`
    over the tiles of :obj:`layout`."""
    options = launch_options(hidden)
    num_tiles = triton.cdiv(layout.num_sequences, options['BLOCK'])
    if num_tiles == 0:
        return
    resident, streamed = kernels
    if 'BLOCK_COLS' in options:
        # Two slots of state per sequence, zeros (h = 0, dh = 0).
        state = torch.zeros(2, num_tiles * options['BLOCK'],
                            options['H_PAD'], device=device)
        streamed[(num_tiles, )](*args[:-2], state, *args[-2:],
                                state.stride(0), **flags, **options)
    else:
        resident[(num_tiles, )](*args, **flags, **options)


def forward(
    x: Tensor,
    src: Optional[Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Optional[Tensor],
    b_hh: Optional[Tensor],
    layout: PackedLayout,
    sequence: bool,
    save: bool = False,
    precision: Optional[str] = None,
) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
    r"""Forward pass of one direction of one GRU layer, without autograd.

    Packed row :obj:`p` reads :obj:`x[src[p]]` (:obj:`x[p]` if :obj:`src`
    is :obj:`None`). Returns the state after every packed row (if
    :obj:`sequence`) or the final state of every sequence, in packed order
    and :obj:`x.dtype`; and, if :obj:`save`, the fp32 buffers the backward
    reads: the gates :obj:`[r, z, n, W_hn h + b_hn]` of every row and the
    state after every row, with a row of zeros appended (the state before
    a first step)."""
    lengths, offsets = _plan(layout)
    num_rows, hidden = layout.num_packed, w_hh.size(1)
    device = x.device
    precision = precision or dot_precision(device)
    gi = torch.nn.functional.linear(x, w_ih, b_ih).contiguous()

    store_h = save or sequence
    # The state after every row, and a last row of zeros: the state before
    # a first step, which the backward reads through `layout.prev_row`.
    h_buf = torch.empty((num_rows + 1 if store_h else 1), hidden,
                        device=device)
    h_buf[-1].zero_()
    gates = torch.empty((num_rows if save else 1), 4 * hidden,
                        device=device)
    final = torch.empty(layout.num_sequences, hidden, device=device)
    dummy = lengths  # Any tensor, for pointers a kernel never reads.
    args = [gi, gi.stride(0), dummy if src is None else src,
            w_hh.contiguous(), dummy if b_hh is None else b_hh.contiguous(),
            lengths, offsets, h_buf, gates, final, layout.num_sequences,
            hidden]
    flags = dict(HAS_SRC=src is not None, HAS_BIAS=b_hh is not None,
                 STORE_H=store_h, SAVE=save, PRECISION=precision)
    _launch((_forward_resident, _forward_streamed), layout, hidden, device,
            args, flags)
    out = h_buf[:num_rows] if sequence else final
    return (out.to(x.dtype), gates if save else None,
            h_buf if save else None)


def backward_steps(grad_out: Tensor, gates: Tensor, h_buf: Tensor,
                   w_hh: Tensor, layout: PackedLayout, sequence: bool,
                   precision: Optional[str] = None) -> Tensor:
    r"""The reverse loop: returns the gate gradients :obj:`[d pre-r,
    d pre-z, d(W_hn h + b_hn), d pre-n]` of every packed row (fp32)."""
    lengths, offsets = _plan(layout)
    hidden = w_hh.size(1)
    precision = precision or dot_precision(grad_out.device)
    dg = torch.empty(layout.num_packed, 4 * hidden, device=grad_out.device)
    args = [gates, h_buf, w_hh.contiguous(), grad_out.contiguous(), lengths,
            offsets, dg, layout.num_sequences, hidden]
    _launch((_backward_resident, _backward_streamed), layout, hidden,
            grad_out.device, args, dict(SEQUENCE=sequence,
                                        PRECISION=precision))
    return dg


class TritonGRULayer(torch.autograd.Function):
    r"""One direction of one GRU layer over packed rows on the Triton
    kernels, with the inputs, outputs and equations of
    :class:`torch_geometric_gru.kernels.cpu.GRULayer`."""
    @staticmethod
    def forward(x: Tensor, w_ih: Tensor, w_hh: Tensor,
                b_ih: Optional[Tensor], b_hh: Optional[Tensor],
                src: Optional[Tensor], layout: PackedLayout, sequence: bool,
                precision: Optional[str]) -> Tuple[Tensor, Tensor, Tensor]:
        return forward(x, src, w_ih, w_hh, b_ih, b_hh, layout, sequence,
                       save=True, precision=precision)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: tuple) -> None:
        x, w_ih, w_hh, b_ih, b_hh, src, layout, sequence, precision = inputs
        _, gates, h_buf = output
        ctx.mark_non_differentiable(gates, h_buf)
        ctx.layout, ctx.sequence, ctx.precision = layout, sequence, precision
        ctx.save_for_backward(x, src, w_ih, w_hh, b_ih, b_hh, gates, h_buf)

    @staticmethod
    def backward(ctx, grad_out: Tensor, *_):
        x, src, w_ih, w_hh, b_ih, b_hh, gates, h_buf = ctx.saved_tensors
        layout: PackedLayout = ctx.layout
        need = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph: differentiable grads.
            return naive.double_backward(
                grad_out, (x, w_ih, w_hh, b_ih, b_hh), need[:5], src,
                layout, ctx.sequence) + (None, ) * 4
        hidden = w_hh.size(1)
        dg = backward_steps(grad_out.float(), gates, h_buf, w_hh, layout,
                            ctx.sequence, ctx.precision)

        grad_w_hh = grad_b_hh = None
        grad_gh = dg[:, :3 * hidden]  # d(W_h h + b_h), per gate.
        if need[2]:
            h_prev = h_buf.index_select(0, layout.prev_row)
            grad_w_hh = grad_gh.t().mm(h_prev).to(w_hh.dtype)
        if need[4]:
            grad_b_hh = grad_gh.sum(0).to(w_hh.dtype)

        # The input gates' gradient is [d pre-r, d pre-z, d pre-n]:
        # columns 0, 1 and 3 of dg, i.e. dg against W_ih with a zero block.
        if src is not None:  # Sum per row of x first (hoisted projection).
            per_x = dg.new_zeros(x.size(0), 4 * hidden)
            per_x.index_add_(0, src, dg)
        else:
            per_x = dg
        grad_x = grad_w_ih = grad_b_ih = None
        zero = w_ih.new_zeros(hidden, w_ih.size(1))
        w_aug = torch.cat([w_ih[:2 * hidden], zero, w_ih[2 * hidden:]])
        if need[0]:
            grad_x = per_x.mm(w_aug.float()).to(x.dtype)
        if need[1]:
            grad = per_x.t().mm(x.float())
            grad_w_ih = torch.cat([grad[:2 * hidden], grad[3 * hidden:]])
            grad_w_ih = grad_w_ih.to(w_ih.dtype)
        if need[3]:
            grad = per_x.sum(0)
            grad_b_ih = torch.cat([grad[:2 * hidden], grad[3 * hidden:]])
            grad_b_ih = grad_b_ih.to(w_ih.dtype)
        return (grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh, None,
                None, None, None)


def run_layer(x: Tensor, src: Optional[Tensor], params: Tuple,
              layout: PackedLayout, sequence: bool,
              precision: Optional[str] = None) -> Tensor:
    r"""Runs one direction of one GRU layer on the Triton kernels, through
    autograd if needed. :obj:`params` is :obj:`(w_ih, w_hh, b_ih, b_hh)`.
    """
    if src is not None and x.size(0) >= src.numel():
        # More rows than reads: gather, then project only what is read.
        x, src = x.index_select(0, src), None
    if torch.is_grad_enabled() and (x.requires_grad or any(
            p is not None and p.requires_grad for p in params)):
        return TritonGRULayer.apply(x, *params, src, layout, sequence,
                                    precision)[0]
    return forward(x, src, *params, layout, sequence,
                   precision=precision)[0]
