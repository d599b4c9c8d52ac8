r"""The registry of the layouts alive in the process, and the type that
carries a layout through an operator's signature.

An operator sees a layout as three index tensors (:class:`LayoutParts`:
fixed shapes, traceable); :func:`lookup` finds the live
:class:`~torch_geometric_gru.PackedLayout` they belong to, with the plans
its kernels built and cached, or rebuilds it from them."""
import weakref
from typing import NamedTuple, Union

from torch import Tensor

from torch_geometric_gru.layout.packed import PackedLayout

# The layouts alive in the process, by the identity of their `perm`: a
# layer's cached layout is found again by the operators it calls, with
# the plans its kernels built. Held weakly: an entry lives as long as the
# layout does (in a layer's cache), never longer.
_LIVE: 'weakref.WeakValueDictionary[int, PackedLayout]' = \
    weakref.WeakValueDictionary()


class LayoutParts(NamedTuple):
    r"""A packed layout as its three index tensors (see
    :meth:`~torch_geometric_gru.PackedLayout.from_parts`)."""
    perm: Tensor
    node_perm: Tensor
    degree: Tensor


def parts(layout: Union[PackedLayout, LayoutParts]) -> LayoutParts:
    r"""The index tensors of :obj:`layout`."""
    if isinstance(layout, PackedLayout):
        return LayoutParts(layout.perm, layout.node_perm, layout.degree)
    return layout


def as_layout(layout: Union[PackedLayout, LayoutParts]) -> PackedLayout:
    r"""The :class:`~torch_geometric_gru.PackedLayout` of :obj:`layout`."""
    if isinstance(layout, PackedLayout):
        return layout
    return lookup(*layout)


def register(layout: PackedLayout) -> PackedLayout:
    r"""Makes :obj:`layout` findable by :func:`lookup` while it lives."""
    _LIVE[id(layout.perm)] = layout
    return layout


def lookup(perm: Tensor, node_perm: Tensor, degree: Tensor) -> PackedLayout:
    r"""The layout whose index tensors are :obj:`(perm, node_perm,
    degree)`: the live one if these are its tensors, else rebuilt from
    them (an :math:`O(|\mathcal{V}|)` pass and one transfer to the host,
    no sort)."""
    layout = _LIVE.get(id(perm))
    if (layout is not None and layout.perm is perm
            and layout.node_perm is node_perm and layout.degree is degree):
        return layout
    return PackedLayout.from_parts(perm, node_perm, degree)
