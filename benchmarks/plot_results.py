r"""Plots of the accuracy benchmarks from their JSON results: test accuracy
per model or per neighbour ordering (mean ± std), and validation curves.
Usage::

    python benchmarks/plot_results.py bars docs/results/ordering_cora.png \
        docs/results/cora_edge.json docs/results/cora_degree.json ...
    python benchmarks/plot_results.py curves docs/results/curves_cora.png \
        docs/results/cora.json
"""
import argparse
import json
import os
import os.path as osp
import sys

from options import MODELS, description


def _pyplot():
    # Imported when a plot is drawn, so that the command line (--help)
    # works without the 'benchmark' extra.
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def label_of(args: dict) -> str:
    parts = [args.get('order', 'edge') + ' order']
    if args.get('shuffle'):
        parts.append('shuffle (π-SGD)')
    if args.get('num_permutations', 1) > 1:
        parts.append(f'{args["num_permutations"]} perms at test')
    return ', '.join(parts)


def bars(out: str, paths, model: str, title: str):
    labels, means, stds = [], [], []
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        r = run['results'][model]
        labels.append(label_of(run['args']))
        means.append(100 * r['mean'])
        stds.append(100 * r['std'])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.6 * len(labels) + 1.5))
    y = range(len(labels))
    ax.barh(list(y), means, xerr=stds, color='tab:blue', alpha=0.8,
            capsize=4)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    lo = min(m - s for m, s in zip(means, stds))
    ax.set_xlim(max(0, lo - 5), min(100, max(means) + max(stds) + 3))
    ax.set_xlabel('test accuracy (%), mean ± std')
    fig.suptitle(title)  # centred on the figure: the labels are long
    for i, (m, s) in enumerate(zip(means, stds)):
        ax.text(m + s + 0.3, i, f'{m:.1f} ± {s:.1f}', va='center',
                fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def curves(out: str, paths, title: str):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        for name, r in run['results'].items():
            n = min(len(c) for c in r['curves'])
            mean = [
                100 * sum(c[i] for c in r['curves']) / len(r['curves'])
                for i in range(n)
            ]
            ax.plot(range(1, n + 1), mean, label=MODELS.get(name, name))
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation accuracy (%), mean over runs')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def synthetic(out: str, path: str, title: str):
    r"""One panel per task of the synthetic suite: the score of every
    aggregator at the training degrees (3..8) and at the extrapolation
    degrees (16..32), mean ± std over the seeds."""
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)),
                                'synthetic'))
    from main import AGGR_NAMES, TASKS  # The synthetic suite's script.
    with open(path) as f:
        run = json.load(f)
    results, args = run['results'], run['args']
    tasks = [t for t in TASKS if t in results]
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.6))
    degrees = [5.5, (args['ood_degrees'][0] + args['ood_degrees'][1]) / 2]
    for ax, task in zip(list(axes), tasks):
        kind = TASKS[task][0]
        scale = 100 if kind == 'classification' else 1
        for aggr, runs in results[task].items():
            means, stds = [], []
            for split in ('test', 'test_ood'):
                values = [r[split] * scale for r in runs]
                mean = sum(values) / len(values)
                var = sum((v - mean)**2 for v in values) / max(
                    1, len(values) - 1)
                means.append(mean)
                stds.append(var**0.5)
            color = f'C{list(AGGR_NAMES).index(aggr)}'  # One per method.
            ax.errorbar(degrees, means, yerr=stds, marker='o', capsize=3,
                        label=AGGR_NAMES[aggr], color=color)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel('test in-degree (mean)')
        ax.set_ylabel('accuracy (%)' if kind == 'classification' else
                      'MSE / variance (lower is better)')
        if kind == 'regression':
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
    legend = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc='lower center',
               ncol=4, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument('kind', choices=['bars', 'curves', 'synthetic'],
                        help='bars: test accuracy per dataset and model; '
                        'curves: validation accuracy per epoch; synthetic: '
                        'the synthetic suite, per task, against the test '
                        'degree')
    parser.add_argument('out', help='the PNG to write')
    parser.add_argument('paths', nargs='+',
                        help='result files (.json) of the accuracy scripts')
    parser.add_argument('--model', default='gru',
                        help='the model whose curves to draw (curves)')
    parser.add_argument('--title', default='', help='the figure title')
    args = parser.parse_args()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if args.kind == 'bars':
        bars(args.out, args.paths, args.model, args.title)
    elif args.kind == 'synthetic':
        synthetic(args.out, args.paths[0], args.title)
    else:
        curves(args.out, args.paths, args.title)


if __name__ == '__main__':
    main()
