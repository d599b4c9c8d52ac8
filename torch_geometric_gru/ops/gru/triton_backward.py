r"""The backward kernels of :mod:`torch_geometric_gru.ops.gru.triton`.

One launch covers the steps :obj:`[t_lo, t_hi)` of every tile whose
longest sequence reaches :obj:`t_lo`, in reverse; the packed rows of those
steps are the contiguous range :obj:`[OFF[t_lo], OFF[t_hi])`, and
:obj:`row0 = OFF[t_lo]` indexes the launch's own (chunk-sized) buffers.
A program owns the same tile of ranks as in the forward and:

* reads the gradient :math:`dh` of its ranks' states from :obj:`DH`
  (sequence-sized; the final states' gradient before the first launch)
  and writes it back after its last step, for the next launch;
* per step, rebuilds the gates of its rows from the hidden projections
  :math:`W_{hh} h_{t-1} + b_{hh}` (:obj:`GH[row - row0]`, one GEMM per
  chunk over the saved states), the input projection (:obj:`GI`, read
  through :obj:`SRC` as in the forward, or row :obj:`row - row0` of a
  chunk-sized projection) and the saved state entering the step
  (:obj:`HBUF[OFF[t - 1] + k]`, zeros on a first step);
* writes the gate gradients :obj:`[d pre-r, d pre-z, d(W_hn h + b_hn),
  d pre-n]` of its rows to :obj:`DG[row - row0]`, and carries
  :math:`dh_{t-1} = dh_t \odot z + [dr, dz, d\hat{n}] W_{hh}` (three
  :func:`tl.dot`; :math:`W_{hh}` resident or streamed).
"""
import triton
import triton.language as tl

from torch_geometric_gru.ops.gru.triton_forward import (
    _cell,
    _load_gi,
    _load_w,
    _tile,
)


@triton.jit
def _cell_backward(dh, r, z, n, gh_n, h_prev):
    r"""Returns :obj:`(d pre-r, d pre-z, d(W_hn h + b_hn), d pre-n)` for
    the state gradient :obj:`dh` of one step."""
    d_pre_n = dh * (1.0 - z) * (1.0 - n * n)
    d_r = d_pre_n * gh_n * r * (1.0 - r)
    d_z = dh * (h_prev - n) * z * (1.0 - z)
    return d_r, d_z, d_pre_n * r, d_pre_n


@triton.jit
def _load_step(GI, gi_stride, SRC, GH, HBUF, GRAD, OFF, t, rank, length,
               col, H, t_lo, row0, HAS_SRC: tl.constexpr,
               SEQUENCE: tl.constexpr):
    r"""What the backward of step :obj:`t` reads for the columns
    :obj:`col`: the input and hidden projections, the state entering the
    step and the gradient entering at the rows (if :obj:`SEQUENCE`); the
    rows and their mask. Nothing before step :obj:`t_lo`, whose rows lie
    outside the launch's buffers."""
    # (A vector of t: Triton's interpreter mistypes bool scalar & bool
    # vector.)
    step = t + tl.zeros_like(length)
    active = (step < length) & (step >= t_lo)
    row = (tl.load(OFF + t, mask=t >= 0, other=0) + rank).to(tl.int64)
    mask = active[:, None] & (col < H)[None, :]
    gi_r, gi_z, gi_n = _load_gi(GI, gi_stride, SRC, row, row0, active, col,
                                H, HAS_SRC)
    ptr = GH + (row - row0)[:, None] * (3 * H) + col[None, :]
    gh_r = tl.load(ptr, mask=mask, other=0.)
    gh_z = tl.load(ptr + H, mask=mask, other=0.)
    gh_n = tl.load(ptr + 2 * H, mask=mask, other=0.)
    h_prev = _load_prev(HBUF, OFF, t, rank, step, active, col, H)
    grad = 0.0
    if SEQUENCE:
        grad = tl.load(GRAD + row[:, None] * H + col[None, :], mask=mask,
                       other=0.).to(tl.float32)
    return gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_prev, grad, row, mask


@triton.jit
def _load_prev(HBUF, OFF, t, rank, step, active, col, H):
    r"""The saved state entering step :obj:`t` (zeros on a first step)."""
    prev = (tl.load(OFF + t - 1, mask=t > 0, other=0) + rank).to(tl.int64)
    mask = (active & (step > 0))[:, None] & (col < H)[None, :]
    return tl.load(HBUF + prev[:, None] * H + col[None, :], mask=mask,
                   other=0.)


@triton.jit
def _store_grads(DG, row, col, mask, H, d_r, d_z, d_hn, d_n):
    ptr = DG + row[:, None] * (4 * H) + col[None, :]
    tl.store(ptr, d_r, mask=mask)
    tl.store(ptr + H, d_z, mask=mask)
    tl.store(ptr + 2 * H, d_hn, mask=mask)
    tl.store(ptr + 3 * H, d_n, mask=mask)


