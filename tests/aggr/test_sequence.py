import itertools
import math

import pytest
import torch
from reference import conv_reference, gru_reference

from torch_geometric_gru import GRUAggregation, GRUConv, MinGRUAggregation
from torch_geometric_gru.aggr.encoding import sinusoidal_encoding
from torch_geometric_gru.layout.plan import random_subset


def _gru_on(aggr, seq):
    return aggr.gru(seq.unsqueeze(0))[1][-1, 0]


def test_sinusoidal_formula():
    pe = sinusoidal_encoding(7, 5, dtype=torch.double)
    for t in range(7):
        for k in range(3):
            assert pe[t, 2 * k] == pytest.approx(
                math.sin(t / 10000**(2 * k / 5)), abs=1e-15)
            if 2 * k + 1 < 5:
                assert pe[t, 2 * k + 1] == pytest.approx(
                    math.cos(t / 10000**(2 * k / 5)), abs=1e-15)


def test_sinusoidal_positional_encoding():
    torch.manual_seed(0)
    index = torch.tensor([1, 0, 1, 1, 0, 1])
    x = torch.randn(6, 4, dtype=torch.double)
    aggr = GRUAggregation(4, 3, positional_encoding='sinusoidal').double()
    out = aggr(x, index)
    pe = sinusoidal_encoding(4, 4, dtype=torch.double)
    for node in range(2):
        seq = x[index == node]
        expected = _gru_on(aggr, seq + pe[:seq.size(0)])
        assert torch.allclose(out[node], expected, atol=1e-12)
    assert str(aggr) == \
        "GRUAggregation(4, 3, positional_encoding='sinusoidal')"


def test_learned_positional_encoding():
    torch.manual_seed(0)
    index = torch.tensor([1, 0, 1, 1, 0])
    x = torch.randn(5, 4, dtype=torch.double, requires_grad=True)
    aggr = GRUAggregation(4, 3, positional_encoding='learned',
                          max_length=3).double()
    out = aggr(x, index)
    emb = aggr.pos_embedding.weight
    for node in range(2):
        seq = x[index == node]
        expected = _gru_on(aggr, seq + emb[:seq.size(0)])
        assert torch.allclose(out[node], expected, atol=1e-12)
    out.sum().backward()
    assert aggr.pos_embedding.weight.grad[:3].abs().sum() > 0
    with pytest.raises(ValueError, match="pass max_length"):
        GRUAggregation(4, 3, positional_encoding='learned')
    with pytest.raises(ValueError, match="'positional_encoding' must be"):
        GRUAggregation(4, 3, positional_encoding='rotary')


def test_positional_encoding_with_hoisted_input_and_mingru():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 2, 1, 2], [1, 1, 0, 1]])
    x = torch.randn(3, 4, dtype=torch.double)
    aggr = MinGRUAggregation(4, 3, positional_encoding='sinusoidal').double()
    out = aggr(x, edge_index[1], dim_size=3, x_index=edge_index[0])
    pe = sinusoidal_encoding(3, 4, dtype=torch.double)
    msg = x[edge_index[0]]
    msg = msg + pe[[0, 1, 0, 2]]  # Ranks: node 1 reads edges 0, 1, 3.
    plain = MinGRUAggregation(4, 3).double()
    plain.load_state_dict(aggr.state_dict())
    assert torch.allclose(out, plain(msg, edge_index[1], dim_size=3))


def _orders(seq):
    return [seq[list(p)] for p in itertools.permutations(range(len(seq)))]


def test_shuffle_reads_a_random_order_in_training_only():
    torch.manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.double)
    index = torch.zeros(3, dtype=torch.long)
    aggr = GRUAggregation(4, 3, shuffle=True, seed=0).double()
    candidates = [_gru_on(aggr, s) for s in _orders(x)]
    seen = set()
    for _ in range(30):
        out = aggr(x, index)[0]
        match = [i for i, c in enumerate(candidates)
                 if torch.allclose(out, c, atol=1e-12)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) > 2  # Several orders were drawn.
    aggr.eval()
    assert torch.allclose(aggr(x, index)[0], candidates[0], atol=1e-12)


