r"""A pool of large scratch buffers, reused across calls of the CPU kernel.

On Linux, every tensor larger than a few MB gets fresh pages from the OS,
and touching them for the first time costs about as much as a few
elementwise passes over them. A training loop on a static graph asks for
the same buffers at every step; keeping them makes that cost disappear.
"""
import math
import weakref
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor


def _base(t: Tensor) -> Tensor:
    return t if t._base is None else t._base


class Workspace:
    r"""A pool of flat buffers keyed by dtype and device.

    :meth:`empty` hands out a buffer (a free one large enough, else a new
    one); :meth:`release` takes it back at once; :meth:`lend` ties buffers
    that an autograd node saved for its backward to a *sentinel*, an empty
    tensor saved by the same node: autograd drops the sentinel when it frees
    the node's saved tensors (after a backward without
    :obj:`retain_graph=True`, or with the graph), and only then do the
    buffers come back. A buffer is thus never reused while a backward could
    still read it. Under saved-tensor hooks that do not keep the sentinel
    (:func:`torch.utils.checkpoint.checkpoint`), they come back at once:
    the backward then recomputes the forward and its buffers.

    Args:
        max_buffers (int, optional): The number of free buffers kept; the
            smallest are dropped first. (default: :obj:`8`)
    """
    def __init__(self, max_buffers: int = 8):
        self.max_buffers = max_buffers
        self._free: List[Tensor] = []
        self._lent: List[Tuple[weakref.ref, List[Tensor]]] = []

    def empty(self, shape: Sequence[int], dtype: torch.dtype,
              device: torch.device) -> Tensor:
        r"""Returns an uninitialised tensor of the given shape."""
        self._reclaim()
        numel = math.prod(shape)
        best: Optional[int] = None
        for i, buf in enumerate(self._free):
            if (buf.dtype == dtype and buf.device == device
                    and buf.numel() >= numel and
                    (best is None or buf.numel() < self._free[best].numel())):
                best = i
        if best is None:
            flat = torch.empty(numel, dtype=dtype, device=device)
        else:
            flat = self._free.pop(best)
        return flat[:numel].view(*shape)

    def release(self, *tensors: Optional[Tensor]) -> None:
        r"""Returns buffers from :meth:`empty` to the pool."""
        for t in tensors:
            if t is not None:
                self._free.append(_base(t))
        if len(self._free) > self.max_buffers:
            self._free.sort(key=Tensor.numel, reverse=True)
            del self._free[self.max_buffers:]

    def lend(self, sentinel: Tensor, *tensors: Tensor) -> None:
        r"""Returns buffers to the pool once :obj:`sentinel` is freed."""
        self._lent.append((weakref.ref(sentinel),
                           [_base(t) for t in tensors]))

    def _reclaim(self) -> None:
        lent = []
        for ref, bufs in self._lent:
            if ref() is None:
                self.release(*bufs)
            else:
                lent.append((ref, bufs))
        self._lent = lent

    def clear(self) -> None:
        r"""Drops every free buffer."""
        self._free.clear()

    @property
    def nbytes(self) -> int:
        r"""The bytes held by free buffers."""
        return sum(t.numel() * t.element_size() for t in self._free)

    def __getstate__(self) -> dict:
        return {'max_buffers': self.max_buffers}  # Buffers are not saved.

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(free={len(self._free)}, '
                f'lent={len(self._lent)}, nbytes={self.nbytes})')
