r"""ONNX export of the package's operators.

:func:`torch.onnx.export` (:obj:`dynamo=True`) first captures a model with
:func:`torch.export`, where the GRU layers of this package appear as the
custom operators :obj:`torch_geometric_gru::pack` (the packed layout of an
index vector) and :obj:`torch_geometric_gru::gru_layer` (one direction of
one GRU layer over that layout). ONNX has no such operators; the functions
here translate them into standard ONNX operators (opset 18 or newer), so
that the exported model runs in any ONNX runtime:

* :obj:`pack`: the same degree-sorted, packed layout, built with
  :obj:`TopK` (a stable sort on unique keys), :obj:`ScatterElements` and
  :obj:`CumSum`;
* :obj:`gru_layer`: the input projection as one :obj:`MatMul` over all
  rows, then an ONNX :obj:`Loop` over the steps of the packed layout: step
  :obj:`t` updates the states of the :obj:`batch_sizes[t]` sequences still
  reading (a prefix, as the nodes are sorted by degree). Nothing is padded
  to the largest degree, so memory stays :math:`O(|\mathcal{E}| \cdot H)`,
  and every node's output is exactly the state after its last neighbour.

Pass :data:`custom_translation_table` to :func:`torch.onnx.export`, or call
:func:`export`, which does it for you:

.. code-block:: python

    import torch_geometric_gru.onnx

    model = GRUGNN(16, 32, num_layers=2).eval()
    onnx_program = torch_geometric_gru.onnx.export(
        model, (x, edge_index), 'model.onnx')

This module needs :obj:`onnx` and :obj:`onnxscript` (and
:obj:`onnxruntime` to run the result): :obj:`pip install
torch_geometric_gru[onnx]`.
"""
import inspect
import os
import warnings
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union

import torch
from torch import Tensor

try:
    import onnx
    import onnxscript
    from onnxscript import BFLOAT16, DOUBLE, FLOAT, FLOAT16, INT64
    from onnxscript import opset18 as op
except ImportError as error:  # pragma: no cover
    raise ImportError(
        "torch_geometric_gru.onnx needs 'onnx' and 'onnxscript' (and "
        "'onnxruntime' to run exported models); install them with "
        "\"pip install 'torch_geometric_gru[onnx]'\"") from error

# Importing the operators registers them with torch.library:
import torch_geometric_gru.ops  # noqa: F401

__all__ = [
    'custom_translation_table',
    'export',
    'graph_dynamic_shapes',
    'check_exportable',
]

TFloat = TypeVar('TFloat', bound=Union[FLOAT, DOUBLE, FLOAT16, BFLOAT16])


def _const(values) -> Any:
    return op.Constant(value_ints=list(values))


def _as_1d(value) -> Any:
    r"""A 1-D :obj:`INT64` tensor of one element from a Python or symbolic
    integer."""
    if isinstance(value, int):
        return _const([value])
    return op.Reshape(op.Cast(value, to=INT64.dtype), _const([-1]))


def _full(size, value: int) -> Any:
    r"""An :obj:`INT64` tensor of shape :obj:`size` filled with
    :obj:`value`."""
    return op.ConstantOfShape(size, value=onnx.helper.make_tensor(
        'value', onnx.TensorProto.INT64, [1], [value]))


def _zeros(size) -> Any:
    return _full(size, 0)


def _arange(size) -> Any:
    r""":obj:`[0, 1, ..., size - 1]` for a 1-D one-element :obj:`size`."""
    return op.Range(op.Constant(value_int=0), op.Squeeze(size, _const([0])),
                    op.Constant(value_int=1))


def _count(values, size) -> Any:
    r"""How often every value in :obj:`[0, size)` occurs in
    :obj:`values` (a bincount)."""
    return op.ScatterElements(_zeros(size), values,
                              _full(op.Shape(values), 1), axis=0,
                              reduction='add')


def _argsort(key, size, descending: bool = False) -> Any:
    r"""The indices that sort the (unique) integer keys :obj:`key`."""
    _, indices = op.TopK(key, size, axis=0, largest=1 if descending else 0,
                         sorted=1)
    return indices