def test_seed_makes_draws_reproducible():
    torch.manual_seed(0)
    x, index = torch.randn(20, 4), torch.randint(0, 3, (20, ))
    a = GRUAggregation(4, 3, shuffle=True, seed=7)
    b = GRUAggregation(4, 3, shuffle=True, seed=7)
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        assert torch.equal(a(x, index), b(x, index))
    c = GRUAggregation(4, 3, shuffle=True, seed=8)
    c.load_state_dict(a.state_dict())
    assert not torch.equal(a(x, index), c(x, index))


@pytest.mark.parametrize('options', [dict(shuffle=True),
                                     dict(num_permutations=3),
                                     dict(max_length=2)])
def test_unseeded_draws_follow_the_global_generator(options):
    # Without a seed, torch.manual_seed reproduces the random orders.
    x, index = torch.randn(20, 4), torch.randint(0, 3, (20, ))
    aggr = GRUAggregation(4, 3, **options)
    if 'num_permutations' in options:
        aggr.eval()
    torch.manual_seed(0)
    a, b = aggr(x, index), aggr(x, index)
    torch.manual_seed(0)
    assert torch.equal(aggr(x, index), a)
    assert not torch.equal(a, b)  # Fresh draws at every call.


def test_num_permutations_averages_random_orders():
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.double)
    index = torch.tensor([0, 0, 1, 2, 2])
    K = 6
    aggr = GRUAggregation(4, 3, num_permutations=K, seed=0).double().eval()
    out = aggr(x, index)
    for node in range(3):
        seq = x[index == node]
        outs = [_gru_on(aggr, s) for s in _orders(seq)]
        if len(outs) == 1:
            assert torch.allclose(out[node], outs[0], atol=1e-12)
            continue
        # The mean of K draws over two orders: (n * A + (K - n) * B) / K.
        ok = any(
            torch.allclose(out[node], (n * outs[0] +
                                       (K - n) * outs[1]) / K, atol=1e-12)
            for n in range(K + 1))
        assert ok
    # Averaging many orders approaches the mean over all orders:
    aggr.num_permutations = 400
    out = aggr(x, index)
    seq = x[index == 0]
    mean = torch.stack([_gru_on(aggr, s) for s in _orders(seq)]).mean(0)
    assert torch.allclose(out[0], mean, atol=0.05)
    aggr.train()  # Training reads the given order:
    assert torch.allclose(aggr(x, index),
                          gru_reference(aggr.gru, x, index, 3), atol=1e-12)
    with pytest.raises(ValueError, match="'num_permutations' must be"):
        GRUAggregation(4, 3, num_permutations=0)


def test_max_length_keeps_an_ordered_random_subset():
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.double)
    index = torch.tensor([0, 0, 0, 0, 1, 1])
    aggr = GRUAggregation(4, 3, max_length=2, seed=0).double()
    subsets = [x[list(c)] for c in itertools.combinations(range(4), 2)]
    candidates = [_gru_on(aggr, s) for s in subsets]
    seen = set()
    for _ in range(30):
        out = aggr(x, index)
        match = [i for i, c in enumerate(candidates)
                 if torch.allclose(out[0], c, atol=1e-12)]
        assert len(match) == 1
        seen.add(match[0])
        # A node within the limit reads all of its messages:
        assert torch.allclose(out[1], _gru_on(aggr, x[4:]), atol=1e-12)
    assert len(seen) > 2
    with pytest.raises(ValueError, match="'max_length' must be"):
        GRUAggregation(4, 3, max_length=0)


def test_random_subset():
    index = torch.tensor([0, 1, 0, 0, 1, 2])
    gen = torch.Generator().manual_seed(0)
    keep = random_subset(index, 3, 2, gen)
    assert torch.bincount(index[keep], minlength=3).tolist() == [2, 2, 1]


