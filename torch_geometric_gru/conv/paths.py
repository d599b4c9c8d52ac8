r"""Which path a :class:`~torch_geometric_gru.GRUConv` forward takes (through
PyG's :meth:`propagate` when anything observes the messages, else the
hoisted projection, with its message weight folded in where it may be),
the options it checks at construction, the hooks it refuses, and its
:obj:`repr`."""
from typing import Any, Callable, Dict, Optional, Tuple, Union

from torch_geometric.nn.conv import MessagePassing

from torch_geometric_gru._checks import check_channels
from torch_geometric_gru.aggr.fold import foldable_linear
from torch_geometric_gru.aggr.sequence import SequenceAggregation

NO_DECOMPOSED = ("'GRUConv' cannot run in 'decomposed_layers': a GRU mixes "
                 "the channels of its messages, so it cannot aggregate "
                 "them in chunks")
NO_FUSED = ("'GRUConv' has no fused message-and-aggregate path (a GRU reads "
            "the messages one by one), so these hooks would never fire; "
            "use register_message_forward_hook or "
            "register_aggregate_forward_hook")
NO_EDGE_UPDATE = ("'GRUConv' has no edge updater, so these hooks would never "
                  "fire; use register_message_forward_hook")
#: The error for a checkpoint saved before :obj:`GRUConv(gru_scale=True)`
#: was the default (its state dict has no :obj:`gru_scale`).
OLD_CHECKPOINT = ("the checkpoint has no '{}': it was saved from a 'GRUConv' "
                  "without the learned scale of the GRU's state; build the "
                  "layer as it was trained to load it: 'gru_scale=False' "
                  "(and 'add_mean=False, edge_dropout=0.0' as well if it "
                  "was trained without the mean of the messages)")
#: The hook registrations GRUConv refuses, with their errors.
REFUSED_HOOKS = {
    'register_message_and_aggregate_forward_pre_hook': NO_FUSED,
    'register_message_and_aggregate_forward_hook': NO_FUSED,
    'register_edge_update_forward_pre_hook': NO_EDGE_UPDATE,
    'register_edge_update_forward_hook': NO_EDGE_UPDATE,
}


def refuse(name: str, error: str) -> Callable:
    r"""A method :obj:`name` that raises :obj:`TypeError(error)`."""
    def method(self, hook):
        raise TypeError(error)
    method.__name__ = name
    method.__doc__ = f'Raises a :class:`TypeError`: {error}.'
    return method


def check_conv_options(in_channels: Union[int, Tuple[int, int]],
                       out_channels: int, edge_dim: Optional[int],
                       kwargs: Dict[str, Any]) -> None:
    r"""Checks the widths of a conv and the :class:`MessagePassing`
    options it cannot honour."""
    if 'aggr' in kwargs:
        raise TypeError("'GRUConv' aggregates with its own GRU; use "
                        "'GRUAggregation' as 'aggr=' of another conv "
                        "instead")
    if kwargs.get('decomposed_layers', 1) != 1:
        raise ValueError(NO_DECOMPOSED + "; drop 'decomposed_layers'")
    check_channels('out_channels', out_channels)
    for width in (in_channels if isinstance(in_channels, (tuple, list))
                  else (in_channels, )):
        check_channels('in_channels', width, lazy=True)
    if edge_dim is not None:
        check_channels('edge_dim', edge_dim, lazy=True)


def messages_observed(conv: MessagePassing) -> bool:
    r"""Whether anything reads or changes the messages of :obj:`conv` (an
    explainer, a hook, a reversed flow): then they are formed, through
    :meth:`propagate`; otherwise the hoisted path forms none."""
    hooks = (conv._propagate_forward_pre_hooks,
             conv._propagate_forward_hooks,
             conv._message_forward_pre_hooks,
             conv._message_forward_hooks,
             conv._aggregate_forward_pre_hooks,
             conv._aggregate_forward_hooks)
    return (bool(conv.explain) or conv.flow != 'source_to_target'
            or any(len(h) > 0 for h in hooks))


def plain_linear(lin: Any) -> bool:
    r"""Whether :obj:`lin` is a bias-free :class:`Linear`, initialised and
    without hooks, so that handing its weight to the aggregation computes
    exactly what calling it would (a hook on it must see it called)."""
    return foldable_linear(lin) and lin.bias is None


#: The default :obj:`edge_dropout` of :class:`GRUConv`.
EDGE_DROPOUT = 0.5


def conv_repr(conv: MessagePassing) -> str:
    r"""The compact :obj:`repr` of a :class:`GRUConv`: its channels and the
    options that differ from their defaults."""
    args = [str(conv.in_channels), str(conv.out_channels)]
    if conv.edge_dim is not None:
        args.append(f'edge_dim={conv.edge_dim}')
    if conv.cell != 'gru':
        args.append(f'cell={conv.cell!r}')
    if conv.num_layers != 1:
        args.append(f'num_layers={conv.num_layers}')
    if conv.bidirectional:
        args.append('bidirectional=True')
    if getattr(conv.aggr_module, 'kernel', 'auto') != 'auto':
        args.append(f'kernel={conv.aggr_module.kernel!r}')
    if getattr(conv.aggr_module, 'checkpoint', False):
        args.append('checkpoint=True')
    if not conv.add_mean:
        args.append('add_mean=False')
    if conv.gru_scale is None:
        args.append('gru_scale=False')
    # The aggregation's options, against GRUConv's own defaults:
    args += [a for a in SequenceAggregation.extra_repr_args(conv.aggr_module)
             if not a.startswith('edge_dropout=')]
    if conv.aggr_module.edge_dropout != EDGE_DROPOUT:
        args.append(f'edge_dropout={conv.aggr_module.edge_dropout}')
    return f'{conv.__class__.__name__}({", ".join(args)})'
