r"""Multi-process data-parallel training over sampled subgraphs, after PyG's
``examples/multi_gpu/distributed_sampling.py``, on CPU processes.

Every process (rank) holds a replica of a :class:`~torch_geometric_gru.
GRUGNN` wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`
(the ``gloo`` backend), takes its own shard of the training nodes, and
trains on the subgraphs a :class:`~torch_geometric.loader.NeighborLoader`
samples around them, passing :obj:`order=edge_order(batch)` so that every
sampled neighbourhood is read in the full graph's order. DDP averages the
gradients of the ranks at every step, so the replicas stay identical.
After every epoch rank 0 evaluates with the model's layer-wise
:meth:`~torch_geometric_gru.GRUGNN.inference` (all nodes, one layer at a
time, full neighbourhoods: equal to the full-batch forward) while the other
ranks wait.

    python examples/distributed.py --world-size 2

The processes are started with :func:`torch.multiprocessing.spawn` on one
machine, each with one torch thread, and meet at a free TCP port found at
start (or ``--port``). Launched by ``torchrun`` instead, every process
runs one rank (``--world-size`` is then torchrun's), on one machine or
several::

    torchrun --nproc_per_node=2 examples/distributed.py
    # Two machines, run on each with its --node_rank:
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=2 \
        --master_addr=10.0.0.1 --master_port=29500 examples/distributed.py
 ``--root`` is a folder holding ``Cora/raw`` (PyG's
raw Planetoid files; by default the copy embedded in
``benchmarks/embedded``); nothing is downloaded. The graph and its features
are replicated in every process; past one machine's memory, see
docs/pipelines.md ("Distributed training").
"""
import argparse
import os
import shutil
import socket
import tempfile
import time
import warnings
from typing import List, Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.loader import NeighborLoader
from torch_geometric.transforms import NormalizeFeatures

from torch_geometric_gru import GRUGNN, edge_order

EMBEDDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                        'benchmarks', 'embedded')


def load(root: str) -> Data:
    return Planetoid(root, 'Cora', transform=NormalizeFeatures())[0]


