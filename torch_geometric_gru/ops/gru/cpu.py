r"""One GRU layer over packed rows, with a hand-written backward (the path
for every device but CUDA).

PyTorch's packed GRU backward on CPU runs one small GEMM per step and costs
14-206x its forward. Here only :math:`h \mapsto h'` (forward) and
:math:`dh' \mapsto dh` (backward) run step by step, on contiguous slices of
the packed rows, with five ops per forward step and two per backward step;
the input projection, every gate derivative and the weight and input
gradients are computed for many rows at once, in cache-sized chunks.

The step loops themselves run in C++ (:obj:`ops/gru/csrc/gru_cpu.cpp`, through
:mod:`~torch_geometric_gru.ops.cpp`: one call per window of rows in the
forward, one per chunk in the backward, the gate math fused per row) for
float32 and float64 CPU tensors when the extension is built; the Python
loops below are the fallback and the reference the tests compare it with.

Two exact reformulations keep the forward step short:

* :math:`\tanh(a) = 2\sigma(2a) - 1` (PyTorch's CPU sigmoid is several
  times faster than its tanh), with the factor 2 folded into the weights;
* the state is kept as :math:`u = (h + 1) / 2`, for which the update
  :math:`h' = (1 - z) \odot (2s - 1) + z \odot h` becomes
  :math:`u' = (1 - z) \odot s + z \odot u`, one :func:`torch.lerp`; the
  affine change of variable is folded into the hidden weights and biases.
"""
from types import ModuleType
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.profiler import record_function

from torch_geometric_gru.ops import cpp
from torch_geometric_gru.ops.gru.grads import InputGrads
from torch_geometric_gru.layout.packed import PackedLayout

# Rows per chunk of the vectorised passes: large enough for efficient GEMMs,
# small enough that temporaries stay in cache and need no fresh pages.
CHUNK = 4096


def _extension(*tensors: Tensor) -> Optional[ModuleType]:
    r"""The C++ step loops (:mod:`~torch_geometric_gru.ops.cpp`) if
    they are enabled and built and :obj:`tensors` are float32 or float64 CPU
    tensors; :obj:`None` selects the Python loops."""
    dtype = tensors[0].dtype
    if dtype not in _CPP_DTYPES or any(
            t.device.type != 'cpu' or t.dtype != dtype for t in tensors):
        return None
    return cpp.extension()


_CPP_DTYPES = (torch.float32, torch.float64)


def _chunks(start: int, stop: int) -> List[slice]:
    return [slice(i, min(i + CHUNK, stop)) for i in range(start, stop, CHUNK)]


class _Gates:
    r"""Computes the initial gate rows of any range of packed rows.

    The gate row of packed row :obj:`p` starts as

    .. code-block:: none

        [x W_ir + b_ir + b_hr, x W_iz + b_iz + b_hz, b_hn, 2 (x W_in + b_in)]

    minus :obj:`[W_hr 1, W_hz 1, W_hn 1, 0]` for rows past the first step
    (the constant part of :math:`W h = W (2u - 1)`). During its step it
    becomes :obj:`[r, z, W_hn h + b_hn, s]` with :math:`n = 2s - 1`. The
    step GEMM is :obj:`u @ w_hh_t` with :obj:`w_hh_t = 2 W_hh^T`.
    """
    def __init__(self, x: Tensor, src: Optional[Tensor], w_ih: Tensor,
                 w_hh: Tensor, b_ih: Optional[Tensor], b_hh: Optional[Tensor],
                 first_step_rows: int):
        hidden = w_hh.size(1)
        zero = w_ih.new_zeros(hidden, w_ih.size(1))
        self.weight_t = torch.cat([w_ih[:2 * hidden], zero,
                                   2 * w_ih[2 * hidden:]]).t()
        self.w_hh_t = (2 * w_hh).t()
        bias = w_ih.new_zeros(4 * hidden)
        if b_ih is not None:
            bias[:2 * hidden] += b_ih[:2 * hidden]
            bias[3 * hidden:] += 2 * b_ih[2 * hidden:]
        if b_hh is not None:
            bias[:3 * hidden] += b_hh
        later = bias.clone()
        later[:3 * hidden] -= w_hh.sum(1)
        self.bias = (bias, later)
        self.first = first_step_rows
        self.x, self.src = x, src
        self.hoisted = src is not None and x.size(0) < src.numel()
        if self.hoisted:
            # Project each row of `x` once, then gather the projections
            # (node features are read by every out-edge); one (N, 4H)
            # table, the biases added per chunk.
            self.x = x.mm(self.weight_t)

    def fill(self, rows: slice, out: Tensor) -> None:
        r"""Writes the gate rows of the packed rows :obj:`rows` to
        :obj:`out`."""
        for part in (slice(rows.start, min(rows.stop, self.first)),
                     slice(max(rows.start, self.first), rows.stop)):
            later = int(part.start >= self.first)
            for sub in _chunks(part.start, part.stop):
                dst = out[sub.start - rows.start:sub.stop - rows.start]
                if self.hoisted:
                    torch.index_select(self.x, 0, self.src[sub], out=dst)
                    dst.add_(self.bias[later])
                    continue
                xs = self.x[sub] if self.src is None else \
                    self.x.index_select(0, self.src[sub])
                torch.addmm(self.bias[later], xs, self.weight_t, out=dst)