@triton.jit
def _backward_resident(
    GI, gi_stride, SRC, GH, WHH, HBUF, GRAD, DH, LEN, OFF, DG,
    num_seq, H, t_lo, t_hi, row0,
    HAS_SRC: tl.constexpr, SEQUENCE: tl.constexpr, BLOCK: tl.constexpr,
    H_PAD: tl.constexpr, PRECISION: tl.constexpr,
):
    rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
    col = tl.arange(0, H_PAD)
    w_r = _load_w(WHH, 0, H, col, col, False)
    w_z = _load_w(WHH, 1, H, col, col, False)
    w_n = _load_w(WHH, 2, H, col, col, False)
    seq_mask = (rank < num_seq)[:, None] & (col < H)[None, :]
    dh_ptr = DH + rank.to(tl.int64)[:, None] * H + col[None, :]
    dh = tl.load(dh_ptr, mask=seq_mask, other=0.)

    t_end = tl.minimum(num_steps, t_hi)
    gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_prev, grad, row, mask = \
        _load_step(GI, gi_stride, SRC, GH, HBUF, GRAD, OFF, t_end - 1, rank,
                   length, col, H, t_lo, row0, HAS_SRC, SEQUENCE)
    for i in range(0, t_end - t_lo):
        t = t_end - 1 - i
        nxt = _load_step(GI, gi_stride, SRC, GH, HBUF, GRAD, OFF, t - 1,
                         rank, length, col, H, t_lo, row0, HAS_SRC, SEQUENCE)
        r, z, n, _ = _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_prev)
        dh += grad
        d_r, d_z, d_hn, d_n = _cell_backward(dh, r, z, n, gh_n, h_prev)
        _store_grads(DG, row - row0, col, mask, H, d_r, d_z, d_hn, d_n)
        dh_prev = dh * z
        dh_prev += tl.dot(d_r, w_r, input_precision=PRECISION)
        dh_prev += tl.dot(d_z, w_z, input_precision=PRECISION)
        dh_prev += tl.dot(d_hn, w_n, input_precision=PRECISION)
        dh = tl.where(mask, dh_prev, dh)
        gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_prev, grad, row, mask = nxt
    tl.store(dh_ptr, dh, mask=seq_mask)


@triton.jit
def _backward_streamed(
    GI, gi_stride, SRC, GH, WHH, HBUF, GRAD, DH, LEN, OFF, DG, STATE,
    num_seq, H, t_lo, t_hi, row0, slot_stride,
    HAS_SRC: tl.constexpr, SEQUENCE: tl.constexpr, BLOCK: tl.constexpr,
    H_PAD: tl.constexpr, BLOCK_COLS: tl.constexpr, PRECISION: tl.constexpr,
):
    # STATE holds dh in two slots, as the forward holds h; DH goes in
    # slot 0 and comes back from the last slot written.
    rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
    state = STATE + rank.to(tl.int64)[:, None] * H_PAD
    dh_base = DH + rank.to(tl.int64)[:, None] * H
    num_blocks = H_PAD // BLOCK_COLS
    for block in range(0, num_blocks):
        col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
        seq_mask = (rank < num_seq)[:, None] & (col < H)[None, :]
        tl.store(state + col[None, :],
                 tl.load(dh_base + col[None, :], mask=seq_mask, other=0.))
    tl.debug_barrier()

    t_end = tl.minimum(num_steps, t_hi)
    num_local = tl.maximum(t_end - t_lo, 0)
    for i in range(0, num_local):
        t = t_end - 1 - i
        cur = state + (i % 2) * slot_stride
        nxt = state + ((i + 1) % 2) * slot_stride
        # Phase 1: the gate gradients of every column block, and the
        # direct part dh z of the previous state's gradient.
        for block in range(0, num_blocks):
            col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
            gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_col, grad, row, mask = \
                _load_step(GI, gi_stride, SRC, GH, HBUF, GRAD, OFF, t, rank,
                           length, col, H, t_lo, row0, HAS_SRC, SEQUENCE)
            r, z, n, _ = _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_col)
            dh = tl.load(cur + col[None, :]) + grad
            d_r, d_z, d_hn, d_n = _cell_backward(dh, r, z, n, gh_n, h_col)
            _store_grads(DG, row - row0, col, mask, H, d_r, d_z, d_hn, d_n)
            tl.store(nxt + col[None, :], tl.where(mask, dh * z, dh))
        tl.debug_barrier()
        # Phase 2: dh_prev += [d_r, d_z, d_hn] W_hh, by blocks.
        row = (tl.load(OFF + t) + rank).to(tl.int64) - row0
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

    last = state + (num_local % 2) * slot_stride
    for block in range(0, num_blocks):
        col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
        seq_mask = (rank < num_seq)[:, None] & (col < H)[None, :]
        tl.store(dh_base + col[None, :], tl.load(last + col[None, :]),
                 mask=seq_mask)
