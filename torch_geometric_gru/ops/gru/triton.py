r"""One GRU layer over packed rows as Triton kernels (the CUDA path), with
the contract of :mod:`torch_geometric_gru.ops.gru.cpu`: the same inputs (rows
read through a row index), the same outputs, a hand-written backward that
reads only the states the forward saved.

Tile shape. Sequences are ranked by length, longest first
(:class:`~torch_geometric_gru.PackedLayout`). One program owns a tile of
:obj:`BLOCK_B = 16` consecutive ranks, holds their states as a
:obj:`[16, H]` block, and loops over the steps of its longest sequence; at
step :obj:`t` its rank :obj:`k` reads packed row :obj:`offsets[t] + k` if
:obj:`t < length[k]` and keeps its state otherwise. Tiles never wait for
each other: the sequential depth is the hub's degree, not a global step
count, and no kernel is launched per step.

Forward (:mod:`~torch_geometric_gru.ops.gru.triton_forward`). Per step, a
program computes :math:`W_{hh} h` with three :func:`tl.dot` of
:obj:`[16, H] x [H, H]`, and reads the input projection
:math:`W_{ih} x + b_{ih}` (one GEMM over the rows of :obj:`x` beforehand)
through the row index, so node features read by every out-edge are
projected once per node; inputs with one row per element (messages) are
projected per chunk of steps instead, one launch per chunk, the state
carried between launches. Loads of the next step are issued before the
current step's math. Two variants:

* *resident* (:obj:`H <= 64`): :math:`W_{hh}` and the state stay on chip
  for the whole loop;
* *streamed* (larger :obj:`H`): the state lives in a two-slot buffer in
  global memory (L1/L2) and :math:`W_{hh}` is read in column blocks of
  :obj:`BLOCK_H` at every step, so any :obj:`H` fits; a barrier separates
  the steps.

What is saved. A training forward writes one fp32 state per packed row
(:obj:`[E + 1, H]`, the last row zeros: the state before a first step),
which is also the sequence output; no gates. A no-grad forward writes
only the final state of every sequence (and the state after every row if
the caller wants the sequence output).

Backward (:mod:`~torch_geometric_gru.ops.gru.triton_backward`). The same
tiles in reverse, over :func:`chunks` of steps, last first: one launch per
chunk (the rows of a chunk are contiguous; about :obj:`CHUNK_BYTES` of
per-row buffers), the state gradient of every sequence carried from
launch to launch in a sequence-sized buffer. Per chunk, the gates are
rebuilt from what the forward saved: the states entering the chunk's rows
are gathered and multiplied by :math:`W_{hh}^T` in one GEMM (the hidden
projections, off the sequential path); in the kernel, each step adds the
input projection (read through the row index as in the forward), applies
the gate nonlinearities, writes the gate gradients of its rows to the
chunk's buffer and runs the :math:`dh` chain (three dots with
:math:`W_{hh}`, resident or streamed as in the forward; streamed in column
blocks of :obj:`BLOCK_H_BACKWARD`). The weight
gradients and the input gradient are then GEMMs over the chunk's rows,
accumulated chunk by chunk, as in the CPU kernel. Every buffer beyond the
saved states is sized by a chunk (at least one step) or by the nodes (the
hoisted projection and its gradient); only the input gradient of per-edge
messages is as large as the messages. (Rebuilding the hidden projections
inside the resident kernel instead would keep :math:`W_{hh}` on chip
twice, transposed and not: 200 KB of shared memory per program at
:obj:`H = 64` with 3xTF32 dots, beyond an A100's 164 KB.)

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
:class:`torch.nn.GRU` reference and the CPU kernel. They have not yet been
run on GPU hardware (see the guide's "Compatibility" section).
"""
import bisect
import functools
import os
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.ops.gru.grads import InputGrads, hoisted

try:
    import triton
    TRITON_VERSION = tuple(int(v) for v in triton.__version__.split('.')[:2])
    if TRITON_VERSION < (3, 0):  # pragma: no cover (`input_precision`)
        triton = None
except ImportError:  # pragma: no cover (triton ships with CUDA builds)
    triton = None
    TRITON_VERSION = (0, 0)

if triton is not None:
    from torch_geometric_gru.ops.gru.triton_backward import (
        _backward_resident,
        _backward_streamed,
    )
    from torch_geometric_gru.ops.gru.triton_forward import (
        _forward_resident,
        _forward_streamed,
    )

