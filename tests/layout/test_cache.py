r"""The layout cache never returns a layout for another graph: not to
another thread sharing the layer, and not after writes to the index that
PyTorch does not track."""
import threading

import numpy as np
import pytest
import torch
from reference import conv_reference, gru_reference, hub_graph

from torch_geometric_gru import GRUAggregation, GRUConv


def test_threads_sharing_a_layer_get_their_own_graph():
    # Four threads call one layer on two graphs (torch releases the GIL, so
    # they interleave): every output must be its own graph's. The race
    # this guards against (a hit read another thread's entry) showed in
    # about four of five rounds of 1,200 calls before the fix.
    torch.manual_seed(0)
    conv = GRUConv(4, 8, edge_dropout=0.0)
    x = torch.randn(12, 4)
    graphs = [hub_graph(12, seed) for seed in range(2)]
    with torch.no_grad():
        expected = [conv_reference(conv, x, ei) for ei in graphs]
    wrong, errors = [0], []

    def work(i):
        try:
            for _ in range(300):
                with torch.no_grad():
                    out = conv(x, graphs[i % 2])
                if not torch.allclose(out, expected[i % 2], atol=1e-5):
                    wrong[0] += 1
        except Exception as e:  # pragma: no cover - reported below.
            errors.append(e)

    for _ in range(6):
        threads = [threading.Thread(target=work, args=(i, ))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert wrong[0] == 0, f'{wrong[0]} of 7,200 outputs were wrong'


def _write_numpy(index, buf):
    buf[0], buf[-1] = buf[-1], buf[0]


def _write_data(index, buf):
    index.data[0], index.data[-1] = int(index[-1]), int(index[0])


def _write_dlpack(index, buf):
    alias = torch.from_dlpack(index)  # Shares memory, not the version.
    alias_np = alias.numpy()
    alias_np[0], alias_np[-1] = alias_np[-1], alias_np[0]


def _write_storage(index, buf):
    new = index.clone()
    new[0], new[-1] = index[-1], index[0]
    index.untyped_storage().copy_(new.untyped_storage())


@pytest.mark.parametrize('write', [_write_numpy, _write_data, _write_dlpack,
                                   _write_storage])
def test_untracked_writes_rebuild_the_layout(write):
    torch.manual_seed(0)
    buf = np.array([0, 0, 1, 2, 2, 2, 3, 1], dtype=np.int64)
    index = torch.from_numpy(buf)
    x = torch.randn(8, 3, dtype=torch.double)
    aggr = GRUAggregation(3, 4).double()
    before = aggr(x, index, dim_size=4)
    assert torch.allclose(before, gru_reference(aggr.gru, x, index, 4))
    version = index._version
    write(index, buf)
    assert index._version == version  # PyTorch did not see the write.
    assert int(index[0]) == 1
    after = aggr(x, index, dim_size=4)
    assert torch.allclose(after, gru_reference(aggr.gru, x, index, 4))
    assert not torch.allclose(after, before)


def test_untracked_writes_to_edge_index_and_order():
    torch.manual_seed(0)
    conv = GRUConv(3, 4, edge_dropout=0.0).double()
    x = torch.randn(5, 3, dtype=torch.double)
    buf = np.array([[0, 1, 2, 3, 4, 0], [1, 1, 1, 2, 2, 3]])
    edge_index = torch.from_numpy(buf)
    conv(x, edge_index)
    buf[0, 0], buf[0, 1] = 4, 3  # Sources: an x_index write.
    assert torch.allclose(conv(x, edge_index),
                          conv_reference(conv, x, edge_index))
    buf[1, 5] = 7  # Now out of range: checked, not read.
    with pytest.raises(IndexError, match=r"edge_index\[1\]"):
        conv(x, edge_index)

    aggr = GRUAggregation(3, 4).double()
    msgs = torch.randn(6, 3, dtype=torch.double)
    index = torch.tensor([0, 0, 0, 1, 1, 1])
    keys = np.array([0., 1., 2., 0., 1., 2.])
    aggr(msgs, index, order=torch.from_numpy(keys))
    keys[:3] = [2., 1., 0.]  # Node 0 now reads its elements reversed.
    got = aggr(msgs, index, order=torch.from_numpy(keys))
    expected = gru_reference(aggr.gru, msgs[[2, 1, 0, 3, 4, 5]], index)
    assert torch.allclose(got, expected)


def test_a_static_graph_is_built_once(monkeypatch):
    from torch_geometric_gru.layout import cache as layout_cache
    builds = []
    build = layout_cache.LayoutCache._build

    def spy(*args, **kwargs):
        builds.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(layout_cache.LayoutCache, '_build', staticmethod(spy))
    aggr = GRUAggregation(3, 4)
    x, index = torch.randn(8, 3), torch.tensor([0, 0, 1, 2, 2, 2, 3, 1])
    aggr(x, index)
    aggr(x, index.clone())  # Another tensor, the same graph: a hit.
    assert len(builds) == 1
    aggr(x, index.flip(0))
    assert len(builds) == 2
