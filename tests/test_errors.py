r"""Every misuse of the public API a user can make, in one table: the error
type, and a message that names the argument (and, where there is one, the
fix). Each row is one call; the inputs around it are valid."""
import pytest
import torch
from torch_geometric.data import Data, HeteroData

from torch_geometric_gru import (
    GRUAggregation,
    GRUConv,
    GRUGraphSAGE,
    MinGRUAggregation,
    PackedLayout,
    edge_order,
)
from torch_geometric_gru.transforms import ShuffleNeighbors, SortNeighbors

X = torch.randn(3, 4)
EDGE_INDEX = torch.tensor([[0, 1, 2, 0], [1, 2, 0, 2]])
INDEX = torch.tensor([0, 0, 1])

pytestmark = pytest.mark.filterwarnings(
    'ignore:Sparse CSR tensor support is in beta')


def conv(*args, **kwargs):
    return GRUConv(4, 8)(*args, **kwargs)


def aggr(*args, **kwargs):
    return GRUAggregation(4, 8)(*args, **kwargs)


def mingru(*args, **kwargs):
    return MinGRUAggregation(4, 8)(*args, **kwargs)


def _decomposed(num):
    layer = GRUConv(4, 8)
    layer.decomposed_layers = num
    return layer


def sage(*args, **kwargs):
    return GRUGraphSAGE(4, 8, num_layers=2)(*args, **kwargs)


def graph(**kwargs):
    return Data(x=X, edge_index=EDGE_INDEX, **kwargs)


def adj_t(num_dst, num_src, layout=torch.sparse_csr):
    # PyG's transposed adjacency: rows are destinations.
    adj = torch.sparse_coo_tensor(EDGE_INDEX.flip(0), torch.ones(4),
                                  (num_dst, num_src))
    return adj.to_sparse_csr() if layout == torch.sparse_csr else adj


def sparse_tensor(num_dst, num_src):
    torch_sparse = pytest.importorskip('torch_sparse')
    return torch_sparse.SparseTensor(row=EDGE_INDEX[1], col=EDGE_INDEX[0],
                                     sparse_sizes=(num_dst, num_src))