BLOCK_B = 16  # Sequences per program (the smallest M of tl.dot).
RESIDENT_MAX_H = 64  # Largest padded H whose W_hh stays in registers.
BLOCK_H = 32  # Column (and reduction) block of the streamed variant.
# The streamed backward's (with blocks of 32 it spills 8-24 B, 3xTF32):
BLOCK_H_BACKWARD = 16
PRECISIONS = ('ieee', 'tf32x3', 'tf32')
# Bytes of per-row buffers per launch of the backward (at least one step).
CHUNK_BYTES = 1 << 26


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


@functools.lru_cache(maxsize=None)
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
                   num_warps: Optional[int] = None,
                   backward: bool = False) -> dict:
    r"""The variant and the compile options of the forward (or, if
    :obj:`backward`, the backward) kernels for the hidden size
    :obj:`hidden`: chosen so that no variant spills registers on
    sm_80/sm_90 with the default precision (see
    :obj:`benchmarks/triton_resources.py`). :obj:`block` (sequences per
    program) and :obj:`num_warps` override the defaults (for tuning)."""
    h_pad = _pad(hidden)
    options = dict(BLOCK=block or BLOCK_B, H_PAD=h_pad)
    if h_pad > RESIDENT_MAX_H:
        block_cols = BLOCK_H_BACKWARD if backward else BLOCK_H
        options.update(BLOCK_COLS=min(block_cols, h_pad), num_warps=8,
                       num_stages=1)
    else:
        # At H = 32 the forward spills 8 B with 4 warps, the backward
        # 8-16 B with 8 (3xTF32).
        small = h_pad <= (32 if backward else 16)
        options.update(num_warps=4 if small else 8)
    if num_warps is not None:
        options['num_warps'] = num_warps
    return options


def _launch(backward: bool, hidden: int, num_seq: int, args: list,
            scalars: list, flags: dict, state: Optional[Tensor] = None,
            ) -> None:
    r"""Launches the resident or the streamed forward (or backward)
    kernel over the tiles of the first :obj:`num_seq` ranks: :obj:`args`
    are the pointers, :obj:`scalars` the integers; the streamed kernel
    also gets :obj:`state` (its two slots per sequence) after the
    pointers and its slot stride last."""
    options = launch_options(hidden, backward=backward)
    num_tiles = triton.cdiv(num_seq, options['BLOCK'])
    if num_tiles == 0:
        return
    resident, streamed = ((_backward_resident, _backward_streamed)
                          if backward else
                          (_forward_resident, _forward_streamed))
    if 'BLOCK_COLS' in options:
        streamed[(num_tiles, )](*args, state, *scalars, state.stride(0),
                                **flags, **options)
    else:
        resident[(num_tiles, )](*args, *scalars, **flags, **options)


def _state(layout: PackedLayout, hidden: int, device) -> Optional[Tensor]:
    r"""The two slots of state per sequence of the streamed kernels
    (:obj:`None` for the resident ones), zeros."""
    options = launch_options(hidden)
    if 'BLOCK_COLS' not in options:
        return None
    num_tiles = triton.cdiv(layout.num_sequences, options['BLOCK'])
    return torch.zeros(2, num_tiles * options['BLOCK'], options['H_PAD'],
                       device=device)


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
) -> Tuple[Tensor, Optional[Tensor]]:
    r"""Forward pass of one direction of one GRU layer, without autograd.

    Packed row :obj:`p` reads :obj:`x[src[p]]` (:obj:`x[p]` if :obj:`src`
    is :obj:`None`). Returns the state after every packed row (if
    :obj:`sequence`) or the final state of every sequence, in packed order
    and :obj:`x.dtype`; and, if :obj:`save`, what :func:`backward` reads:
    the fp32 state after every row, with a row of zeros appended (the
    state before a first step)."""
    lengths, offsets_dev = _plan(layout)
    num_rows, hidden = layout.num_packed, w_hh.size(1)
    device = x.device
    precision = precision or dot_precision(device)
    offsets = layout.offsets

    store_h = save or sequence
    h_buf = torch.empty((num_rows + 1 if store_h else 1), hidden,
                        device=device)
    h_buf[-1].zero_()
    # The state of every sequence after each launch (h = 0 before).
    final = torch.zeros(layout.num_sequences, hidden, device=device)
    state = _state(layout, hidden, device)
    dummy = lengths  # Any tensor, for pointers a kernel never reads.
    w_hh_c = w_hh.contiguous()
    b_hh_c = dummy if b_hh is None else b_hh.contiguous()
    flags = dict(HAS_BIAS=b_hh is not None, STORE_H=store_h,
                 PRECISION=precision)
    is_hoisted = hoisted(x, src)
    if is_hoisted:  # One launch over the projections of x's rows.
        plan = [(0, layout.num_steps)]
        gi = torch.nn.functional.linear(x, w_ih, b_ih).contiguous()
    else:  # Per chunk of steps, the projections of its rows.
        plan = chunks(layout, hidden)[::-1]
    for lo, hi in plan:
        if not is_hoisted:
            gi = _projection(x, src, w_ih, b_ih,
                             slice(offsets[lo], offsets[hi]))[1]
        args = [gi, gi.stride(0), src if is_hoisted else dummy, w_hh_c,
                b_hh_c, lengths, offsets_dev, h_buf, final]
        _launch(False, hidden, layout.batch_sizes_list[lo], args,
                [layout.num_sequences, hidden, lo, hi, offsets[lo]],
                dict(flags, HAS_SRC=is_hoisted), state)
    out = h_buf[:num_rows] if sequence else final
    return out.to(x.dtype), (h_buf if save else None)


