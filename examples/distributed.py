r"""Data-parallel training of a GRUConv model with
:class:`torch.nn.parallel.DistributedDataParallel` on CPU processes (the
``gloo`` backend): every process holds a replica of the model and the whole
Cora graph, computes the loss on its own share of the training nodes, and
DDP averages the gradients, so the replicas stay identical.

    python examples/distributed.py --world-size 2

``--root`` is a folder holding ``Cora/raw`` (PyG's raw Planetoid files; by
default the copy embedded in ``benchmarks/embedded``); nothing is
downloaded. For graphs too large for one machine, combine the
same model with PyG's distributed sampling (``torch_geometric.distributed``:
partition the graph, then train on sampled subgraphs with
``DistNeighborLoader``): ``GRUConv`` only ever reads the subgraph it is
given, so nothing else changes; see docs/pipelines.md.
"""
import argparse
import os
import shutil
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.datasets import Planetoid
from torch_geometric.transforms import NormalizeFeatures

from torch_geometric_gru import GRUConv

EMBEDDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                        'benchmarks', 'embedded')


class Net(torch.nn.Module):
    def __init__(self, in_channels, hidden, out_channels):
        super().__init__()
        self.conv1 = GRUConv(in_channels, hidden)
        self.conv2 = GRUConv(hidden, out_channels)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index)


def run(rank: int, world_size: int, root: str, epochs: int, port: int):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    torch.set_num_threads(1)

    data = Planetoid(root, 'Cora', transform=NormalizeFeatures())[0]
    train_nodes = data.train_mask.nonzero().view(-1)
    mine = train_nodes[rank::world_size]  # This process's share.

    torch.manual_seed(0)  # The same initial weights on every replica.
    model = DistributedDataParallel(Net(data.num_features, 64, 7))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01,
                                 weight_decay=5e-4)
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        loss = F.cross_entropy(out[mine], data.y[mine])
        loss.backward()  # DDP averages the gradients of all replicas.
        optimizer.step()
        if rank == 0 and epoch % 20 == 0:
            model.eval()
            with torch.no_grad():
                pred = model(data.x, data.edge_index).argmax(-1)
            acc = (pred[data.test_mask] == data.y[data.test_mask]).float()
            print(f'epoch {epoch:3d}  loss {loss.item():.3f}  '
                  f'test acc {acc.mean().item():.3f}')

    # The replicas are identical:
    flat = torch.cat([p.detach().view(-1) for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world_size)]
    dist.all_gather(gathered, flat)
    if rank == 0:
        same = all(torch.equal(gathered[0], g) for g in gathered)
        print(f'replicas identical: {same}')
    # Free DDP while its process group lives: destroyed after the group
    # (when run returns), it can hang the process at exit. Then no replica
    # tears down while another still talks.
    del model, optimizer
    dist.barrier()
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(
        description='Data-parallel training of a GRUConv model on Cora with '
        'DistributedDataParallel on CPU processes.')
    parser.add_argument('--root', default=EMBEDDED,
                        help="a folder that holds 'Cora/raw' (default: the "
                        'copy embedded in benchmarks/embedded)')
    parser.add_argument('--world-size', type=int, default=2,
                        help='processes (replicas)')
    parser.add_argument('--epochs', type=int, default=100,
                        help='training epochs')
    parser.add_argument('--port', type=int, default=29533,
                        help='TCP port of the gloo rendezvous')
    args = parser.parse_args()
    # Planetoid writes a 'processed' folder: work on a writable copy, which
    # is removed at the end.
    with tempfile.TemporaryDirectory(prefix='tggru-ddp-') as root:
        shutil.copytree(os.path.join(args.root, 'Cora', 'raw'),
                        os.path.join(root, 'Cora', 'raw'))
        Planetoid(root, 'Cora')  # Process once, before the workers start.
        mp.spawn(run, args=(args.world_size, root, args.epochs, args.port),
                 nprocs=args.world_size, join=True)


if __name__ == '__main__':
    main()