def _pack(index, dim_size, order, x_index, num_rows):
    r"""The ONNX translation of :obj:`torch_geometric_gru::pack` (see
    :func:`torch_geometric_gru.ops.pack`), without its range checks."""
    index = op.Cast(index, to=INT64.dtype)
    num = op.Shape(index)  # [E]
    num_nodes = _as_1d(dim_size)  # [N]
    arange = _arange(num)
    # Group the elements by node, stably: sort on the unique key
    # (index, position), or (index, rank by `order`).
    if order is None:
        by_node = _argsort(op.Add(op.Mul(index, num), arange), num)
    else:
        by_order = _argsort(order, num)  # Ties keep the element order.
        key = op.Add(op.Mul(op.Gather(index, by_order), num), arange)
        by_node = op.Gather(by_order, _argsort(key, num))
    sorted_index = op.Gather(index, by_node)
    degree = _count(index, num_nodes)
    start = op.CumSum(degree, op.Constant(value_int=0), exclusive=1)
    pos = op.Sub(arange, op.Gather(start, sorted_index))
    # Nodes by descending degree, ties in node order:
    node_arange = _arange(num_nodes)
    key = op.Add(op.Mul(degree, num_nodes),
                 op.Sub(op.Sub(num_nodes, _const([1])), node_arange))
    node_perm = _argsort(key, num_nodes, descending=True)
    rank = op.ScatterElements(_zeros(num_nodes), node_perm, node_arange,
                              axis=0)
    _, offsets, _, _ = _steps(degree, num_nodes)
    row = op.Add(op.Gather(offsets, pos), op.Gather(rank, sorted_index))
    perm = op.ScatterElements(_zeros(num), row, by_node, axis=0)
    if x_index is None:
        src = op.Identity(perm)
    else:
        src = op.Gather(op.Cast(x_index, to=INT64.dtype), perm)
    return perm, node_perm, degree, src


def _steps(degree, num_nodes):
    r"""The steps of the packed layout of the node degrees
    :obj:`degree`: :obj:`(batch_sizes [T], offsets [T + 1], num_steps [1],
    num_sequences [1])`."""
    num_steps = op.ReduceMax(op.Concat(degree, _const([0]), axis=0),
                             keepdims=1)
    count = _count(degree, op.Add(num_steps, _const([1])))
    batch_sizes = op.Sub(num_nodes, op.Slice(op.CumSum(
        count, op.Constant(value_int=0)), _const([0]), num_steps))
    offsets = op.Concat(_const([0]), op.CumSum(
        batch_sizes, op.Constant(value_int=0)), axis=0)
    num_sequences = op.Slice(op.Concat(batch_sizes, _const([0]), axis=0),
                             _const([0]), _const([1]))
    return batch_sizes, offsets, num_steps, num_sequences


@onnxscript.script(op)
def _final_states(gi: TFloat, w_hh_t: TFloat, b_hh: TFloat,
                  batch_sizes: INT64, offsets: INT64, h0: TFloat) -> TFloat:
    r"""The final state of every sequence of a packed layout, in rank
    order: step :obj:`t` reads the packed rows :obj:`[offsets[t],
    offsets[t] + batch_sizes[t])` of the input projections :obj:`gi`
    (:obj:`[E, 3H]`) and updates the states of the first
    :obj:`batch_sizes[t]` sequences of :obj:`h0` (:obj:`[S, H]`)."""
    h = h0
    num_steps = op.Size(batch_sizes)
    zero = op.Constant(value_ints=[0])
    one = op.Constant(value_ints=[1])
    num_sequences = op.Shape(h0, start=0, end=1)
    for t in range(num_steps):
        size = op.Reshape(op.Gather(batch_sizes, t), one)
        start = op.Reshape(op.Gather(offsets, t), one)
        g_r, g_z, g_n = op.Split(
            op.Slice(gi, start, op.Add(start, size), zero), axis=1,
            num_outputs=3)
        h_prev = op.Slice(h, zero, size, zero)
        h_r, h_z, h_n = op.Split(op.Add(op.MatMul(h_prev, w_hh_t), b_hh),
                                 axis=1, num_outputs=3)
        r = op.Sigmoid(op.Add(g_r, h_r))
        z = op.Sigmoid(op.Add(g_z, h_z))
        n = op.Tanh(op.Add(g_n, op.Mul(r, h_n)))
        h_new = op.Add(n, op.Mul(z, op.Sub(h_prev, n)))
        h = op.Concat(h_new, op.Slice(h, size, num_sequences, zero), axis=0)
    return h


