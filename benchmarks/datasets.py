r"""Real datasets and synthetic graphs for the benchmarks (and their smoke
tests). Nothing here downloads.

Where the raw files come from (the first that applies):

1. :obj:`source=` (the scripts' :obj:`--root`), a folder holding
   :obj:`<name>/raw` in PyG's raw layout;
2. :obj:`$TORCH_GEOMETRIC_GRU_DATASETS`, which must then be such a folder
   (a misspelled path is an error, not a silent fallback);
3. :obj:`../shared/datasets` beside the repository;
4. for Cora only, the copy embedded in :obj:`benchmarks/embedded/` (MIT
   licensed, see its README), so that the main job runs on a fresh clone.

PyG processes the raw files once, in one cache folder shared by every clone
(:obj:`$TORCH_GEOMETRIC_GRU_CACHE`, else
:obj:`$XDG_CACHE_HOME/torch_geometric_gru`, else
:obj:`~/.cache/torch_geometric_gru`), one subfolder per dataset content
(the same raw files, wherever they lie, are processed once); no temporary
folder is left behind.
"""
import hashlib
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
HETEROPHILOUS = ('Minesweeper', 'Tolokers')
NAMES = PLANETOID + TU + HETEROPHILOUS

ENV = 'TORCH_GEOMETRIC_GRU_DATASETS'
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.normpath(osp.join(REPO, '..', 'shared', 'datasets'))
EMBEDDED = osp.join(REPO, 'benchmarks', 'embedded')


def folder(name: str) -> str:
    r"""The folder of dataset :obj:`name` inside a source folder (PyG's
    :class:`HeterophilousGraphDataset` uses lower-case folders)."""
    return name.lower() if name in HETEROPHILOUS else name


def dataset_source(name: Optional[str] = None,
                   source: Optional[str] = None) -> str:
    r"""The folder that holds :obj:`<name>/raw` (see the module's
    docstring for the order). Raises :class:`FileNotFoundError`, naming
    the folders tried, if there is none."""
    if name is not None and name not in NAMES:
        raise ValueError(f"Unknown dataset '{name}'; choose one of {NAMES}")
    if source is not None:
        tried = [f'--root {source}']
        candidates = [source]
    elif os.environ.get(ENV):
        tried = [f'${ENV}={os.environ[ENV]}']
        candidates = [os.environ[ENV]]
        if not osp.isdir(candidates[0]):
            raise FileNotFoundError(
                f"${ENV} is set to '{candidates[0]}', which is not a folder; "
                f"point it at a folder holding <dataset>/raw, or unset it")
    else:
        tried = [SHARED, EMBEDDED]
        candidates = [SHARED, EMBEDDED]
    for path in candidates:
        if name is None and osp.isdir(path):
            return osp.abspath(path)
        if name is not None and osp.isdir(osp.join(path, folder(name),
                                                   'raw')):
            return osp.abspath(path)
    raise FileNotFoundError(
        f"No raw files for '{name}' in {' or '.join(tried)}; set "
        f"${ENV} (or --root) to a folder holding '{folder(name)}/raw' in "
        f"PyG's raw layout")


def dataset_available(name: str, source: Optional[str] = None) -> bool:
    try:
        dataset_source(name, source)
    except FileNotFoundError:
        return False
    return True


def cache_dir() -> str:
    r"""The folder where PyG's processed files are kept."""
    path = os.environ.get('TORCH_GEOMETRIC_GRU_CACHE')
    if not path:
        base = os.environ.get('XDG_CACHE_HOME') or osp.join(
            osp.expanduser('~'), '.cache')
        path = osp.join(base, 'torch_geometric_gru')
    return path


def _content_key(name: str, raw: str) -> str:
    r"""A digest of dataset :obj:`name`'s raw files (names and contents),
    not of where they lie: every clone, and every folder holding the same
    files, shares one processed copy."""
    digest = hashlib.sha256(name.encode())
    for f in sorted(os.listdir(raw)):
        digest.update(f'\n{f}:{osp.getsize(osp.join(raw, f))}\n'.encode())
        with open(osp.join(raw, f), 'rb') as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b''):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def _root(name: str, source: str) -> str:
    r"""A processing root for :obj:`source/name` in the cache, keyed by the
    raw files' content: the raw folder is copied there once (atomically,
    so concurrent runs do not see half a copy)."""
    raw = osp.join(source, folder(name), 'raw')
    digest = _content_key(name, raw)
    root = osp.join(cache_dir(), 'datasets', digest)
    dst = osp.join(root, folder(name), 'raw')
    if not osp.isdir(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix='.raw-', dir=osp.dirname(dst))
        try:
            shutil.copytree(raw, osp.join(tmp, 'raw'))
            try:
                os.rename(osp.join(tmp, 'raw'), dst)
            except OSError:  # Another process copied it first.
                if not osp.isdir(dst):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def load_dataset(name: str, source: Optional[str] = None, **kwargs):
    r"""Loads a Planetoid, TU or heterophilous dataset without touching the
    network. :obj:`kwargs` go to PyG's dataset class."""
    from torch_geometric.datasets import (
        HeterophilousGraphDataset,
        Planetoid,
        TUDataset,
    )

    root = _root(name, dataset_source(name, source))
    if name in PLANETOID:
        return Planetoid(root, name, **kwargs)
    if name in TU:
        return TUDataset(root, name, **kwargs)
    return HeterophilousGraphDataset(root, name, **kwargs)


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


def power_law_graph(num_edges: int, num_nodes: int, exponent: float = 2.5,
                    seed: int = 0) -> Tensor:
    r"""A random multigraph with power-law in- *and* out-degrees (hubs on
    both sides), built in a few vectorised calls.

    Every edge draws its source and its destination independently, node of
    rank :math:`r` (1-based) with probability proportional to
    :math:`r^{-1/(\gamma - 1)}`, which makes both degree distributions
    fall as :math:`k^{-\gamma}` (:obj:`exponent` :math:`\gamma`); the
    ranks of the two sides are two independent random permutations of the
    nodes, so in-hubs and out-hubs are different nodes. Self-loops and
    repeated edges are kept. Returns the edges sorted (stably) by
    destination, as PyG's sequence aggregations need, seeded by
    :obj:`seed`."""
    if exponent <= 1:
        raise ValueError(f"'exponent' must be above 1 (got {exponent})")
    gen = torch.Generator().manual_seed(seed)
    weight = torch.arange(1, num_nodes + 1, dtype=torch.double).pow_(
        -1 / (exponent - 1))
    cdf = weight.cumsum_(0)
    cdf /= cdf[-1].clone()

    def draw() -> Tensor:
        rank = torch.searchsorted(
            cdf, torch.rand(num_edges, generator=gen, dtype=torch.double))
        rank.clamp_(max=num_nodes - 1)
        return torch.randperm(num_nodes, generator=gen).index_select(0, rank)

    src, dst = draw(), draw()
    perm = torch.sort(dst, stable=True).indices
    return torch.stack([src[perm], dst[perm]])
