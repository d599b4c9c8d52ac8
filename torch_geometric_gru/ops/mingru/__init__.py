r"""The minGRU recurrence's operator: the segmented affine scan
:obj:`torch_geometric_gru::mingru_scan` (:mod:`.scan`), its kernels (C++ on
CPU, Triton on CUDA, the plain-PyTorch reference) chosen by
:mod:`.registry`, and the segments of a packed layout (:mod:`.plan`)."""
from torch_geometric_gru.ops.mingru.scan import (
    mingru_scan,
    mingru_scan_backward,
)
from torch_geometric_gru.ops.mingru.plan import segments

__all__ = ['mingru_scan', 'mingru_scan_backward', 'segments']