MISUSES = [
    # GRUConv: construction.
    ('conv-in-channels-zero', lambda: GRUConv(0, 8), ValueError,
     "'in_channels' must be a positive integer or -1"),
    ('conv-in-channels-negative', lambda: GRUConv(-2, 8), ValueError,
     "'in_channels' must be a positive integer"),
    ('conv-in-channels-str', lambda: GRUConv('4', 8), ValueError,
     "'in_channels' must be a positive integer"),
    ('conv-in-channels-pair', lambda: GRUConv((4, 0), 8), ValueError,
     "'in_channels' must be a positive integer"),
    ('conv-out-channels-zero', lambda: GRUConv(4, 0), ValueError,
     "'out_channels' must be a positive integer"),
    ('conv-out-channels-float', lambda: GRUConv(4, 8.0), ValueError,
     "'out_channels' must be a positive integer"),
    ('conv-edge-dim-zero', lambda: GRUConv(4, 8, edge_dim=0), ValueError,
     "'edge_dim' must be a positive integer"),
    ('conv-num-layers-zero', lambda: GRUConv(4, 8, num_layers=0), ValueError,
     "'num_layers' must be a positive integer"),
    ('conv-num-layers-float', lambda: GRUConv(4, 8, num_layers=1.5),
     ValueError, "'num_layers' must be a positive integer"),
    ('conv-bidirectional-str', lambda: GRUConv(4, 8, bidirectional='yes'),
     TypeError, "'bidirectional' must be True or False"),
    ('conv-dropout', lambda: GRUConv(4, 8, dropout=2.0), ValueError,
     'dropout should be a number in range'),
    ('conv-cell', lambda: GRUConv(4, 8, cell='lstm'), ValueError,
     "'cell' must be 'gru' or 'mingru'"),
    ('conv-kernel', lambda: GRUConv(4, 8, kernel='cuda'), ValueError,
     "'kernel' must be one of"),
    ('conv-mingru-kernel', lambda: GRUConv(4, 8, cell='mingru',
                                           kernel='native'),
     ValueError, "drop them for cell='mingru'"),
    ('conv-mingru-checkpoint', lambda: GRUConv(4, 8, cell='mingru',
                                               checkpoint=True),
     ValueError, "'kernel' and 'checkpoint' are options of cell='gru'"),
    ('aggr-checkpoint-cudnn',
     lambda: GRUAggregation(4, kernel='cudnn', checkpoint=True), ValueError,
     "kernel='cudnn' keeps its own states"),
    ('aggr-checkpoint-type', lambda: GRUAggregation(4, checkpoint='yes'),
     TypeError, "'checkpoint' must be True or False"),
    ('edge-order-not-data', lambda: edge_order(EDGE_INDEX), TypeError,
     "'data' must be a Data object or an edge store"),
    ('conv-positional-encoding',
     lambda: GRUConv(4, 8, positional_encoding='sin'), ValueError,
     "'positional_encoding' must be None, 'sinusoidal' or 'learned'"),
    ('conv-learned-without-max-length',
     lambda: GRUConv(4, 8, positional_encoding='learned'), ValueError,
     'pass max_length'),
    ('conv-num-permutations', lambda: GRUConv(4, 8, num_permutations=0),
     ValueError, "'num_permutations' must be a positive integer"),
    ('conv-max-length', lambda: GRUConv(4, 8, max_length=0), ValueError,
     "'max_length' must be a positive integer or None"),
    ('conv-shuffle-str', lambda: GRUConv(4, 8, shuffle='yes'), TypeError,
     "'shuffle' must be True or False"),
    ('conv-seed-str', lambda: GRUConv(4, 8, seed='a'), TypeError,
     "'seed' must be an int or None"),
    ('conv-seed-float', lambda: GRUConv(4, 8, seed=1.5), TypeError,
     "'seed' must be an int or None"),
    ('conv-aggr', lambda: GRUConv(4, 8, aggr='mean'), TypeError,
     "use 'GRUAggregation' as 'aggr='"),
    ('conv-decomposed-layers', lambda: GRUConv(4, 8, decomposed_layers=2),
     ValueError, "drop 'decomposed_layers'"),

    # GRUConv: node features.
    ('conv-x-list', lambda: conv([[1.0] * 4] * 3, EDGE_INDEX), TypeError,
     "'x' must be a tensor of node features or a pair"),
    ('conv-x-numpy', lambda: conv(X.numpy(), EDGE_INDEX), TypeError,
     "'x' must be a tensor of node features or a pair"),
    ('conv-x-meta', lambda: conv(X.to('meta'), EDGE_INDEX), ValueError,
     "'x' is on the meta device.*real device"),
    ('conv-x-int', lambda: conv(X.long(), EDGE_INDEX), TypeError,
     r"'x' must be a floating-point tensor.*x.float\(\)"),
    ('conv-x-double', lambda: conv(X.double(), EDGE_INDEX), TypeError,
     r"'x' is torch.float64 but the layer's parameters are torch.float32"),
    ('conv-x-1d', lambda: conv(X[:, 0], EDGE_INDEX), ValueError,
     "'x' must be a 2-D tensor"),
    ('conv-x-width', lambda: conv(torch.randn(3, 5), EDGE_INDEX), ValueError,
     "'x' has 5 features per row but the layer was built with "
     "in_channels=4"),
    ('conv-x-destination-meta', lambda: GRUConv((4, 4), 8)(
        (X, X.to('meta')), EDGE_INDEX), ValueError,
     "'x' is on the meta device"),
    ('conv-edge-weight-meta', lambda: conv(
        X, EDGE_INDEX, edge_weight=torch.ones(4, device='meta')),
     ValueError, "'edge_weight' is on the meta device"),
    ('conv-x-no-destination', lambda: conv((X, None), EDGE_INDEX),
     ValueError, "'x' has no destination features"),

    # GRUConv: edges.
    ('conv-edge-index-list', lambda: conv(X, EDGE_INDEX.tolist()), TypeError,
     "'edge_index' must be a \\[2, num_edges\\] tensor"),
    ('conv-edge-index-float', lambda: conv(X, EDGE_INDEX.float()), TypeError,
     r"'edge_index' must hold integer node indices.*edge_index.long\(\)"),
    ('conv-edge-index-1d', lambda: conv(X, EDGE_INDEX[0]), ValueError,
     r"'edge_index' must have shape \[2, num_edges\]"),
    ('conv-edge-index-meta', lambda: conv(X, EDGE_INDEX.to('meta')),
     ValueError, "'edge_index' is on the meta device"),
    ('conv-edge-index-negative', lambda: conv(X, -EDGE_INDEX), ValueError,
     r"'edge_index\[0\]' contains the negative entry"),
    ('conv-edge-index-out-of-range', lambda: conv(X, EDGE_INDEX + 5),
     ValueError, r"'edge_index\[0\]' contains the entry 7.*num_src_nodes"),
    ('conv-csr-wrong-shape', lambda: conv(X, adj_t(5, 5)), ValueError,
     r"'edge_index' is a sparse adjacency \(adj_t\) of shape \[5, 5\].*"
     r"build adj_t with shape \[3, 3\]"),
    ('conv-coo-wrong-source-count', lambda: conv(X, adj_t(3, 4, None)),
     ValueError, r"'edge_index' is a sparse adjacency \(adj_t\) of shape "
     r"\[3, 4\]"),
    ('conv-sparse-tensor-wrong-shape', lambda: conv(X, sparse_tensor(5, 5)),
     ValueError, r"'edge_index' is a sparse adjacency \(adj_t\) of shape "
     r"\[5, 5\]"),
    ('conv-size-mismatch-sparse', lambda: conv(X, adj_t(3, 3), size=(4, 4)),
     ValueError, "'size' \\(4, 4\\) does not match the sparse adjacency"),
    ('conv-size-not-integers', lambda: conv(X, EDGE_INDEX, size=(3., 3)),
     TypeError, r"'size' must hold integers or None"),
    ('conv-edge-weight-dtype', lambda: conv(
        X, EDGE_INDEX, edge_weight=torch.ones(4, dtype=torch.double)),
     TypeError, "'edge_weight' is torch.float64 but the layer's parameters"),
    ('conv-edge-attr-dtype', lambda: GRUConv(4, 8, edge_dim=2)(
        X, EDGE_INDEX, torch.ones(4, 2, dtype=torch.double)),
     TypeError, "'edge_attr' is torch.float64 but the layer's parameters"),
    ('conv-decomposed-after-construction', lambda: _decomposed(2)(
        X, EDGE_INDEX), ValueError, "set 'decomposed_layers = 1'"),
    ('conv-size-int', lambda: conv(X, EDGE_INDEX, size=3), TypeError,
     r"'size' must be a pair \(num_src_nodes, num_dst_nodes\)"),
    ('conv-size-negative', lambda: conv(X, EDGE_INDEX, size=(-1, 3)),
     ValueError, r"'size\[0\]' is -1 but 'x' has 3 source nodes"),
    ('conv-size-destinations', lambda: conv(X, EDGE_INDEX, size=(3, 2)),
     ValueError, r"'size\[1\]' is 2 but 'x' has 3 destination nodes; pass"),
    ('conv-edge-attr-without-edge-dim',
     lambda: conv(X, EDGE_INDEX, edge_attr=torch.randn(4, 2)), ValueError,
     "'edge_attr' was given but the layer has no edge features; build it "
     "with edge_dim=2"),
    ('conv-edge-attr-missing', lambda: GRUConv(4, 8, edge_dim=2)(
        X, EDGE_INDEX), ValueError, "got no 'edge_attr'"),
    ('conv-edge-attr-list', lambda: GRUConv(4, 8, edge_dim=2)(
        X, EDGE_INDEX, edge_attr=[[1.0, 1.0]] * 4), TypeError,
     "'edge_attr' must be a torch.Tensor"),
    ('conv-edge-attr-rows', lambda: GRUConv(4, 8, edge_dim=2)(
        X, EDGE_INDEX, edge_attr=torch.randn(3, 2)), ValueError,
     "'edge_attr' has 3 rows but 'edge_index' has 4 edges"),
    ('conv-edge-attr-width', lambda: GRUConv(4, 8, edge_dim=2)(
        X, EDGE_INDEX, edge_attr=torch.randn(4, 3)), ValueError,
     "'edge_attr' has 3 features per row but the layer was built with "
     "edge_dim=2"),
    ('conv-edge-weight-shape',
     lambda: conv(X, EDGE_INDEX, edge_weight=torch.rand(5)), ValueError,
     "'edge_weight' must hold one weight per edge"),
    ('conv-edge-weight-int', lambda: conv(
        X, EDGE_INDEX, edge_weight=torch.ones(4, dtype=torch.long)),
     TypeError, "'edge_weight' must be a floating-point tensor"),
    ('conv-edge-weight-list',
     lambda: conv(X, EDGE_INDEX, edge_weight=[1.0] * 4), TypeError,
     "'edge_weight' must be a torch.Tensor"),
    ('conv-order-shape', lambda: conv(X, EDGE_INDEX, order=torch.arange(5)),
     ValueError, "'order' must hold one sort key per element"),
    ('conv-order-list', lambda: conv(X, EDGE_INDEX, order=[0, 1, 2, 3]),
     TypeError, "'order' must be a tensor of one sort key per element"),
    ('conv-order-nan', lambda: conv(
        X, EDGE_INDEX, order=torch.tensor([0.0, float('nan'), 1.0, 2.0])),
     ValueError, "'order' holds non-finite values"),
    ('conv-order-ties', lambda: conv(
        X, EDGE_INDEX, order=torch.tensor([0, 1, 2, 1])), ValueError,
     "'order' has ties within a node"),

    # GRUAggregation.
    ('aggr-in-channels-zero', lambda: GRUAggregation(0, 8), ValueError,
     "'in_channels' must be a positive integer or -1"),
    ('aggr-out-channels-zero', lambda: GRUAggregation(4, 0), ValueError,
     "'out_channels' must be a positive integer"),
    ('aggr-num-layers-zero', lambda: GRUAggregation(4, 8, num_layers=0),
     ValueError, "'num_layers' must be a positive integer"),
    ('aggr-kernel', lambda: GRUAggregation(4, 8, kernel='x'), ValueError,
     "'kernel' must be one of"),
    ('aggr-x-list', lambda: aggr([[1.0] * 4] * 3, INDEX), TypeError,
     "'x' must be a torch.Tensor"),
    ('aggr-x-meta', lambda: aggr(X.to('meta'), INDEX), ValueError,
     "'x' is on the meta device"),
    ('aggr-x-int', lambda: aggr(X.long(), INDEX), TypeError,
     "'x' must be a floating-point tensor"),
    ('aggr-x-width', lambda: aggr(torch.randn(3, 5), INDEX), ValueError,
     "'x' has 5 features per row"),
    ('aggr-x-3d-dim', lambda: aggr(torch.randn(3, 2, 4), INDEX, dim=1),
     ValueError, "'x' must be a 2-D tensor"),
    ('aggr-no-index', lambda: aggr(X), ValueError,
     "needs 'index' .* or 'ptr'"),
    ('aggr-index-list', lambda: aggr(X, [0, 0, 1]), TypeError,
     "'index' must be a torch.Tensor"),
    ('aggr-index-float', lambda: aggr(X, INDEX.float()), TypeError,
     r"'index' must hold integer node indices.*index.long\(\)"),
    ('aggr-index-meta', lambda: aggr(X, INDEX.to('meta')), ValueError,
     "'index' is on the meta device"),
    ('aggr-index-length', lambda: aggr(X, INDEX[:2]), ValueError,
     "'index' must be a 1-D tensor with one entry per row of 'x'"),
    ('aggr-index-negative', lambda: aggr(X, torch.tensor([0, -1, 1])),
     ValueError, "'index' contains the negative entry -1"),
    ('aggr-dim-size-small', lambda: aggr(X, INDEX, dim_size=1), ValueError,
     "'index' contains the entry 1, out of range for dim_size=1; pass "
     "dim_size >= 2"),
    ('aggr-dim-size-negative', lambda: aggr(X, INDEX, dim_size=-1),
     ValueError, "'dim_size' must be non-negative"),
    ('aggr-dim-size-float', lambda: aggr(X, INDEX, dim_size=2.0), TypeError,
     "'dim_size' must be an int"),
    ('aggr-ptr-float', lambda: aggr(X, ptr=torch.tensor([0.0, 2.0, 3.0])),
     TypeError, "'ptr' must hold integer node indices"),
    ('aggr-ptr-end', lambda: aggr(X, ptr=torch.tensor([0, 2])), ValueError,
     "'ptr' must start at 0 and end at the number of rows of 'x'"),
    ('aggr-ptr-decreasing', lambda: aggr(X, ptr=torch.tensor([0, 2, 1, 3])),
     ValueError, "'ptr' must be non-decreasing"),
    ('aggr-dim', lambda: aggr(X, INDEX, dim=1), ValueError,
     "pass dim=0 or dim=-2"),
    ('aggr-max-num-elements', lambda: aggr(X, INDEX, max_num_elements=0),
     ValueError, "'max_num_elements' must be a positive integer"),
    ('aggr-x-index-float', lambda: aggr(X, torch.tensor([0, 0, 1, 1]),
                                        x_index=torch.tensor([0., 1, 2, 2])),
     TypeError, "'x_index' must hold integer node indices"),
    ('aggr-x-index-out-of-range', lambda: aggr(
        X, torch.tensor([0, 0, 1, 1]), x_index=torch.tensor([0, 1, 2, 3])),
     ValueError, r"'x_index' contains the entry 3, out of range for "
     r"x.size\(0\)=3"),
    ('aggr-order-list', lambda: aggr(X, INDEX, order=[0, 1, 2]), TypeError,
     "'order' must be a tensor"),
    ('aggr-order-length', lambda: aggr(X, INDEX, order=torch.arange(2)),
     ValueError, "'order' must hold one sort key per element"),

    ('aggr-max-num-elements-float',
     lambda: aggr(X, INDEX, max_num_elements=1.5), ValueError,
     "'max_num_elements' must be a positive integer"),

    # PackedLayout.
    ('layout-index-list', lambda: PackedLayout([0, 0, 1], 2), TypeError,
     "'index' must be a torch.Tensor"),
    ('layout-index-2d', lambda: PackedLayout(INDEX.view(1, -1), 2),
     ValueError, "'index' must be a 1-D tensor"),
    ('layout-dim-size-float', lambda: PackedLayout(INDEX, 2.0), TypeError,
     "'dim_size' must be an int"),
    ('layout-dim-size-str', lambda: PackedLayout(INDEX, '2'), TypeError,
     "'dim_size' must be an int"),
    ('layout-dim-size-negative', lambda: PackedLayout(INDEX, -1),
     ValueError, "'dim_size' must be non-negative"),
    ('layout-dim-size-small', lambda: PackedLayout(INDEX, 1), ValueError,
     "'index' contains the entry 1, out of range for dim_size=1"),
    ('layout-max-num-elements-float',
     lambda: PackedLayout(INDEX, 2, max_num_elements=1.5), ValueError,
     "'max_num_elements' must be a positive integer"),
    ('layout-order-list', lambda: PackedLayout(INDEX, 2, order=[1, 2, 3]),
     TypeError, "'order' must be a torch.Tensor"),

    # MinGRUAggregation.
    ('mingru-in-channels-zero', lambda: MinGRUAggregation(0, 8), ValueError,
     "'in_channels' must be a positive integer or -1"),
    ('mingru-out-channels-zero', lambda: MinGRUAggregation(4, 0),
     ValueError, "'out_channels' must be a positive integer"),
    ('mingru-seed', lambda: MinGRUAggregation(4, 8, seed='0'), TypeError,
     "'seed' must be an int or None"),
    ('mingru-x-meta', lambda: mingru(X.to('meta'), INDEX), ValueError,
     "'x' is on the meta device"),
    ('mingru-index-float', lambda: mingru(X, INDEX.float()), TypeError,
     "'index' must hold integer node indices"),
    ('mingru-x-width', lambda: mingru(torch.randn(3, 5), INDEX), ValueError,
     "'x' has 5 features per row"),

    # GRUGraphSAGE.
    ('sage-hidden-zero', lambda: GRUGraphSAGE(4, 0, num_layers=2),
     ValueError, "'hidden_channels' must be a positive integer"),
    ('sage-num-layers-zero', lambda: GRUGraphSAGE(4, 8, num_layers=0),
     ValueError, "'num_layers' must be a positive integer"),
    ('sage-in-channels-zero', lambda: GRUGraphSAGE(0, 8, num_layers=2),
     ValueError, "'in_channels' must be a positive integer"),
    ('sage-aggr', lambda: GRUGraphSAGE(4, 8, num_layers=2, aggr='mean'),
     TypeError, "pass its options as 'aggr_kwargs'"),
    ('sage-kernel-outside-aggr-kwargs',
     lambda: GRUGraphSAGE(4, 8, num_layers=2, kernel='native'), TypeError,
     r"'kernel' is an option of every layer's GRUAggregation; pass it as "
     r"aggr_kwargs=dict\(kernel=...\)"),
    ('sage-bidirectional', lambda: GRUGraphSAGE(
        4, 8, num_layers=2, aggr_kwargs=dict(bidirectional=True)),
     ValueError, "drop 'bidirectional'"),
    ('sage-x-meta', lambda: sage(X.to('meta'), EDGE_INDEX), ValueError,
     "'x' is on the meta device"),
    ('sage-x-int', lambda: sage(X.long(), EDGE_INDEX), TypeError,
     "'x' must be a floating-point tensor"),
    ('sage-edge-index-float', lambda: sage(X, EDGE_INDEX.float()),
     ValueError, "'edge_index' to be of integer type"),
    # PyG's SAGEConv checks the range first: an IndexError, PyG's
    # convention, that names 'edge_index' and the valid interval.
    ('sage-edge-index-out-of-range', lambda: sage(X, EDGE_INDEX + 5),
     IndexError, r"'edge_index'.*interval \[0, 3\)"),

    # SortNeighbors.
    ('sort-key-misspelled', lambda: SortNeighbors('degre'), ValueError,
     "'key' 'degre' is not a built-in key; the built-in keys are 'degree', "
     "'id'"),
    ('sort-key-capitalised', lambda: SortNeighbors('ID'), ValueError,
     "the built-in keys are 'degree', 'id'"),
    ('sort-key-int', lambda: SortNeighbors(3), TypeError,
     "'key' must be 'degree', 'id', the name of a node attribute or a "
     "callable"),
    ('sort-descending-str', lambda: SortNeighbors(descending='yes'),
     TypeError, "'descending' must be True or False"),
    ('sort-rank-attr', lambda: SortNeighbors(rank_attr='rank'), ValueError,
     "'rank_attr' must be None or an attribute name that contains 'edge'"),
    ('sort-not-data', lambda: SortNeighbors()(EDGE_INDEX), TypeError,
     "'SortNeighbors' transforms a Data or HeteroData object"),
    ('sort-edge-index-float',
     lambda: SortNeighbors()(Data(x=X, edge_index=EDGE_INDEX.float())),
     TypeError, r"'edge_index' must be an integer tensor.*"
     r"edge_index.long\(\)"),
    ('sort-edge-index-1d',
     lambda: SortNeighbors()(Data(x=X, edge_index=EDGE_INDEX[0])),
     ValueError, r"'edge_index' must have shape \[2, num_edges\]"),
    ('sort-edge-index-three-rows', lambda: SortNeighbors()(
        Data(x=X, edge_index=torch.cat([EDGE_INDEX, EDGE_INDEX[:1]]))),
     ValueError, r"'edge_index' must have shape \[2, num_edges\]"),
    ('sort-edge-index-negative',
     lambda: SortNeighbors()(Data(x=X, edge_index=-EDGE_INDEX)), ValueError,
     r"'edge_index\[0\]' contains the negative entry"),
    ('sort-edge-index-out-of-range',
     lambda: SortNeighbors()(Data(x=X, edge_index=EDGE_INDEX + 5)),
     ValueError, r"'edge_index\[0\]' contains the entry 7"),
    ('sort-edge-attr-rows',
     lambda: SortNeighbors()(graph(edge_attr=torch.randn(3, 2))), ValueError,
     r"'edge_attr' has shape \(3, 2\) but 'edge_index' has 4 edges"),
    ('sort-sparse-adjacency', lambda: SortNeighbors()(
        Data(x=X, adj_t=adj_t(3, 3))), ValueError,
     "apply them before converting it to a sparse adjacency"),
    ('sort-attribute-missing', lambda: SortNeighbors('score')(graph()),
     ValueError, "Cannot sort neighbours by 'score'"),
    ('sort-attribute-list',
     lambda: SortNeighbors('score')(graph(score=[0.0, 1.0, 2.0])),
     TypeError, "node attribute 'score' must give a tensor"),
    ('sort-attribute-length',
     lambda: SortNeighbors('score')(graph(score=torch.rand(2))), ValueError,
     "node attribute 'score' has 2 entries but there are 3 source nodes"),
    ('sort-attribute-2d',
     lambda: SortNeighbors('score')(graph(score=torch.rand(3, 2))),
     ValueError, "node attribute 'score' must hold one score per node"),
    ('sort-attribute-nan', lambda: SortNeighbors('score')(
        graph(score=torch.tensor([0.0, float('nan'), 1.0]))), ValueError,
     "The sort key 'score' holds non-finite values"),
    ('sort-callable-not-tensor', lambda: SortNeighbors(lambda data: 3)(
        graph()), TypeError, "the callable key must give a tensor"),
    ('sort-callable-length',
     lambda: SortNeighbors(lambda data: torch.rand(7))(graph()), ValueError,
     "the callable key has 7 entries but there are 3 source nodes and 4 "
     "edges"),
    ('sort-hetero-attribute-missing', lambda: SortNeighbors('score')(
        _hetero()), ValueError,
     "Cannot sort neighbours by 'score': it is not an attribute of any "
     "source node type"),

    # ShuffleNeighbors.
    ('shuffle-seed-str', lambda: ShuffleNeighbors(seed='a'), TypeError,
     "'seed' must be an int or None"),
    ('shuffle-seed-float', lambda: ShuffleNeighbors(seed=1.5), TypeError,
     "'seed' must be an int or None"),
    ('shuffle-rank-attr', lambda: ShuffleNeighbors(rank_attr=3), ValueError,
     "'rank_attr' must be None or an attribute name"),
    ('shuffle-not-data', lambda: ShuffleNeighbors()(EDGE_INDEX), TypeError,
     "'ShuffleNeighbors' transforms a Data or HeteroData object"),
    ('shuffle-edge-index-1d',
     lambda: ShuffleNeighbors()(Data(x=X, edge_index=EDGE_INDEX[0])),
     ValueError, r"'edge_index' must have shape \[2, num_edges\]"),
    ('shuffle-edge-weight-rows',
     lambda: ShuffleNeighbors()(graph(edge_weight=torch.rand(5))),
     ValueError, r"'edge_weight' has shape \(5,\) but 'edge_index' has 4 "
     r"edges"),
]


