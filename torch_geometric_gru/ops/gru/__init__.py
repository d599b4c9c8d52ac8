r"""The GRU recurrence: its operator and its kernels side by side, one
contract (see :mod:`~torch_geometric_gru.ops.gru.op`):

* :mod:`~torch_geometric_gru.ops.gru.op`: the operators
  :obj:`torch_geometric_gru::gru_layer` and :obj:`gru_layer_backward`
  (schema, fake, autograd), which look their kernel up once in
  :mod:`~torch_geometric_gru.ops.gru.registry`;
* :mod:`~torch_geometric_gru.ops.gru.cpu`: the hand-written kernel (any
  device; the CPU default), whose sequential step loops run in C++
  (:obj:`csrc/gru_cpu.cpp`, built by :mod:`~torch_geometric_gru.ops.cpp`)
  where they can be built, else in Python;
* :mod:`~torch_geometric_gru.ops.gru.triton`: the Triton kernels (the CUDA
  default; on CPU only in Triton's interpreter), with their Triton code in
  :mod:`~torch_geometric_gru.ops.gru.triton_forward` and
  :mod:`~torch_geometric_gru.ops.gru.triton_backward`;
* :mod:`~torch_geometric_gru.ops.gru.cudnn`: :class:`torch.nn.GRU` over a
  :class:`~torch.nn.utils.rnn.PackedSequence` (eager, outside the
  operators);
* :mod:`~torch_geometric_gru.ops.gru.naive`: plain PyTorch operations, the
  reference and the path of higher-order gradients;
* :mod:`~torch_geometric_gru.ops.gru.grads`: the input-gradient
  accumulator the CPU and Triton backwards share.
"""
