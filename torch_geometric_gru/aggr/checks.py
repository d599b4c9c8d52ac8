r"""The input checks of the sequence aggregations, at their public entry
(:meth:`SequenceAggregation.__call__`, as PyG's
:meth:`Aggregation.__call__`): what :meth:`forward` then trusts."""
from typing import Any, Dict, Optional, Tuple

from torch import Tensor

from torch_geometric_gru._checks import (
    check_dim_size,
    check_features,
    check_float,
    check_index_dtype,
    check_x_weight,
)


def check_order_options(positional_encoding: Optional[str],
                        num_permutations: int, max_length: Optional[int],
                        in_channels: int) -> None:
    if positional_encoding not in (None, 'sinusoidal', 'learned'):
        raise ValueError(f"'positional_encoding' must be None, 'sinusoidal' "
                         f"or 'learned' (got {positional_encoding!r})")
    if positional_encoding == 'learned' and max_length is None:
        raise ValueError("positional_encoding='learned' embeds ranks up to "
                         "'max_length'; pass max_length (longer sequences "
                         "are then subsampled to it)")
    if positional_encoding is not None and in_channels < 1:
        raise ValueError("A positional encoding needs a known "
                         "'in_channels' (its width)")
    if not isinstance(num_permutations, int) or num_permutations < 1:
        raise ValueError(f"'num_permutations' must be a positive integer "
                         f"(got {num_permutations!r})")
    if max_length is not None and (not isinstance(max_length, int)
                                   or max_length < 1):
        raise ValueError(f"'max_length' must be a positive integer or None "
                         f"(got {max_length!r})")


def check_edge_dropout(edge_dropout: float) -> None:
    if isinstance(edge_dropout, bool) or \
            not isinstance(edge_dropout, (int, float)):
        raise TypeError(f"'edge_dropout' must be a float in [0, 1) "
                        f"(got {edge_dropout!r})")
    if not 0.0 <= edge_dropout < 1.0:
        raise ValueError(f"'edge_dropout' must be in [0, 1): the share of "
                         f"every sequence's elements dropped in training "
                         f"(got {edge_dropout!r}); pass e.g. 0.5, or 0.0 "
                         f"to read every element")


def check_call(aggr: Any, x: Tensor, index: Optional[Tensor],
               ptr: Optional[Tensor], args: Tuple,
               kwargs: Dict[str, Any]) -> None:
    r"""Checks the arguments of a call of the aggregation :obj:`aggr`."""
    x_weight = kwargs.get('x_weight')
    if x_weight is not None:  # x of any width F, mapped to in_channels.
        check_x_weight(x, x_weight, aggr.in_channels)
    elif isinstance(x, Tensor) and x.dim() == 3:
        check_float('x', x)  # Multi-head messages: see forward.
    else:
        check_features('x', x, aggr.in_channels)
    # PyG's base class would read a missing `index` as "one group";
    # for a sequence model that silently fixes an order, so ask:
    if index is None and ptr is None:
        raise ValueError(
            f"'{aggr.__class__.__name__}' needs 'index' (the node of "
            f"each row of 'x') or 'ptr' (CSR boundaries); to read all "
            f"of 'x' as one sequence pass "
            f"'index=torch.zeros(x.size(0), dtype=torch.long)'")
    for name, value in (('index', index), ('ptr', ptr)):
        if value is not None:  # Before PyG's base reads them.
            check_index_dtype(name, value)
    check_dim_size(kwargs.get('dim_size', args[0] if args else None))
    order = kwargs.get('order')
    if order is not None and not isinstance(order, Tensor):
        raise TypeError(f"'order' must be a tensor of one sort key per "
                        f"element (got {type(order).__name__}); pass "
                        f"e.g. 'torch.as_tensor(order)'")
    dim = kwargs.get('dim', args[1] if len(args) > 1 else -2)
    if not isinstance(x, Tensor) or not -x.dim() <= dim < x.dim():
        return  # PyG's base class names an invalid dimension.
    if x.dim() == 3 and (
            dim not in (0, -3) or kwargs.get('x_index') is not None):
        raise ValueError(
            f"'x' must be a 2-D tensor of shape [num_rows, in_channels], "
            f"or 3-D multi-head messages [num_rows, heads, in_channels] "
            f"aggregated over dim=0 (got shape {tuple(x.shape)} with "
            f"dim={dim}"
            f"{' and x_index' if kwargs.get('x_index') is not None else ''})")
    if x.dim() == 2 and dim not in (-2, 0):
        raise ValueError(f"'{aggr.__class__.__name__}' aggregates over "
                         f"the rows of a 2-D 'x' (or of 3-D multi-head "
                         f"messages with dim=0); pass dim=0 or dim=-2 "
                         f"(got dim={dim})")
