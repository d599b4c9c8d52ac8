r"""Folding a linear map into the input projection of an aggregation (the
message weight of :class:`~torch_geometric_gru.GRUConv`, handed over as
:obj:`x_weight`): the rule that says when it costs less, and the check that
a :class:`~torch_geometric.nn.dense.linear.Linear` may be used through its
weights instead of being called."""
from typing import Any

from torch.nn.modules.module import (
    _global_forward_hooks,
    _global_forward_pre_hooks,
)
from torch.nn.parameter import UninitializedParameter
from torch_geometric.nn.dense.linear import Linear


def folds_linear(in_features: int, mid_features: int,
                 out_features: int) -> bool:
    r"""Whether two linear maps in a row, :math:`\mathbb{R}^{F} \to
    \mathbb{R}^{I}` then :math:`\mathbb{R}^{I} \to \mathbb{R}^{O}`, cost
    fewer multiply-adds per row as one map (their product, computed once):
    :math:`F \cdot O < F \cdot I + I \cdot O`. The backward has the same
    ratio (its weight and input gradients are one GEMM per map each).

    Args:
        in_features (int): :math:`F`, the width of the rows.
        mid_features (int): :math:`I`, the width between the two maps.
        out_features (int): :math:`O`, the width of the result.
    """
    return (in_features * out_features <
            in_features * mid_features + mid_features * out_features)


def foldable_linear(lin: Any) -> bool:
    r"""Whether :obj:`lin` is a :class:`Linear`, initialised and without
    hooks, so that computing with its weight and bias gives exactly what
    calling it would (a hook on it must see it called)."""
    return (type(lin) is Linear
            and not isinstance(lin.weight, UninitializedParameter)
            and not lin._forward_hooks and not lin._forward_pre_hooks
            and not _global_forward_hooks
            and not _global_forward_pre_hooks)
