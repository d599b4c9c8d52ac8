r"""The forward kernels of :mod:`torch_geometric_gru.ops.gru.triton`, and
the pieces of Triton code that its backward kernels share (the tile, the
gate math, the loads of :math:`W_{hh}` and of the input projection).

One launch covers the steps :obj:`[t_lo, t_hi)` (all steps, unless the
input projection is computed per chunk of steps); one program owns
:obj:`BLOCK` consecutive ranks (sequences, longest first) and loops over
its steps in that range; rank :obj:`k` reads packed row
:obj:`OFF[t] + k` at step :obj:`t < LEN[k]`, its input projection at row
:obj:`SRC[row]` of :obj:`GI` (or :obj:`row - row0` of a chunk's
projection). What a program writes: the state of its ranks after the
range (:obj:`FINAL`, which also holds the state entering it: zeros before
the first launch), and, if :obj:`STORE_H`, the state after every row it
reads (:obj:`HBUF`: the sequence output, and the only per-row tensor
saved for the backward). Nothing else per row.
"""
import triton
import triton.language as tl


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
def _tile(LEN, num_seq, BLOCK: tl.constexpr):
    r"""The ranks this program owns, their sequence lengths, and the
    number of steps of the tile (its first, longest, sequence's)."""
    pid = tl.program_id(0)
    rank = pid * BLOCK + tl.arange(0, BLOCK)
    length = tl.load(LEN + rank, mask=rank < num_seq, other=0)
    return rank, length, tl.load(LEN + pid * BLOCK)


@triton.jit
def _load_gi(GI, gi_stride, SRC, row, row0, active, col, H,
             HAS_SRC: tl.constexpr):
    r"""The input projections :math:`W_{ih} x + b_{ih}` of the packed
    rows :obj:`row` (zeros where not :obj:`active`): row :obj:`SRC[row]`
    of :obj:`GI` if :obj:`HAS_SRC`, else row :obj:`row - row0`."""
    if HAS_SRC:
        x_row = tl.load(SRC + row, mask=active, other=0).to(tl.int64)
    else:
        x_row = row - row0
    mask = active[:, None] & (col < H)[None, :]
    ptr = GI + x_row[:, None] * gi_stride + col[None, :]
    gi_r = tl.load(ptr, mask=mask, other=0.).to(tl.float32)
    gi_z = tl.load(ptr + H, mask=mask, other=0.).to(tl.float32)
    gi_n = tl.load(ptr + 2 * H, mask=mask, other=0.).to(tl.float32)
    return gi_r, gi_z, gi_n


@triton.jit
def _load_inputs(GI, gi_stride, SRC, OFF, t, rank, length, col, H, t_hi,
                 row0, HAS_SRC: tl.constexpr):
    r"""The input projections of step :obj:`t` of the ranks :obj:`rank`
    (zeros where the sequence is over, and from step :obj:`t_hi` on,
    whose rows lie outside the launch's buffers), the rows and their
    mask."""
    # (A vector of t: Triton's interpreter mistypes bool scalar & bool
    # vector.)
    step = t + tl.zeros_like(length)
    active = (step < length) & (step < t_hi)
    row = (tl.load(OFF + t) + rank).to(tl.int64)
    gi_r, gi_z, gi_n = _load_gi(GI, gi_stride, SRC, row, row0, active, col,
                                H, HAS_SRC)
    return gi_r, gi_z, gi_n, row, active[:, None] & (col < H)[None, :]


@triton.jit
def _load_w(WHH, gate, H, k, j, TRANSPOSE: tl.constexpr):
    r"""A block of gate :obj:`gate` of :math:`W_{hh}` (:obj:`[3H, H]`):
    :obj:`w[k, j] = W[gate * H + j, k]` if :obj:`TRANSPOSE` (for
    :math:`h W^T`), else :obj:`W[gate * H + k, j]` (for :math:`dg W`)."""
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
def _store_h(HBUF, row, col, mask, H, h, STORE_H: tl.constexpr):
    if STORE_H:
        tl.store(HBUF + row[:, None] * H + col[None, :], h, mask=mask)


