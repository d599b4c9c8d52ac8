r"""Real datasets and synthetic graphs for the benchmarks (and their smoke
tests). Nothing here downloads: the real datasets are copied from a local
folder that holds them in PyG's raw layout.
"""
import os
import os.path as osp
import random
import shutil
import tempfile
from typing import Optional

import torch
from torch import Tensor

PLANETOID = ('Cora', 'CiteSeer', 'PubMed')
TU = ('PROTEINS', 'ENZYMES', 'MUTAG')



def _default_source() -> str:
    candidates = [
        os.environ.get('TORCH_GEOMETRIC_GRU_DATASETS'),
        osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'shared',
                 'datasets'),
        '/work/shared/datasets',
    ]
    for path in candidates:
        if path and osp.isdir(path):
            return osp.abspath(path)
    return osp.abspath(candidates[1])


#: Where the raw datasets live: ``$TORCH_GEOMETRIC_GRU_DATASETS``, else the
#: ``shared/datasets`` folder beside this repository.
DEFAULT_SOURCE = _default_source()


def dataset_available(name: str, source: Optional[str] = None) -> bool:
    return osp.isdir(osp.join(source or DEFAULT_SOURCE, name, 'raw'))


def load_dataset(name: str, root: Optional[str] = None,
                 source: Optional[str] = None, **kwargs):
    r"""Loads a Planetoid or TU dataset without touching the network.

    The folder :obj:`source/name/raw` is copied to :obj:`root` (a fresh
    temporary folder by default, since :obj:`source` may be read-only), where
    PyG processes it.
    """
    from torch_geometric.datasets import Planetoid, TUDataset

    source = source or DEFAULT_SOURCE
    raw = osp.join(source, name, 'raw')
    if not osp.isdir(raw):
        raise FileNotFoundError(
            f"No raw files for '{name}' in '{source}'; point "
            f"$TORCH_GEOMETRIC_GRU_DATASETS or --root at a folder that holds "
            f"'{name}/raw' (PyG's raw layout)")
    root = root or tempfile.mkdtemp(prefix='tggru-')
    dst = osp.join(root, name, 'raw')
    if not osp.isdir(dst):
        shutil.copytree(raw, dst)
    if name in PLANETOID:
        return Planetoid(root, name, **kwargs)
    if name in TU:
        return TUDataset(root, name, **kwargs)
    raise ValueError(f"Unknown dataset '{name}'; choose one of "
                     f"{PLANETOID + TU}")


def barabasi_albert(num_nodes: int, m: int, seed: int = 0) -> Tensor:
    r"""A Barabási-Albert preferential-attachment graph (the algorithm of
    :func:`networkx.barabasi_albert_graph`): each new node links to
    :obj:`m` distinct existing nodes picked with probability proportional
    to their degree. Returns both directions of every edge, sorted by
    destination."""
    rng = random.Random(seed)
    targets = list(range(m))
    repeated = []
    src, dst = [], []
    for node in range(m, num_nodes):
        src.extend([node] * m)
        dst.extend(targets)
        repeated.extend(targets)
        repeated.extend([node] * m)
        chosen = set()
        while len(chosen) < m:
            chosen.add(rng.choice(repeated))
        targets = list(chosen)
    row = torch.tensor(src + dst)
    col = torch.tensor(dst + src)
    perm = torch.sort(col, stable=True).indices
    return torch.stack([row[perm], col[perm]])
