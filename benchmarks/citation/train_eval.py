r"""Training and evaluation on a fixed (public) split: Adam, full batch, the
test accuracy of the epoch with the best validation accuracy."""
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

from options import wait_for


def adam(model, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    r"""Adam on every parameter of :obj:`model`."""
    return torch.optim.Adam(model.parameters(), lr=lr,
                            weight_decay=weight_decay)


@torch.no_grad()
def evaluate(model, data) -> Dict[str, float]:
    model.eval()
    out = model(data.x, data.edge_index)
    result = {}
    for split in ('train', 'val', 'test'):
        mask = data[f'{split}_mask']
        result[f'{split}_loss'] = float(F.cross_entropy(out[mask],
                                                        data.y[mask]))
        result[f'{split}_acc'] = float(
            (out[mask].argmax(-1) == data.y[mask]).float().mean())
    return result


def run_once(model, data, epochs: int, lr: float, weight_decay: float,
             patience: int, make_optimizer: Callable = adam,
             progress=None) -> Dict:
    r"""Trains :obj:`model` for :obj:`epochs` epochs (fewer with
    :obj:`patience`). A :obj:`progress` bar (:class:`tqdm.tqdm`) moves one
    step per epoch, shows the training loss and validation accuracy, and
    is moved to the end of the run when it stops early."""
    optimizer = make_optimizer(model, lr, weight_decay)
    best = dict(val_acc=-1.0, val_loss=float('inf'), test_acc=0.0, epoch=0)
    curve: List[float] = []
    train_time = 0.0
    for epoch in range(1, epochs + 1):
        t = time.perf_counter()
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        optimizer.step()
        wait_for(data.x.device)
        train_time += time.perf_counter() - t

        info = evaluate(model, data)
        curve.append(info['val_acc'])
        if (info['val_acc'], -info['val_loss']) > (best['val_acc'],
                                                   -best['val_loss']):
            best = dict(val_acc=info['val_acc'], val_loss=info['val_loss'],
                        test_acc=info['test_acc'], epoch=epoch)
        if progress is not None:
            progress.set_postfix(loss=f'{float(loss.detach()):.3f}',
                                 val=f'{info["val_acc"]:.3f}', refresh=False)
            progress.update(1)
        if patience and epoch - best['epoch'] >= patience:
            break
    if progress is not None and epoch < epochs:
        progress.update(epochs - epoch)
    return dict(best, curve=curve, epoch_time=train_time / epoch,
                epochs=epoch)


def run(make: Callable[[], torch.nn.Module], data, runs: int, epochs: int,
        lr: float, weight_decay: float, patience: int, seed: int = 0,
        progress=None, make_optimizer: Callable = adam) -> Dict:
    r"""Trains :obj:`runs` models (seeds :obj:`seed`, :obj:`seed + 1`, ...)
    and returns their test accuracies, validation curves and epoch
    times. :obj:`make_optimizer(model, lr, weight_decay)` builds each
    optimizer (default: :func:`adam`). A :obj:`progress` bar moves one step
    per epoch: give it :obj:`runs * epochs` steps per call."""
    results = []
    for r in range(runs):
        torch.manual_seed(seed + r)
        model = make()
        results.append(run_once(model, data, epochs, lr, weight_decay,
                                patience, make_optimizer, progress))
    acc = torch.tensor([r['test_acc'] for r in results])
    return dict(
        test_acc=acc.tolist(),
        mean=float(acc.mean()),
        std=float(acc.std()) if runs > 1 else 0.0,
        val_acc=[r['val_acc'] for r in results],
        best_epoch=[r['epoch'] for r in results],
        curves=[r['curve'] for r in results],
        epoch_time=float(torch.tensor([r['epoch_time']
                                       for r in results]).median()),
    )