def shard(nodes: Tensor, rank: int, world_size: int) -> Tensor:
    r"""Rank :obj:`rank`'s share of :obj:`nodes`: equal shards (the
    remainder is left out), so that every rank takes the same number of
    steps per epoch, as DDP needs."""
    return nodes.split(nodes.numel() // world_size)[rank]


def train_loader(data: Data, seeds: Tensor, num_neighbors: List[int],
                 batch_size: int, seed: int) -> NeighborLoader:
    r"""Sampled subgraphs around :obj:`seeds`, shuffled by a generator of
    their own (reproducible, and independent of the model's random
    draws)."""
    with warnings.catch_warnings():  # torch-sparse's deprecation note.
        warnings.simplefilter('ignore')
        return NeighborLoader(
            data, input_nodes=seeds, num_neighbors=num_neighbors,
            batch_size=batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(seed))


def make_model(data: Data, hidden: int, dropout: float,
               edge_dropout: float = 0.5) -> GRUGNN:
    return GRUGNN(data.num_features, hidden, num_layers=2,
                  out_channels=int(data.y.max()) + 1, dropout=dropout,
                  edge_dropout=edge_dropout)


def step_loss(model: torch.nn.Module, batch: Data) -> Tensor:
    r"""The seeds' loss on one sampled batch, every neighbourhood read in the
    full graph's order."""
    out = model(batch.x, batch.edge_index, order=edge_order(batch))
    return F.cross_entropy(out[:batch.batch_size],
                           batch.y[:batch.batch_size])


@torch.no_grad()
def evaluate(model: GRUGNN, data: Data, batch_size: int) -> dict:
    r"""Layer-wise inference over all nodes (full one-hop neighbourhoods);
    accuracies on the validation and test nodes."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loader = NeighborLoader(data, num_neighbors=[-1],
                                batch_size=batch_size, shuffle=False)
        pred = model.inference(loader).argmax(-1)
    return {
        split: float((pred[mask] == data.y[mask]).float().mean())
        for split, mask in (('val', data.val_mask), ('test', data.test_mask))
    }


def run(rank: int, world_size: int, args: argparse.Namespace,
        root: str) -> None:
    torch.set_num_threads(1)  # One core per rank.
    dist.init_process_group('gloo', rank=rank, world_size=world_size)

    data = load(root)
    seeds = shard(data.train_mask.nonzero().view(-1), rank, world_size)
    loader = train_loader(data, seeds, args.num_neighbors, args.batch_size,
                          args.seed + rank)

    torch.manual_seed(args.seed)  # DDP also broadcasts rank 0's weights.
    model = DistributedDataParallel(
        make_model(data, args.hidden, args.dropout, args.edge_dropout))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 weight_decay=5e-4)
    record = dict(world_size=world_size, loss=[], val=[], test=[],
                  seconds=[], seeds_per_second=[])
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, total, steps = time.perf_counter(), torch.zeros(2), 0
        for batch in loader:
            optimizer.zero_grad()
            loss = step_loss(model, batch)
            loss.backward()  # DDP averages the gradients of all ranks.
            optimizer.step()
            seeds = batch.batch_size
            total += torch.tensor([float(loss.detach()) * seeds, seeds])
            steps += 1
        seconds = time.perf_counter() - start
        dist.all_reduce(total)  # The loss over every rank's seeds.
        if rank == 0:
            record['loss'].append(float(total[0] / total[1]))
            record['seconds'].append(seconds)
            record['seeds_per_second'].append(float(total[1]) / seconds)
            acc = evaluate(model.module, data, args.eval_batch_size)
            record['val'].append(acc['val'])
            record['test'].append(acc['test'])
            print(f'epoch {epoch:3d}  loss {record["loss"][-1]:.4f}  '
                  f'{steps} steps/rank  {seconds:.2f} s  val '
                  f'{acc["val"]:.3f}  test {acc["test"]:.3f}', flush=True)
        dist.barrier()  # The other ranks wait for the evaluation.

    # The replicas are identical: every rank's weights, gathered on rank 0.
    flat = torch.cat([p.detach().view(-1) for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world_size)]
    dist.all_gather(gathered, flat)
    if rank == 0:
        same = all(torch.equal(gathered[0], g) for g in gathered)
        print(f'replicas identical: {same}', flush=True)
        if args.out:
            torch.save(dict(record, params=gathered,
                            state_dict=model.module.state_dict()), args.out)
    # Free DDP while its process group lives (destroyed after the group, it
    # can hang the process at exit); no rank tears down while another still
    # talks.
    del model, optimizer
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description='Data-parallel training of a GRUGNN over NeighborLoader '
        'subgraphs of Cora with DistributedDataParallel on CPU processes.')
    p.add_argument('--root', default=EMBEDDED,
                   help="a folder that holds 'Cora/raw' (default: the copy "
                   'embedded in benchmarks/embedded)')
    p.add_argument('--world-size', type=int, default=2,
                   help='processes (replicas), one torch thread each')
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--num-neighbors', type=int, nargs='+', default=[10, 10],
                   help='fan-out per hop (-1: every neighbour)')
    p.add_argument('--batch-size', type=int, default=16,
                   help='seeds per batch and rank')
    p.add_argument('--eval-batch-size', type=int, default=512)
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--edge-dropout', type=float, default=0.5,
                   help="GRUConv's edge_dropout (in-edges dropped from the "
                   'GRU sequences in training)')
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--port', type=int, default=0,
                   help='TCP port of the rendezvous (default: a free one; '
                   "under torchrun, torchrun's --master_port)")
    p.add_argument('--out', default=None,
                   help="save rank 0's record here (torch.save): losses, "
                   'accuracies, epoch times, every rank\'s final weights')
    return p


def main(argv: Optional[List[str]] = None) -> None:
    args = parser().parse_args(argv)
    torchrun = 'RANK' in os.environ and 'WORLD_SIZE' in os.environ
    if args.port == 0:
        args.port = free_port()
    # Planetoid writes a 'processed' folder: work on a writable copy, which
    # is removed at the end.
    with tempfile.TemporaryDirectory(prefix='tggru-ddp-') as root:
        shutil.copytree(os.path.join(args.root, 'Cora', 'raw'),
                        os.path.join(root, 'Cora', 'raw'))
        Planetoid(root, 'Cora')  # Process once, before the ranks start.
        if torchrun:  # This process is one rank.
            run(int(os.environ['RANK']), int(os.environ['WORLD_SIZE']),
                args, root)
        else:  # The ranks meet here (torchrun sets both itself).
            os.environ['MASTER_ADDR'] = '127.0.0.1'
            os.environ['MASTER_PORT'] = str(args.port)
            mp.spawn(run, args=(args.world_size, args, root),
                     nprocs=args.world_size, join=True)


if __name__ == '__main__':
    main()