def test_gru_conv_passes_order_options():
    # edge_dropout=0.5 is GRUConv's default (so not in its repr), not the
    # aggregation's.
    options = dict(positional_encoding='sinusoidal', shuffle=True,
                   num_permutations=3, max_length=3, seed=1,
                   edge_dropout=0.5)
    conv = GRUConv(4, 8, **options)
    assert str(conv) == ("GRUConv(4, 8, positional_encoding='sinusoidal', "
                         "shuffle=True, num_permutations=3, max_length=3)")
    # Every option reaches the aggregation: the same options and seed on a
    # stand-alone aggregation give the same draws and the same output, in
    # training (shuffle, subsets, dropped in-edges) and in evaluation
    # (averaged orders); GRUConv adds the mean over every in-edge.
    aggr = GRUAggregation(8, 8, **options)
    aggr.gru.load_state_dict(conv.aggr_module.gru.state_dict())
    x = torch.randn(5, 4)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 0, 2], [1, 1, 1, 1, 0, 2, 1]])
    for mode in ('train', 'eval'):
        getattr(conv, mode)(), getattr(aggr, mode)()
        expected = conv_reference(
            conv, x, edge_index,
            aggregate=lambda msg, index, n: aggr(msg, index, dim_size=n))
        assert torch.allclose(conv(x, edge_index), expected, atol=1e-6)


@pytest.mark.parametrize('Aggr', [GRUAggregation, MinGRUAggregation])
def test_edge_dropout_reads_an_ordered_random_subset(Aggr):
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.double)
    index = torch.tensor([0, 1, 0, 0, 1, 0])  # Node 0: rows 0, 2, 3, 5.
    aggr = Aggr(4, 3, edge_dropout=0.5).double()
    assert 'edge_dropout=0.5' in str(aggr)
    rows = [0, 2, 3, 5]
    subsets = [list(c) for k in range(1, 5)
               for c in itertools.combinations(rows, k)]
    aggr.eval()  # Evaluation reads every element:
    candidates = [aggr(x[c], torch.zeros(len(c), dtype=torch.long),
                       dim_size=1)[0] for c in subsets]
    assert torch.allclose(aggr(x, index)[0], candidates[-1], atol=1e-12)
    aggr.train()
    sizes = []
    for _ in range(60):
        out = aggr(x, index)[0]
        if out.abs().sum() == 0:  # Every element dropped.
            sizes.append(0)
            continue
        match = [len(c) for c, ref in zip(subsets, candidates)
                 if torch.allclose(out, ref, atol=1e-12)]
        assert len(match) == 1  # A subset, in the original order.
        sizes.append(match[0])
    assert len(set(sizes)) >= 4 and 1.2 < sum(sizes) / len(sizes) < 2.8


def test_edge_dropout_rate_and_seeds():
    # One element per node: a node aggregates to zeros iff it was dropped.
    n = 20000
    x = torch.randn(n, 2) + 3
    aggr = GRUAggregation(2, 2, edge_dropout=0.3)
    dropped = (aggr(x, torch.arange(n)).abs().sum(1) == 0).float().mean()
    assert abs(float(dropped) - 0.3) < 0.02
    # The global generator by default; a private one with a seed:
    torch.manual_seed(5)
    a = aggr(x, torch.arange(n))
    torch.manual_seed(5)
    assert torch.equal(a, aggr(x, torch.arange(n)))
    assert not torch.equal(a, aggr(x, torch.arange(n)))
    seeded = [GRUAggregation(2, 2, edge_dropout=0.3, seed=1) for _ in '12']
    seeded[1].load_state_dict(seeded[0].state_dict())
    assert torch.equal(seeded[0](x, torch.arange(n)),
                       seeded[1](x, torch.arange(n)))


def test_edge_dropout_checks():
    with pytest.raises(ValueError, match=r"'edge_dropout' must be in \[0, 1"):
        GRUAggregation(4, 3, edge_dropout=1.0)
    with pytest.raises(ValueError, match=r"'edge_dropout' must be in \[0, 1"):
        GRUConv(4, 3, edge_dropout=-0.1)
    with pytest.raises(TypeError, match="'edge_dropout' must be a float"):
        MinGRUAggregation(4, 3, edge_dropout='0.5')
    assert str(GRUConv(4, 3, edge_dropout=0.25)) == \
        'GRUConv(4, 3, edge_dropout=0.25)'