@triton.jit
def _forward_resident(
    GI, gi_stride, SRC, WHH, BHH, LEN, OFF, HBUF, FINAL, num_seq, H, t_lo,
    t_hi, row0,
    HAS_SRC: tl.constexpr, HAS_BIAS: tl.constexpr, STORE_H: tl.constexpr,
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
    seq_mask = (rank < num_seq)[:, None] & (col < H)[None, :]
    h_ptr = FINAL + rank.to(tl.int64)[:, None] * H + col[None, :]
    h = tl.load(h_ptr, mask=seq_mask, other=0.)

    gi_r, gi_z, gi_n, row, mask = _load_inputs(
        GI, gi_stride, SRC, OFF, t_lo, rank, length, col, H, t_hi, row0,
        HAS_SRC)
    for t in range(t_lo, tl.minimum(num_steps, t_hi)):
        # The next step's loads before this step's math (OFF has
        # num_steps + 1 entries).
        nxt_r, nxt_z, nxt_n, nxt_row, nxt_mask = _load_inputs(
            GI, gi_stride, SRC, OFF, t + 1, rank, length, col, H, t_hi,
            row0, HAS_SRC)
        gh_r = tl.dot(h, w_r, input_precision=PRECISION) + b_r
        gh_z = tl.dot(h, w_z, input_precision=PRECISION) + b_z
        gh_n = tl.dot(h, w_n, input_precision=PRECISION) + b_n
        _, _, _, h_new = _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h)
        h = tl.where(mask, h_new, h)
        _store_h(HBUF, row, col, mask, H, h, STORE_H)
        gi_r, gi_z, gi_n, row, mask = nxt_r, nxt_z, nxt_n, nxt_row, nxt_mask
    tl.store(h_ptr, h, mask=seq_mask)


@triton.jit
def _forward_streamed(
    GI, gi_stride, SRC, WHH, BHH, LEN, OFF, HBUF, FINAL, STATE, num_seq, H,
    t_lo, t_hi, row0, slot_stride,
    HAS_SRC: tl.constexpr, HAS_BIAS: tl.constexpr, STORE_H: tl.constexpr,
    BLOCK: tl.constexpr, H_PAD: tl.constexpr, BLOCK_COLS: tl.constexpr,
    PRECISION: tl.constexpr,
):
    # STATE is [2, num_tiles * BLOCK, H_PAD]: the launch's i-th step reads
    # slot i % 2 and writes slot (i + 1) % 2; FINAL goes in slot 0 and
    # comes back from the last slot written. Blocks of BLOCK_COLS columns
    # of the new state, each a sum over blocks of BLOCK_COLS of h.
    rank, length, num_steps = _tile(LEN, num_seq, BLOCK)
    state = STATE + rank.to(tl.int64)[:, None] * H_PAD
    h_base = FINAL + rank.to(tl.int64)[:, None] * H
    num_blocks = H_PAD // BLOCK_COLS
    for block in range(0, num_blocks):
        col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
        seq_mask = (rank < num_seq)[:, None] & (col < H)[None, :]
        tl.store(state + col[None, :],
                 tl.load(h_base + col[None, :], mask=seq_mask, other=0.))
    tl.debug_barrier()

    num_local = tl.maximum(tl.minimum(num_steps, t_hi) - t_lo, 0)
    for i in range(0, num_local):
        t = t_lo + i
        cur = state + (i % 2) * slot_stride
        nxt = state + ((i + 1) % 2) * slot_stride
        for block in range(0, num_blocks):
            col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
            gi_r, gi_z, gi_n, row, mask = _load_inputs(
                GI, gi_stride, SRC, OFF, t, rank, length, col, H, t_hi, row0,
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
            _, _, _, h_new = _cell(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_col)
            h_col = tl.where(mask, h_new, h_col)
            tl.store(nxt + col[None, :], h_col)
            _store_h(HBUF, row, col, mask, H, h_col, STORE_H)
        tl.debug_barrier()  # Every column of step t before step t + 1.
    last = state + (num_local % 2) * slot_stride
    for block in range(0, num_blocks):
        col = block * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
        seq_mask = (rank < num_seq)[:, None] & (col < H)[None, :]
        tl.store(h_base + col[None, :], tl.load(last + col[None, :]),
                 mask=seq_mask)
