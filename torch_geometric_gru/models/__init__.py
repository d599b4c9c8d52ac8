r"""PyG :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` models built
from the GRU layers."""
from torch_geometric_gru.models.basic import GRUGNN, GRUGraphSAGE

__all__ = ['GRUGNN', 'GRUGraphSAGE']
