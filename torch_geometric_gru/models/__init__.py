r"""PyG :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` models built
from the GRU layers."""
from torch_geometric_gru.models.graphsage import GRUGraphSAGE
from torch_geometric_gru.models.gru_gnn import GRUGNN

__all__ = ['GRUGNN', 'GRUGraphSAGE']
