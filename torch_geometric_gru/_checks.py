r"""Input checks shared by the layers and transforms.

Every check raises an error that names the offending argument and says how
to fix it, so that bad input never reaches a kernel where it would be
silently dropped, truncated or reordered.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

INDEX_DTYPES = (torch.int64, torch.int32)


class DTypeError(TypeError, ValueError):
    r"""Raised when a tensor has the wrong dtype.

    It derives from both :class:`TypeError` (the Python convention) and
    :class:`ValueError` (the convention of PyG's own checks), so either
    :obj:`except` clause catches it.
    """


class IndexRangeError(IndexError, ValueError):
    r"""Raised when an index holds an entry out of range.

    It derives from both :class:`IndexError` (what PyG's own layers raise
    for out-of-range edges) and :class:`ValueError` (the convention of the
    other input checks), so either :obj:`except` clause catches it.
    """


def check_index_dtype(name: str, index: Tensor) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor "
                        f"(got {type(index).__name__})")
    if index.dtype not in INDEX_DTYPES:
        raise DTypeError(f"'{name}' must hold integer node indices of dtype "
                         f"torch.long or torch.int32 (got {index.dtype}); "
                         f"convert it with '{name}.long()'")
    if index.is_meta:
        raise ValueError(f"'{name}' is on the meta device and holds no "
                         f"values, but the neighbour order is read from its "
                         f"values; create it on a real device")


def check_channels(name: str, channels: int, lazy: bool = False) -> None:
    r"""Checks a layer width: a positive integer (or :obj:`-1`, to be
    inferred from the first input, if :obj:`lazy`)."""
    if isinstance(channels, bool) or not isinstance(channels, int) or (
            channels < 1 and not (lazy and channels == -1)):
        hint = ' or -1 (inferred from the first input)' if lazy else ''
        raise ValueError(f"'{name}' must be a positive integer{hint} "
                         f"(got {channels!r})")


def check_bool(name: str, value: bool) -> None:
    if not isinstance(value, bool) and not (isinstance(value, int)
                                            and value in (0, 1)):
        raise TypeError(f"'{name}' must be True or False (got {value!r})")


def check_seed(seed: Optional[int]) -> None:
    if seed is not None and (isinstance(seed, bool)
                             or not isinstance(seed, int)):
        raise TypeError(f"'seed' must be an int or None (got {seed!r}); "
                        f"pass e.g. seed=0")


def check_dim_size(dim_size) -> None:
    r"""Checks a node count: :obj:`None`, or a non-negative integer (a
    symbolic one under :func:`torch.compile`, or a 0-d integer tensor)."""
    if dim_size is None or isinstance(dim_size, torch.SymInt):
        return
    if isinstance(dim_size, Tensor):
        if dim_size.numel() == 1 and not dim_size.is_floating_point():
            return
    elif isinstance(dim_size, int) and not isinstance(dim_size, bool):
        if dim_size < 0:
            raise ValueError(f"'dim_size' must be non-negative (got "
                             f"{dim_size}); pass the number of nodes")
        return
    raise TypeError(f"'dim_size' must be an int, the number of nodes (got "
                    f"{dim_size!r}); pass e.g. dim_size=int(...)")


def check_float(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor "
                        f"(got {type(x).__name__})")
    if x.device.type == 'meta':  # Fake tensors report their real device.
        raise ValueError(f"'{name}' is on the meta device, which holds no "
                         f"values to compute with; create it on a real "
                         f"device (e.g. 'cpu'), or trace the layer with "
                         f"torch.compile or torch.export (fake tensors)")
    if not x.is_floating_point():
        raise DTypeError(f"'{name}' must be a floating-point tensor "
                         f"(got {x.dtype}); convert it with '{name}.float()'")


def check_features(name: str, x: Tensor, channels: Optional[int],
                   what: str = 'in_channels') -> None:
    r"""Checks that :obj:`x` is a 2-D float matrix with :obj:`channels`
    columns (any width if :obj:`channels` is :obj:`None` or :obj:`-1`)."""
    check_float(name, x)
    if x.dim() != 2:
        raise ValueError(f"'{name}' must be a 2-D tensor of shape "
                         f"[num_rows, {what}] (got shape {tuple(x.shape)}); "
                         f"reshape it, e.g. with '{name}.view(-1, {what})'")
    if channels is not None and channels >= 0 and x.size(1) != channels:
        raise ValueError(f"'{name}' has {x.size(1)} features per row but the "
                         f"layer was built with {what}={channels}; build the "
                         f"layer with {what}={x.size(1)} or fix '{name}'")


def check_x_weight(x: Tensor, x_weight: Tensor, in_channels: int) -> None:
    r"""Checks a linear map :obj:`x_weight` of shape :obj:`[in_channels,
    F]` for the rows of :obj:`x` (of width :obj:`F`, in its last
    dimension) and its dtype (under autocast, both are cast later)."""
    if not isinstance(x_weight, Tensor):
        raise TypeError(f"'x_weight' must be a tensor of shape "
                        f"[in_channels, F] (got {type(x_weight).__name__})")
    check_float('x', x)
    if x_weight.dim() != 2 or (in_channels > 0
                               and x_weight.size(0) != in_channels):
        raise ValueError(f"'x_weight' must have shape [in_channels, F] = "
                         f"[{in_channels}, F], mapping rows of width F to "
                         f"the layer's in_channels (got shape "
                         f"{tuple(x_weight.shape)})")
    if x.size(-1) != x_weight.size(1):
        raise ValueError(f"'x' has {x.size(-1)} features per row but "
                         f"'x_weight' maps {x_weight.size(1)}; pass an "
                         f"'x_weight' of shape [{x_weight.size(0)}, "
                         f"{x.size(-1)}]")
    if x_weight.dtype != x.dtype and not autocast_enabled(x):
        raise DTypeError(f"'x_weight' is {x_weight.dtype} but 'x' is "
                         f"{x.dtype}; convert one of them")


def index_range(index: Tensor) -> Tuple[int, int]:
    r"""Returns :obj:`(min, max)` of a non-empty index with one host sync."""
    lo, hi = torch.aminmax(index)
    return tuple(torch.stack([lo, hi]).tolist())  # type: ignore


def check_index_range(name: str, index: Tensor, dim_size: int,
                      size_name: str = 'dim_size') -> None:
    r"""Checks that every entry of :obj:`index` lies in
    :obj:`[0, dim_size)`."""
    if index.numel() == 0:
        return
    lo, hi = index_range(index)
    if lo < 0:
        raise IndexRangeError(
            f"'{name}' contains the negative entry {lo}; every entry must "
            f"be a node index in [0, {size_name}) = [0, {dim_size})")
    if hi >= dim_size:
        raise IndexRangeError(
            f"'{name}' contains the entry {hi}, out of range for "
            f"{size_name}={dim_size}; pass {size_name} >= {hi + 1} or fix "
            f"'{name}'")


def check_ptr(ptr: Tensor, num_elements: int) -> None:
    r"""Checks a CSR pointer vector against the number of elements."""
    check_index_dtype('ptr', ptr)
    if ptr.dim() != 1 or ptr.numel() == 0:
        raise ValueError(f"'ptr' must be a 1-D tensor of length "
                         f"dim_size + 1 (got shape {tuple(ptr.shape)})")
    first, last = torch.stack([ptr[0], ptr[-1]]).tolist()
    if first != 0 or last != num_elements:
        raise ValueError(f"'ptr' must start at 0 and end at the number of "
                         f"rows of 'x' ({num_elements}); got ptr[0]={first}, "
                         f"ptr[-1]={last}")
    if ptr.numel() > 1 and bool((ptr[1:] < ptr[:-1]).any()):
        raise ValueError("'ptr' must be non-decreasing (a CSR pointer); "
                         "use 'index' for unsorted inputs")


def check_order(order: Tensor, index: Tensor) -> None:
    r"""Checks a per-element sort key against :obj:`index`."""
    if not isinstance(order, Tensor):
        raise TypeError(f"'order' must be a torch.Tensor (got "
                        f"{type(order).__name__})")
    if order.dim() != 1 or order.numel() != index.numel():
        raise ValueError(f"'order' must hold one sort key per element "
                         f"(edge), shape [{index.numel()}] (got "
                         f"{tuple(order.shape)})")
    if order.device != index.device:
        raise ValueError(f"'order' is on {order.device} but the index is on "
                         f"{index.device}; move it with '.to()'")
    if order.is_floating_point() and not bool(torch.isfinite(order).all()):
        raise ValueError("'order' holds non-finite values")


def check_no_ties(sorted_index: Tensor, sorted_order: Tensor) -> None:
    r"""Checks that no two elements of a group have the same sort key
    (given grouped and sorted): ranks that an ordering transform recorded
    are distinct within a node unless a later transform merged or
    duplicated edges."""
    tie = (sorted_index[1:] == sorted_index[:-1]) & \
        (sorted_order[1:] == sorted_order[:-1])
    if bool(tie.any()):
        node = int(sorted_index[1:][tie][0])
        raise ValueError(
            f"'order' has ties within a node (node {node}): ranks recorded "
            f"by an ordering transform are distinct, so a later transform "
            f"merged or duplicated edges (e.g. ToUndirected, coalesce); "
            f"apply the ordering transform after it")


def check_same_dtype(name: str, x: Tensor, weight: Optional[Tensor],
                     ) -> None:
    r"""Checks that :obj:`x` has the dtype of a layer's :obj:`weight`
    (skipped without one, or for uninitialised lazy weights, or under
    :func:`torch.autocast`, which casts per operation)."""
    if weight is None or isinstance(
            weight, torch.nn.parameter.UninitializedParameter):
        return
    check_dtype(name, x, weight.dtype)


def check_dtype(name: str, x: Tensor, dtype: Optional[torch.dtype]) -> None:
    r"""Checks that :obj:`x` has the dtype :obj:`dtype` of a layer's
    parameters (skipped for :obj:`None` and under :func:`torch.autocast`,
    which casts per operation)."""
    if dtype is None or autocast_enabled(x) or x.dtype == dtype:
        return
    raise DTypeError(f"'{name}' is {x.dtype} but the layer's parameters "
                     f"are {dtype}; convert one of them (e.g. "
                     f"'{name}.to({dtype})' or 'layer.to({x.dtype})'), or "
                     f"run under torch.autocast")


def autocast_enabled(x: Tensor) -> bool:
    r"""Whether :func:`torch.autocast` is on for :obj:`x`'s device."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # torch < 2.4: no device argument.
        if x.device.type == 'cpu':
            return torch.is_autocast_cpu_enabled()
        return x.is_cuda and torch.is_autocast_enabled()