def _projection(x: Tensor, src: Optional[Tensor], w_ih: Tensor,
                b_ih: Optional[Tensor], rows: slice) -> Tuple[Tensor, Tensor]:
    r"""The inputs of the packed rows :obj:`rows` and their projections
    :math:`W_{ih} x + b_{ih}`."""
    xs = x[rows] if src is None else x.index_select(0, src[rows])
    return xs, torch.nn.functional.linear(xs, w_ih, b_ih).contiguous()


def chunks(layout: PackedLayout, hidden: int) -> List[Tuple[int, int]]:
    r"""The step ranges :obj:`(t_lo, t_hi)` of the backward's launches,
    last steps first: as many whole steps as fit :obj:`CHUNK_BYTES` of
    per-row buffers (the rows' previous states, hidden projections and
    gate gradients, :obj:`8 H` floats per row), at least one step."""
    offsets = layout.offsets
    rows = max(1, CHUNK_BYTES // (32 * hidden))  # 8 H fp32 per row.
    out, hi = [], layout.num_steps
    while hi > 0:
        lo = bisect.bisect_left(offsets, offsets[hi] - rows, 0, hi - 1)
        out.append((lo, hi))
        hi = lo
    return out


def backward(
    grad_out: Tensor,
    x: Tensor,
    src: Optional[Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Optional[Tensor],
    b_hh: Optional[Tensor],
    h_buf: Tensor,
    layout: PackedLayout,
    sequence: bool,
    needs: Tuple[bool, ...] = (True, ) * 5,
    precision: Optional[str] = None,
) -> Tuple[Optional[Tensor], ...]:
    r"""The gradients of :func:`forward` with respect to :obj:`(x, w_ih,
    w_hh, b_ih, b_hh)` (:obj:`None` where :obj:`needs` is :obj:`False` or
    the input is :obj:`None`), from the states :obj:`h_buf` that it saved.
    :obj:`grad_out` has the shape of the forward's output (one row per
    packed row if :obj:`sequence`, else per sequence, in packed order).

    The kernels run over :func:`chunks` of steps, last first, carrying the
    state gradient of every sequence from one launch to the next; each
    launch recomputes its gates and writes the gate gradients of its rows
    to a chunk-sized buffer, from which the weight and input gradients
    accumulate one GEMM per chunk."""
    lengths, offsets_dev = _plan(layout)
    hidden = w_hh.size(1)
    device = x.device
    precision = precision or dot_precision(device)
    sizes, offsets = layout.batch_sizes_list, layout.offsets
    num_seq = layout.num_sequences
    plan = chunks(layout, hidden)
    acc = _Accumulator(x, src, w_ih, w_hh, needs)
    if sequence:  # The gradient enters at every row.
        grad_rows = grad_out.float().contiguous()
        dh = torch.zeros(num_seq, hidden, device=device)
    else:  # A state's gradient is constant after its last step.
        dh = grad_out.to(torch.float32, copy=True).contiguous()
        grad_rows = dh  # Never read.
    max_rows = max((offsets[hi] - offsets[lo] for lo, hi in plan),
                   default=0)
    dg_buf = torch.empty(max_rows, 4 * hidden, device=device)
    gh_buf = torch.empty(max_rows, 3 * hidden, device=device)
    h_prev_buf = torch.empty(max_rows, hidden, device=device)
    state = _state(layout, hidden, device)
    w_hh_c, w_hh_t = w_hh.contiguous(), w_hh.float().t()
    b_hh_f = None if b_hh is None else b_hh.float()
    for lo, hi in plan:
        r0, r1 = offsets[lo], offsets[hi]
        dg, gh = dg_buf[:r1 - r0], gh_buf[:r1 - r0]
        # The hidden projections of the chunk's rows, one GEMM: the gates
        # are rebuilt in the kernel from them and the input projection.
        h_prev = torch.index_select(h_buf, 0, layout.prev_rows(r0, r1),
                                    out=h_prev_buf[:r1 - r0])
        if b_hh_f is None:
            torch.mm(h_prev, w_hh_t, out=gh)
        else:
            torch.addmm(b_hh_f, h_prev, w_hh_t, out=gh)
        gi, gi_src = acc.projection(slice(r0, r1), b_ih)
        args = [gi, gi.stride(0), lengths if gi_src is None else gi_src, gh,
                w_hh_c, h_buf, grad_rows, dh, lengths,
                offsets_dev, dg]
        flags = dict(HAS_SRC=gi_src is not None, SEQUENCE=sequence,
                     PRECISION=precision)
        _launch(True, hidden, sizes[lo], args, [num_seq, hidden, lo, hi, r0],
                flags, state)
        acc.add(slice(r0, r1), dg, h_prev)
    return acc.result(b_ih, b_hh)


class _Accumulator:
    r"""The input projection that the backward kernels read, and the
    weight and input gradients, accumulated chunk by chunk in fp32 from
    the gate gradients :obj:`[d pre-r, d pre-z, d(W_hn h + b_hn),
    d pre-n]` of packed rows."""
    def __init__(self, x: Tensor, src: Optional[Tensor], w_ih: Tensor,
                 w_hh: Tensor, needs: Tuple[bool, ...]):
        hidden = w_hh.size(1)
        self.x, self.src, self.w_ih, self.needs = x, src, w_ih, needs
        self.w_dtype = (w_ih.dtype, w_hh.dtype)
        self.inputs = InputGrads(x, src, w_ih, needs[0], needs[1],
                                 torch.float32)
        new = functools.partial(torch.zeros, device=x.device)
        self.grad_w_hh = new(3 * hidden, hidden) if needs[2] else None
        self.grad_b_hh = new(3 * hidden)
        self.gi = self.xs = None

    def projection(self, rows: slice, b_ih: Optional[Tensor]):
        r"""The input projection the kernel reads for the packed rows
        :obj:`rows`, and the row index to read it through (:obj:`None`:
        its row :obj:`p - rows.start` for packed row :obj:`p`)."""
        if self.inputs.hoisted:  # Once per node, as in the forward.
            if self.gi is None:
                self.gi = torch.nn.functional.linear(
                    self.x, self.w_ih, b_ih).contiguous()
            return self.gi, self.src
        self.xs, gi = _projection(self.x, self.src, self.w_ih, b_ih, rows)
        return gi, None

    def add(self, rows: slice, dg: Tensor, h_prev: Tensor) -> None:
        r"""Adds the gradients of the packed rows :obj:`rows`, whose gate
        gradients are :obj:`dg` (overwritten) and previous states
        :obj:`h_prev`."""
        hidden = dg.size(1) // 4
        grad_gh = dg[:, :3 * hidden]  # d(W_h h + b_h), per gate.
        if self.grad_w_hh is not None:
            self.grad_w_hh.addmm_(grad_gh.t(), h_prev)
        self.grad_b_hh += grad_gh.sum(0)
        # Now the input gates' gradient [d pre-r, d pre-z, d pre-n]:
        dg[:, 2 * hidden:3 * hidden] = dg[:, 3 * hidden:]
        self.inputs.add(rows, dg[:, :3 * hidden], self.xs)

    def result(self, b_ih: Optional[Tensor], b_hh: Optional[Tensor],
               ) -> Tuple[Optional[Tensor], ...]:
        needs = self.needs
        grad_x, grad_w_ih, grad_b_ih = self.inputs.result()
        w_ih_dtype, w_hh_dtype = self.w_dtype

        def cast(t, dtype, need=True):
            return t.to(dtype) if t is not None and need else None

        return (cast(grad_x, self.x.dtype),
                cast(grad_w_ih, w_ih_dtype),
                cast(self.grad_w_hh, w_hh_dtype),
                cast(grad_b_ih, w_ih_dtype, needs[3] and b_ih is not None),
                cast(self.grad_b_hh, w_hh_dtype,
                     needs[4] and b_hh is not None))
