r"""A cache of the last packed layout a layer built, keyed on the content of
the index tensors, so that a static graph is sorted and checked once."""
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru._checks import check_index_dtype, check_index_range
from torch_geometric_gru.layout.registry import register
from torch_geometric_gru.layout.packed import PackedLayout


def cacheable(t: Tensor) -> bool:
    r"""Whether a layout built from :obj:`t` may be cached: not while
    :func:`torch.compile` traces, not for tensors created under
    :func:`torch.inference_mode` (a layout built from them could not be
    saved for a later backward), and not for tensors without storage
    (inside :mod:`torch.func` transforms, fake tensors)."""
    if torch.compiler.is_compiling() or t.is_inference():
        return False
    try:
        t.data_ptr()
    except RuntimeError:  # No storage: a torch.func wrapper, a fake tensor.
        return False
    return True


def _signature(t: Optional[Tensor]) -> Optional[tuple]:
    return None if t is None else (t.device, t.dtype, tuple(t.shape))


class _Entry(NamedTuple):
    key: tuple  # The arguments and the tensors' devices, dtypes, shapes.
    snapshot: Tuple[Optional[Tensor], ...]  # Copies of the index tensors.
    layout: PackedLayout
    rows: Tensor
    validated: bool  # Whether the ranges were checked when it was built.


class LayoutCache:
    r"""Remembers the :class:`PackedLayout` of the last index (or ptr)
    tensor seen, so that a static graph is sorted and checked once.

    A hit requires the same arguments and the same *content*: the cache
    keeps a copy of the index tensors it built the layout from and compares
    them, element by element, with the tensors of every call
    (:func:`torch.equal`, one pass over the edges; measured at under 1% of
    a forward on PubMed). So a layout is never returned for another graph,
    whatever happened to the tensors in between: in-place writes, and also
    writes that PyTorch does not track (through a NumPy or DLPack alias,
    :obj:`.data` or the storage). The entry is replaced as a whole and read
    once per call, so that threads sharing a layer never mix one graph's
    key with another's layout.
    """
    def __init__(self):
        self._entry: Optional[_Entry] = None

    def get(
        self,
        num_elements: int,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        max_num_elements: Optional[int] = None,
        x_index: Optional[Tensor] = None,
        num_rows: Optional[int] = None,
        validate: bool = True,
        order: Optional[Tensor] = None,
    ) -> Tuple[PackedLayout, Tensor]:
        r"""Returns the layout of :obj:`index` (preferred) or :obj:`ptr`
        for :obj:`num_elements` elements, and the row that each packed
        element reads: :obj:`perm`, or :obj:`x_index[perm]` when element
        :obj:`e` is row :obj:`x_index[e]` of an input with :obj:`num_rows`
        rows. Each sequence is read in the order of :obj:`order` if given
        (see :class:`PackedLayout`). Builds them on a miss, and checks the
        ranges of :obj:`index` and :obj:`x_index` unless
        :obj:`validate=False` (the caller checked them)."""
        if index is not None:
            check_index_dtype('index', index)
            if index.dim() != 1 or index.numel() != num_elements:
                per = ("row of 'x'" if x_index is None else
                       "entry of 'x_index'")
                raise ValueError(
                    f"'index' must be a 1-D tensor with one entry per {per} "
                    f"({num_elements}), got shape {tuple(index.shape)}")
            src, kind = index, 'index'
        elif ptr is not None:
            check_index_dtype('ptr', ptr)
            src, kind = ptr, 'ptr'
        else:
            raise ValueError("One of 'index' or 'ptr' must be given")

        tensors = (src, x_index, order)
        cache = all(t is None or cacheable(t) for t in tensors)
        key = (kind, num_elements, dim_size, max_num_elements,
               None if x_index is None else num_rows,
               ) + tuple(_signature(t) for t in tensors)
        entry = self._entry  # Read once: another thread may replace it.
        if cache and entry is not None and entry.key == key and (
                entry.validated or not validate) and all(
                t is None or torch.equal(t, copy)
                for t, copy in zip(tensors, entry.snapshot)):
            return entry.layout, entry.rows

        if cache:  # Built from the copies, so the entry is what it says.
            tensors = tuple(None if t is None else t.clone()
                            for t in tensors)
            src, x_index, order = tensors
        layout, rows = self._build(kind, src, num_elements, dim_size,
                                   max_num_elements, x_index, num_rows,
                                   validate, order)
        if cache:
            self._entry = _Entry(key, tensors, layout, rows, validate)
        return layout, rows

    @staticmethod
    def _build(kind: str, src: Tensor, num_elements: int,
               dim_size: Optional[int], max_num_elements: Optional[int],
               x_index: Optional[Tensor], num_rows: Optional[int],
               validate: bool, order: Optional[Tensor],
               ) -> Tuple[PackedLayout, Tensor]:
        if kind == 'index':
            if dim_size is None:
                dim_size = int(src.max()) + 1 if src.numel() > 0 else 0
            layout = PackedLayout(src, dim_size, max_num_elements, validate,
                                  order)
        else:
            if dim_size is not None and dim_size != src.numel() - 1:
                raise ValueError(f"'dim_size' ({dim_size}) must equal "
                                 f"'ptr.numel() - 1' ({src.numel() - 1})")
            layout = PackedLayout.from_ptr(src, num_elements,
                                           max_num_elements, order)
        register(layout)  # Found again by the operators it is passed to.
        rows = layout.perm
        if x_index is not None:
            check_index_dtype('x_index', x_index)
            if x_index.dim() != 1:
                raise ValueError(f"'x_index' must be a 1-D tensor (got "
                                 f"shape {tuple(x_index.shape)})")
            if validate:
                check_index_range('x_index', x_index, num_rows, 'x.size(0)')
            rows = x_index.long().index_select(0, rows)
        return layout, rows

    def clear(self) -> None:
        self.__init__()

    def __getstate__(self) -> dict:
        return {}  # A cache is never saved with a model.

    def __setstate__(self, state: dict) -> None:
        self.__init__()
