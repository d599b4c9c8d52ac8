r"""A cache of the last packed layout a layer built, keyed on the identity
and version of the index tensors, so that a static graph is sorted and
checked once."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_gru._checks import check_index_dtype, check_index_range
from torch_geometric_gru.ops.layout import register
from torch_geometric_gru.packing import PackedLayout


def tensor_key(t: Tensor, *extra) -> Optional[tuple]:
    r"""A key that identifies the content of :obj:`t` as long as :obj:`t`
    itself is kept alive: the same memory (data pointer, shape, strides) and
    an unchanged version counter (any in-place write to :obj:`t` or a view of
    it bumps it). :obj:`None` where that cannot be known: tensors created
    under :func:`torch.inference_mode` (no version counter), tensors seen
    while :func:`torch.compile` traces, and tensors without storage (inside
    :mod:`torch.func` transforms): those are never cached."""
    if torch.compiler.is_compiling() or t.is_inference():
        return None
    try:
        ptr = t.data_ptr()
    except RuntimeError:  # No storage: a torch.func wrapper, a fake tensor.
        return None
    return (t.device, ptr, tuple(t.shape), t.stride(), t._version) + extra


class LayoutCache:
    r"""Remembers the :class:`PackedLayout` of the last index (or ptr)
    tensor seen, so that a static graph is sorted and checked once.

    A hit requires the same content (see :func:`tensor_key`) and the same
    :obj:`dim_size`, :obj:`max_num_elements` and :obj:`x_index`. The cache
    holds references to the tensors of its key, so that their memory cannot
    be freed and reused by another tensor while cached.
    """
    def __init__(self):
        self._key: Optional[tuple] = None
        self._refs: tuple = ()
        self._layout: Optional[PackedLayout] = None
        self._src: Optional[Tensor] = None

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

        key = tensor_key(src, kind, num_elements, dim_size, max_num_elements)
        refs: tuple = (src, )
        for name, extra in (('x_index', x_index), ('order', order)):
            if key is not None and extra is not None:
                extra_key = tensor_key(extra, name, num_rows)
                key = None if extra_key is None else key + extra_key
                refs = refs + (extra, )
        if key is not None and key == self._key:
            return self._layout, self._src  # type: ignore

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
        if key is not None:
            self._key, self._refs = key, refs
            self._layout, self._src = layout, rows
        return layout, rows

    def clear(self) -> None:
        self.__init__()

    def __getstate__(self) -> dict:
        return {}  # A cache is never saved with a model.

    def __setstate__(self, state: dict) -> None:
        self.__init__()