@onnxscript.script(op)
def _all_states(gi: TFloat, w_hh_t: TFloat, b_hh: TFloat,
                batch_sizes: INT64, offsets: INT64, h0: TFloat) -> TFloat:
    r"""The state after every packed row (:obj:`[E, H]`, packed order);
    see :func:`_final_states`."""
    h = h0
    num_steps = op.Size(batch_sizes)
    zero = op.Constant(value_ints=[0])
    one = op.Constant(value_ints=[1])
    out = op.Slice(h0, zero, zero, zero)
    for t in range(num_steps):
        size = op.Reshape(op.Gather(batch_sizes, t), one)
        start = op.Reshape(op.Gather(offsets, t), one)
        g_r, g_z, g_n = op.Split(
            op.Slice(gi, start, op.Add(start, size), zero), axis=1,
            num_outputs=3)
        h_prev = op.Slice(h, zero, size, zero)
        h_r, h_z, h_n = op.Split(op.Add(op.MatMul(h_prev, w_hh_t), b_hh),
                                 axis=1, num_outputs=3)
        r = op.Sigmoid(op.Add(g_r, h_r))
        z = op.Sigmoid(op.Add(g_z, h_z))
        n = op.Tanh(op.Add(g_n, op.Mul(r, h_n)))
        h = op.Add(n, op.Mul(z, op.Sub(h_prev, n)))
        out = op.Concat(out, h, axis=0)
    return out


def _reverse_perm(num_rows, batch_sizes, offsets, seq_degree):
    r"""The permutation of packed rows that reverses every sequence:
    row :obj:`(t, k)` to :obj:`(d_k - 1 - t, k)`."""
    arange = _arange(num_rows)
    # The step of every row: how many step starts (after the first) lie at
    # or before it.
    marks = _count(op.Slice(offsets, _const([1]), _const([-1])),
                   op.Add(num_rows, _const([1])))
    step = op.Slice(op.CumSum(marks, op.Constant(value_int=0)),
                    _const([0]), num_rows)
    k = op.Sub(arange, op.Gather(offsets, step))
    length = op.Gather(seq_degree, k)
    return op.Add(op.Gather(offsets, op.Sub(op.Sub(length, _const([1])),
                                            step)), k)


def _gru_layer(x, src, w_ih, w_hh, b_ih, b_hh, perm, node_perm, degree,
               sequence: bool, reverse: bool, save: bool, kernel: str):
    r"""The ONNX translation of :obj:`torch_geometric_gru::gru_layer` (see
    :mod:`torch_geometric_gru.ops.gru.op`); :obj:`save` and :obj:`kernel`
    only matter to training and to the choice of PyTorch kernel."""
    num_nodes = op.Shape(degree)
    num_rows = op.Shape(perm)
    batch_sizes, offsets, num_steps, num_sequences = _steps(degree,
                                                            num_nodes)
    hidden = op.Shape(w_hh, start=1, end=2)
    rows = src
    if reverse:
        seq_degree = op.Gather(degree, node_perm)
        rev = _reverse_perm(num_rows, batch_sizes, offsets, seq_degree)
        rows = rev if src is None else op.Gather(src, rev)
    # The input projection, once per row of `x`, then read per packed row:
    gi = op.MatMul(x, op.Transpose(w_ih, perm=[1, 0]))
    if b_ih is not None:
        gi = op.Add(gi, b_ih)
    if rows is not None:
        gi = op.Gather(gi, rows, axis=0)
    if b_hh is None:
        b_hh = op.Expand(op.CastLike(op.Constant(value_float=0.0), w_hh),
                         op.Shape(w_hh, start=0, end=1))
    w_hh_t = op.Transpose(w_hh, perm=[1, 0])
    zero = op.CastLike(op.Constant(value_float=0.0), x)
    h0 = op.Expand(zero, op.Concat(num_sequences, hidden, axis=0))
    if sequence:
        out = _all_states(gi, w_hh_t, b_hh, batch_sizes, offsets, h0)
        if reverse:
            out = op.Gather(out, rev, axis=0)
    else:
        h = _final_states(gi, w_hh_t, b_hh, batch_sizes, offsets, h0)
        # Node i reads row rank[i] of the final states, or a row of zeros
        # past them if it has no elements (its rank is then >= S).
        rank = op.ScatterElements(_zeros(num_nodes), node_perm,
                                  _arange(num_nodes), axis=0)
        padded = op.Concat(h, op.Expand(zero, op.Concat(_const([1]), hidden,
                                                        axis=0)), axis=0)
        out = op.Gather(padded, op.Min(rank, num_sequences), axis=0)
    # What the backward would read: nothing, in an inference graph.
    states = op.Expand(zero, op.Concat(_const([0]), hidden, axis=0))
    return out, states


