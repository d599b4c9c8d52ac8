r"""Independent references for the tests: plain loops over nodes that run
:class:`torch.nn.GRU` on one node's messages at a time."""
from typing import Optional

import torch
from torch import Tensor

# Why the Triton kernels' tests skip, and how to run them: Triton is a
# separate choice (about 1 GB; CUDA builds of torch bring their own).
NO_TRITON = ("needs triton (pip install -e '.[triton]'): on CUDA, or on CPU "
             "in its interpreter (triton >= 3.7 with TRITON_INTERPRET=1, "
             "which tests/conftest.py sets without a GPU)")
# Why the loader tests skip, and how to run them: PyG's loaders need a
# sampler backend, built per torch and CUDA version.
NO_SAMPLER = ("NeighborLoader needs a sampler backend: pip install pyg-lib "
              "-f https://data.pyg.org/whl/torch-${TORCH}+${CUDA}.html "
              "(${TORCH}: torch's version, e.g. 2.8.0; ${CUDA}: cpu, cu126, "
              "...), or torch-sparse from the same index, as PyG's "
              "installation guide says")


def devices():
    r"""The devices to test on: CPU, and CUDA when there is one."""
    out = [torch.device('cpu')]
    if torch.cuda.is_available():
        out.append(torch.device('cuda'))
    return out


def gru_reference(gru: torch.nn.GRU, x: Tensor, index: Tensor,
                  dim_size: Optional[int] = None,
                  max_num_elements: Optional[int] = None) -> Tensor:
    r"""For every node :obj:`i`, runs :obj:`gru` on the rows of :obj:`x`
    with :obj:`index == i`, in the order they stand in :obj:`x`, and
    returns the top layer's final state (both directions concatenated);
    zeros for nodes without rows."""
    num_dirs = 2 if gru.bidirectional else 1
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    rows = []
    for i in range(dim_size):
        seq = x[index == i]
        if max_num_elements is not None:
            seq = seq[:max_num_elements]
        if seq.size(0) == 0:
            rows.append(x.new_zeros(num_dirs * gru.hidden_size))
            continue
        _, h_n = gru(seq.unsqueeze(0))
        rows.append(h_n[-num_dirs:, 0].reshape(-1))
    if not rows:
        return x.new_zeros(0, num_dirs * gru.hidden_size)
    return torch.stack(rows)


def mean_reference(x: Tensor, index: Tensor, dim_size: int) -> Tensor:
    r"""For every node :obj:`i`, the mean of the rows of :obj:`x` with
    :obj:`index == i` (the term :obj:`GRUConv(add_mean=True)` adds); zeros
    for nodes without rows."""
    return torch.stack([
        x[index == i].mean(0) if (index == i).any() else
        x.new_zeros(x.size(1)) for i in range(dim_size)
    ]) if dim_size > 0 else x.new_zeros(0, x.size(1))


def conv_reference(conv, x, edge_index: Tensor, edge_attr=None,
                   edge_weight=None, aggregate=None) -> Tensor:
    r""":class:`GRUConv` written out from its formula: the messages
    :math:`\mathbf{W} \mathbf{x}_j` (plus the projected edge features,
    times the edge weight), read node by node by :func:`gru_reference`
    (or by :obj:`aggregate(msg, index, dim_size)`), both directions mapped
    back, times the learned scale, plus the mean of the messages, the root
    term and the bias, each where the layer has it."""
    x_src, x_dst = (x, x) if torch.is_tensor(x) else x
    msg = conv.lin(x_src)[edge_index[0]]
    if edge_attr is not None:
        msg = msg + conv.lin_edge(edge_attr)
    if edge_weight is not None:
        msg = msg * edge_weight.view(-1, 1)
    num_dst = x_dst.size(0) if x_dst is not None else x_src.size(0)
    if aggregate is None:
        out = gru_reference(conv.aggr_module.gru, msg, edge_index[1],
                            num_dst)
    else:
        out = aggregate(msg, edge_index[1], num_dst)
    if conv.lin_out is not None:
        out = conv.lin_out(out)
    if conv.gru_scale is not None:
        out = out * conv.gru_scale
    if conv.add_mean:  # Node by node, zeros without in-edges.
        out = out + mean_reference(msg, edge_index[1], num_dst)
    if conv.lin_root is not None:
        out = out + conv.lin_root(x_dst)
    if conv.bias is not None:
        out = out + conv.bias
    return out


def hub_graph(num_nodes: int = 12, seed: int = 0):
    r"""A small random graph with a hub, isolated nodes, self-loops,
    multi-edges and an unsorted :obj:`edge_index`."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (40, ), generator=gen)
    dst = torch.randint(0, num_nodes - 3, (40, ), generator=gen)
    hub_src = torch.arange(num_nodes).repeat(2)
    hub_dst = torch.full_like(hub_src, 1)
    edge_index = torch.stack([torch.cat([src, hub_src, torch.tensor([4, 4])]),
                              torch.cat([dst, hub_dst, torch.tensor([4, 4])])])
    perm = torch.randperm(edge_index.size(1), generator=gen)
    return edge_index[:, perm]  # Nodes num_nodes-3.. have no in-edges.