def _step(g_t: Tensor, u_prev: Tensor, out: Tensor,
          w_hh_t: Optional[Tensor], hidden: int) -> None:
    r"""One GRU step on the gate rows :obj:`g_t` (see :class:`_Gates`)."""
    if w_hh_t is not None:
        g_t[:, :3 * hidden].addmm_(u_prev, w_hh_t)
    g_t[:, :2 * hidden].sigmoid_()
    r, z, ghn, s = g_t.view(-1, 4, hidden).unbind(1)
    s.addcmul_(r, ghn, value=2).sigmoid_()
    torch.lerp(s, u_prev, z, out=out)


def _recurrence(gates: _Gates, layout: PackedLayout, g: Optional[Tensor],
                u: Optional[Tensor]) -> Tensor:
    r"""Runs the steps. With :obj:`g` of shape :obj:`[num_packed, 4 * H]`,
    all gate rows are computed up front and kept, and the state :math:`u`
    after every row is written to :obj:`u`. Without, gate rows are computed
    in a small window just before their step and only one state row per
    sequence is kept, so inference needs :math:`O(|\mathcal{V}| \cdot H)`
    memory beyond the input. Large steps run in blocks of :obj:`CHUNK`
    rows, so that the five ops of a step find their rows in cache. Returns
    the final :math:`u` per sequence, in packed order."""
    w_hh_t = gates.w_hh_t
    hidden = w_hh_t.size(0)
    sizes, offsets = layout.batch_sizes_list, layout.offsets
    num_rows = layout.num_packed
    # The sequences still reading at step t are the prefix [0, sizes[t]).
    state = w_hh_t.new_full((sizes[0], hidden), 0.5)  # h = 0
    saved = [] if u is None else [u]
    ext = _extension(state, gates.w_hh_t, *saved) if g is None else None
    if ext is not None:  # The same loop in C++, one call per window.
        window = w_hh_t.new_empty(min(CHUNK, num_rows), 4 * hidden)
        offsets_t = torch.tensor(offsets)
        weight = w_hh_t.contiguous()
        for start in range(0, num_rows, window.size(0)):
            stop = min(start + window.size(0), num_rows)
            gates.fill(slice(start, stop), window)
            ext.forward_rows(window, start, stop, offsets_t, weight, state, u)
        return state if u is None else u.index_select(0, layout.last_row)
    if g is not None:
        gates.fill(slice(0, num_rows), g)
        window, start, stop = g, 0, num_rows
    else:
        window = w_hh_t.new_empty(min(CHUNK, num_rows), 4 * hidden)
        start, stop = 0, 0
    for t, size in enumerate(sizes):
        offset = offsets[t]
        prev = offsets[t - 1] if t > 0 else 0
        for lo in range(offset, offset + size, CHUNK):
            hi = min(lo + CHUNK, offset + size)
            if hi > stop:  # Slide the window forward.
                start, stop = lo, min(lo + window.size(0), num_rows)
                gates.fill(slice(start, stop), window)
            rank = slice(lo - offset, hi - offset)
            if u is None:
                u_prev = out = state[rank]
            else:
                out = u[lo:hi]
                u_prev = state[rank] if t == 0 else \
                    u[prev + rank.start:prev + rank.stop]
            _step(window[lo - start:hi - start], u_prev, out,
                  w_hh_t if t > 0 else None, hidden)
    if u is None:
        return state
    return u.index_select(0, layout.last_row)