def _check_edges(src, dst, num_src, num_dst):
    r"""The ONNX translation of :obj:`torch_geometric_gru::check_edges`:
    the destinations, without the range checks (see :func:`_pack`)."""
    return op.Identity(dst)


#: The translations of the package's operators, to pass as
#: :obj:`custom_translation_table` to :func:`torch.onnx.export`.
custom_translation_table: Dict[Callable, Callable] = {
    torch.ops.torch_geometric_gru.pack.default: _pack,
    torch.ops.torch_geometric_gru.gru_layer.default: _gru_layer,
    torch.ops.torch_geometric_gru.check_edges.default: _check_edges,
}
_TRANSLATIONS = custom_translation_table


def check_exportable(model: torch.nn.Module) -> None:
    r"""Raises a :class:`ValueError` naming the option if :obj:`model`
    holds a layer of this package that cannot be exported to ONNX.

    Exported are the GRU layers (:class:`~torch_geometric_gru.GRUConv`,
    :class:`~torch_geometric_gru.GRUAggregation` in any PyG conv, the
    models) in evaluation mode, with any number of layers, both
    directions, with or without bias, edge features and an explicit
    :obj:`order`. Not exported: the options that draw or depend on random
    or per-call host-side plans (:obj:`shuffle` and :obj:`edge_dropout` in
    training,
    :obj:`num_permutations > 1`, :obj:`max_length`), positional encodings,
    :obj:`kernel="cudnn"` and the minGRU cell.
    """
    from torch_geometric_gru.aggr.mingru import MinGRUAggregation
    from torch_geometric_gru.aggr.sequence import SequenceAggregation
    for name, module in model.named_modules():
        if not isinstance(module, SequenceAggregation):
            continue
        where = f"'{name}' ({module.__class__.__name__})" if name else \
            module.__class__.__name__
        if isinstance(module, MinGRUAggregation):
            raise ValueError(f"{where}: the minGRU cell (cell='mingru') "
                             f"cannot be exported to ONNX; use cell='gru'")
        problems = []
        if module.positional_encoding is not None:
            problems.append(f"positional_encoding="
                            f"{module.positional_encoding!r} (use None)")
        if module.num_permutations != 1:
            problems.append(f"num_permutations={module.num_permutations} "
                            f"(use 1)")
        if module.max_length is not None:
            problems.append(f"max_length={module.max_length} (use None)")
        if module.shuffle and module.training:
            problems.append("shuffle=True in training mode (call "
                            "model.eval())")
        if module.edge_dropout > 0 and module.training:
            problems.append(f"edge_dropout={module.edge_dropout} in "
                            f"training mode (call model.eval())")
        if getattr(module, 'kernel', None) == 'cudnn':
            problems.append("kernel='cudnn' (use kernel='auto' or "
                            "'native')")
        if getattr(module, 'gru', 0) is None:
            problems.append("uninitialised lazy layer (run one forward "
                            "first)")
        if problems:
            raise ValueError(f"{where} cannot be exported to ONNX with "
                             f"{', '.join(problems)}")


def graph_dynamic_shapes(model: torch.nn.Module, args: Tuple[Any, ...],
                         kwargs: Optional[Dict[str, Any]] = None,
                         ) -> Dict[str, Any]:
    r"""The :obj:`dynamic_shapes` that make the number of nodes and edges
    of a graph model's inputs dynamic: the second dimension of
    :obj:`edge_index` (an integer tensor of shape :obj:`[2, E]`) and the
    first dimension of every other tensor input (node features, edge
    features, edge weights, the :obj:`batch` vector, ...), named
    :obj:`"num_edges"` where its size is :obj:`E` and :obj:`"num_nodes"`
    where it is that of the first floating-point input. Other dimensions
    (feature widths) stay static.

    Args:
        model (torch.nn.Module): The model to export.
        args (tuple): Its positional example inputs.
        kwargs (dict, optional): Its keyword example inputs.
            (default: :obj:`None`)
    """
    bound = inspect.signature(model.forward).bind(*args, **(kwargs or {}))
    tensors = [t for t in _leaves(bound.arguments) if isinstance(t, Tensor)]
    edge_index = bound.arguments.get('edge_index')
    if not _is_edge_index(edge_index):
        edge_index = next((t for t in tensors if _is_edge_index(t)), None)
    num_edges = None if edge_index is None else edge_index.size(1)
    num_nodes = next((t.size(0) for t in tensors
                      if t.is_floating_point() and t.dim() > 0), None)

    def spec(value: Any, name: str) -> Any:
        if isinstance(value, (tuple, list)):
            return type(value)(spec(v, f'{name}_{i}')
                               for i, v in enumerate(value))
        if isinstance(value, dict):
            return {k: spec(v, k) for k, v in value.items()}
        if not isinstance(value, Tensor) or value.dim() == 0:
            return None
        if value is edge_index:
            return {1: 'num_edges'}
        size = value.size(0)
        if size == num_nodes:
            return {0: 'num_nodes'}
        if size == num_edges:
            return {0: 'num_edges'}
        return {0: f'{name}_dim0'}

    return {name: spec(value, name)
            for name, value in bound.arguments.items()}