def _hetero():
    data = HeteroData()
    data['paper'].x = X
    data['paper', 'cites', 'paper'].edge_index = EDGE_INDEX
    return data


@pytest.mark.parametrize('call,error,match', [row[1:] for row in MISUSES],
                         ids=[row[0] for row in MISUSES])
def test_misuse_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_table_has_unique_ids():
    ids = [row[0] for row in MISUSES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize('key', ['degree', 'id', 'deg', 'idx', 'score',
                                 'degree_centrality'])
def test_attribute_keys_that_resemble_no_builtin_are_accepted(key):
    # Only near-misses of 'degree' and 'id' are refused: other strings name
    # node attributes, checked when the transform is applied.
    assert SortNeighbors(key).key == key


def test_valid_inputs_around_the_misuses():
    # The rows above differ from these calls in one argument only.
    assert conv(X, EDGE_INDEX).shape == (3, 8)
    assert conv(X, adj_t(3, 3)).shape == (3, 8)
    assert conv(X, adj_t(3, 3, None)).shape == (3, 8)
    assert aggr(X, INDEX).shape == (2, 8)
    assert aggr(X, INDEX, dim_size=torch.tensor(3)).shape == (3, 8)
    assert mingru(X, INDEX).shape == (2, 8)
    assert sage(X, EDGE_INDEX).shape == (3, 8)
    assert SortNeighbors()(graph(edge_attr=torch.randn(4, 2))).num_edges == 4
    assert ShuffleNeighbors(seed=0)(graph()).num_edges == 4
    GRUConv(-1, 8, edge_dim=-1)  # Lazy widths.
    GRUConv(4, 8, shuffle=1, seed=0)