def gru_layer(
    x: Tensor,
    src: Optional[Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Optional[Tensor],
    b_hh: Optional[Tensor],
    layout: PackedLayout,
    sequence: bool,
    save: bool = False,
) -> Tuple[Tensor, Optional[Tensor]]:
    r"""Forward pass of one direction of one GRU layer, without autograd.

    Returns the hidden state after every packed row (if :obj:`sequence`) or
    the final state of every sequence; and, if :obj:`save`, :math:`u =
    (h + 1) / 2` after every packed row: the only per-row tensor the
    backward reads (it recomputes the gates from it, chunk by chunk)."""
    num_rows, hidden = layout.num_packed, w_hh.size(1)
    gates = _Gates(x, src, w_ih, w_hh, b_ih, b_hh, layout.batch_sizes_list[0])
    u = None
    if save or sequence:
        u = x.new_empty(num_rows, hidden)
    with record_function('GRULayer.forward.steps'):
        final = _recurrence(gates, layout, None, u)
    out = u if sequence else final
    return torch.sub(out, 0.5).mul_(2), (u if save else None)  # h = 2u - 1


def gru_layer_backward(
    grad_out: Tensor,
    x: Tensor,
    src: Optional[Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Optional[Tensor],
    b_hh: Optional[Tensor],
    u: Tensor,
    layout: PackedLayout,
    sequence: bool,
    needs: Tuple[bool, ...] = (True, ) * 5,
) -> Tuple[Optional[Tensor], ...]:
    r"""The gradients of :func:`gru_layer` with respect to :obj:`(x, w_ih,
    w_hh, b_ih, b_hh)` (:obj:`None` where :obj:`needs` is :obj:`False` or
    the input is :obj:`None`), from the states :obj:`u` that the forward
    saved. :obj:`grad_out` has the shape of the forward's output: one row
    per packed row (:obj:`sequence`) or per sequence, in packed order."""
    hidden = w_hh.size(1)
    num_rows = layout.num_packed
    sizes, offsets = layout.batch_sizes_list, layout.offsets
    gates = _Gates(x, src, w_ih, w_hh, b_ih, b_hh, sizes[0])
    acc = InputGrads(x, src, w_ih, needs[0], needs[1])
    grad_w_hh = w_hh.new_zeros(w_hh.shape)
    grad_b_hh = w_hh.new_zeros(3 * hidden)
    # With w_aug = [W_hh; I], one GEMM per step back-propagates through the
    # three hidden projections and the direct path z h.
    w_aug = torch.cat([w_hh, torch.eye(hidden, dtype=w_hh.dtype,
                                       device=w_hh.device)])
    # The gradient of the state each sequence holds at the current step
    # (ranks in packed order): the final states' gradient to begin with.
    if sequence:
        dh_state = grad_out.new_zeros(sizes[0], hidden)
    else:
        dh_state = grad_out.to(u.dtype, copy=True)
    chunk = min(CHUNK, num_rows)
    g = u.new_empty(chunk, 4 * hidden)
    c = u.new_empty(chunk, 4 * hidden)
    a = u.new_empty(chunk, hidden)
    dh = u.new_empty(chunk, hidden)
    u_prev = u.new_empty(chunk, hidden)
    step = len(sizes) - 1
    ext = _extension(u, dh_state, grad_out, w_aug)
    offsets_t = torch.tensor(offsets) if ext is not None else None
    for hi in range(num_rows, 0, -chunk):
        lo = max(hi - chunk, 0)
        n = hi - lo
        with record_function('GRULayer.backward.recompute'):
            # The C++ loop fuses the activations and the gate derivatives
            # into its steps.
            _recompute(gates, u, layout, slice(lo, hi), g[:n], u_prev[:n],
                       activate=ext is None)
            if ext is None:
                _gate_derivatives(g[:n], u_prev[:n], c[:n], a[:n])
        with record_function('GRULayer.backward.steps'):
            if ext is not None:
                step = ext.backward_rows(g, u_prev, c, a, dh_state,
                                         grad_out.contiguous() if sequence
                                         else None, w_aug, offsets_t, lo, hi,
                                         step)
            else:
                step = _backward_steps(c, a, dh, dh_state, grad_out, w_aug,
                                       layout, slice(lo, hi), step, sequence)
        # Now c[:, :3H] = d(W_h h + b_h). Accumulate the hidden weight
        # gradients, then overwrite its third block with d(pre-n) = dh a,
        # which makes c[:, :3H] the gradient of the input gates W_i x + b_i.
        # b_hr and b_hz act like b_ir and b_iz: they share their gradients.
        with record_function('GRULayer.backward.weight_grads'):
            grad_gh = c[:n, :3 * hidden]
            if needs[2]:
                grad_w_hh.addmm_(grad_gh.t(), u_prev[:n].mul_(2).sub_(1))
            grad_b_hh += grad_gh.sum(0)
            grad_gh[:, 2 * hidden:] = a[:n]
            acc.add(slice(lo, hi), grad_gh)
    grad_x, grad_w_ih, grad_b_ih = acc.result()
    return (grad_x if needs[0] else None,
            grad_w_ih if needs[1] else None,
            grad_w_hh if needs[2] else None,
            grad_b_ih if needs[3] and b_ih is not None else None,
            grad_b_hh if needs[4] and b_hh is not None else None)


def _backward_steps(c: Tensor, a: Tensor, dh: Tensor, dh_state: Tensor,
                    grad_out: Tensor, w_aug: Tensor, layout: PackedLayout,
                    rows: slice, step: int, sequence: bool) -> int:
    r"""The steps :math:`dh_t \mapsto dh_{t-1}` over the chunk of packed
    rows :obj:`rows`, from step :obj:`step` down (the Python loop that
    :obj:`ops/gru/csrc/gru_cpu.cpp`'s :obj:`backward_rows` replaces). On entry
    :obj:`c` and :obj:`a` hold the gate derivatives per unit :math:`dh`;
    on exit they are multiplied by :math:`dh` (:obj:`a` becomes d(pre-n)).
    Returns the step to continue with in the next (earlier) chunk."""
    hidden = dh.size(1)
    sizes, offsets = layout.batch_sizes_list, layout.offsets
    lo, hi = rows.start, rows.stop
    while step >= 0 and offsets[step] + sizes[step] > lo:
        # The rows of `step` inside [lo, hi), as ranks.
        r0 = max(offsets[step], lo)
        r1 = min(offsets[step] + sizes[step], hi)
        k0, k1 = r0 - offsets[step], r1 - offsets[step]
        dh_t = dh[r0 - lo:r1 - lo]
        if sequence:
            torch.add(dh_state[k0:k1], grad_out[r0:r1], out=dh_t)
        else:
            dh_t.copy_(dh_state[k0:k1])
        c_t = c[r0 - lo:r1 - lo]
        c_t.view(-1, 4, hidden).mul_(dh_t.unsqueeze(1))
        if step > 0:
            torch.mm(c_t, w_aug, out=dh_state[k0:k1])
        if offsets[step] < lo:  # It continues in the next chunk.
            break
        step -= 1
    a[:hi - lo].mul_(dh[:hi - lo])
    return step


def _u_prev(u: Tensor, layout: PackedLayout, rows: slice,
            out: Tensor) -> Tensor:
    r"""Writes :math:`u` before each of the packed rows :obj:`rows` to
    :obj:`out`: 1/2 (h = 0) on the first step, which occupies the rows
    :obj:`[0, batch_sizes[0])`."""
    lo = min(max(rows.start, layout.batch_sizes_list[0]), rows.stop)
    out[:lo - rows.start].fill_(0.5)
    torch.index_select(u, 0, layout.prev_rows(lo, rows.stop),
                       out=out[lo - rows.start:])
    return out


def _recompute(gates: _Gates, u: Tensor, layout: PackedLayout, rows: slice,
               g: Tensor, u_prev: Tensor, activate: bool = True) -> None:
    r"""Rebuilds the gate rows :obj:`[r, z, W_hn h + b_hn, s]` of the
    packed rows :obj:`rows` into :obj:`g`, and their previous states into
    :obj:`u_prev`, from the saved states :obj:`u`: what the forward's steps
    computed, with one GEMM for all of them. Without :obj:`activate`, the
    gate rows are left as the step GEMM leaves them, before the
    activations."""
    hidden = u.size(1)
    gates.fill(rows, g)
    _u_prev(u, layout, rows, u_prev)
    later = max(gates.first - rows.start, 0)  # Rows past the first step.
    if later < g.size(0):
        g[later:, :3 * hidden].addmm_(u_prev[later:], gates.w_hh_t)
    if not activate:
        return
    g[:, :2 * hidden].sigmoid_()
    r, _, ghn, s = g.view(-1, 4, hidden).unbind(1)
    s.addcmul_(r, ghn, value=2).sigmoid_()


def _gate_derivatives(g: Tensor, u_prev: Tensor, c: Tensor,
                      a: Tensor) -> None:
    r"""Every factor of the backward that does not depend on the incoming
    gradient, per unit :math:`dh`, from the gate rows :obj:`g`: the
    columns of :obj:`c` become d(pre-r), d(pre-z), d(W_hn h + b_hn) and the
    direct d(h_prev) = z; :obj:`a` becomes d(pre-n). With :math:`n = 2s -
    1` and :math:`h_{prev} = 2 u_{prev} - 1`: :math:`1 - n^2 = 4 s (1 -
    s)` and :math:`h_{prev} - n = 2 (u_{prev} - s)`."""
    hidden = a.size(1)
    r, z, ghn, s = g.view(-1, 4, hidden).unbind(1)
    c_r, c_z, c_n, c_h = c.view(-1, 4, hidden).unbind(1)
    torch.addcmul(s, s, s, value=-1, out=a)  # s (1 - s)
    a.addcmul_(a, z, value=-1).mul_(4)
    torch.mul(a, r, out=c_n)
    torch.mul(c_n, ghn, out=c_r)
    c_r.addcmul_(c_r, r, value=-1)
    torch.sub(u_prev, s, out=c_z).mul_(torch.addcmul(z, z, z, value=-1))
    c_z.mul_(2)
    c_h.copy_(z)