def _leaves(value: Any):
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


def _is_edge_index(value: Any) -> bool:
    return (isinstance(value, Tensor) and value.dim() == 2
            and value.size(0) == 2 and not value.is_floating_point())


def export(
    model: torch.nn.Module,
    args: Union[Tuple[Any, ...], Tensor],
    f: Optional[Union[str, os.PathLike]] = None,
    *,
    kwargs: Optional[Dict[str, Any]] = None,
    dynamic_shapes: Optional[Any] = None,
    custom_translation_table: Optional[Dict[Callable, Callable]] = None,
    **options: Any,
) -> 'torch.onnx.ONNXProgram':
    r"""Exports :obj:`model` to ONNX with :func:`torch.onnx.export`
    (:obj:`dynamo=True`), translating the operators of this package, with
    the number of nodes and edges dynamic by default.

    .. code-block:: python

        model = GRUGNN(16, 32, num_layers=2).eval()
        torch_geometric_gru.onnx.export(model, (x, edge_index),
                                        'model.onnx')

        session = onnxruntime.InferenceSession('model.onnx')
        out, = session.run(None, {'x': x.numpy(),
                                  'edge_index': edge_index.numpy()})

    Args:
        model (torch.nn.Module): The model; call :meth:`eval` first for
            an inference graph.
        args (tuple): Example positional inputs. Use a graph with more
            than one node and edge and a different number of nodes and
            edges, so that :func:`torch.export` does not specialise them.
        f (str or os.PathLike, optional): If given, the ONNX file to write.
            (default: :obj:`None`)
        kwargs (dict, optional): Example keyword inputs.
            (default: :obj:`None`)
        dynamic_shapes (optional): As for :func:`torch.onnx.export`; by
            default the node and edge counts of every input are dynamic
            (see :func:`~torch_geometric_gru.onnx.graph_dynamic_shapes`).
            (default: :obj:`None`)
        custom_translation_table (dict, optional): More translations, added
            to those of this package. (default: :obj:`None`)
        **options (optional): Further arguments of
            :func:`torch.onnx.export` (:obj:`opset_version`,
            :obj:`input_names`, :obj:`external_data`, ...); :obj:`verbose`
            is :obj:`False` unless given.

    Returns:
        :class:`torch.onnx.ONNXProgram`
    """
    if 'dynamo' in options and options.pop('dynamo') is not True:
        raise ValueError("torch_geometric_gru.onnx.export uses the dynamo "
                         "exporter (dynamo=True); the TorchScript-based "
                         "exporter cannot trace this package's layers")
    if options.get('opset_version', 18) < 18:
        raise ValueError(f"'opset_version' must be 18 or newer (got "
                         f"{options['opset_version']})")
    check_exportable(model)
    if isinstance(args, Tensor):
        args = (args, )
    table = dict(_TRANSLATIONS)
    table.update(custom_translation_table or {})
    if dynamic_shapes is None:
        dynamic_shapes = graph_dynamic_shapes(model, args, kwargs)
    options.setdefault('verbose', False)
    with warnings.catch_warnings():
        # Raised inside torch.onnx by PyTorch's own use of a deprecated
        # pytree class; nothing a caller can act on.
        warnings.filterwarnings('ignore', category=FutureWarning,
                                message=r'`isinstance\(treespec, LeafSpec\)`')
        return torch.onnx.export(model, args, f, kwargs=kwargs, dynamo=True,
                                 dynamic_shapes=dynamic_shapes,
                                 custom_translation_table=table, **options)
