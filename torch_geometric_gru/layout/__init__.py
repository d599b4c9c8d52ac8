r"""From an index to the packed layout the recurrences read: the stable
grouping of elements by node, :class:`PackedLayout` (nodes by descending
sequence length, the :class:`~torch.nn.utils.rnn.PackedSequence` layout),
the plans built from it (random orders and subsets), the cache a layer
keeps per graph, and the registry that lets an operator find a layout's
cached plans again. No :mod:`torch.nn`, no kernels."""
from torch_geometric_gru.layout.packed import PackedLayout
from torch_geometric_gru.layout.cache import LayoutCache

__all__ = ['PackedLayout', 'LayoutCache']
