r"""The GRU graph convolution, a
:class:`~torch_geometric.nn.conv.MessagePassing` layer."""
from torch_geometric_gru.conv.gru_conv import GRUConv

__all__ = ['GRUConv']
