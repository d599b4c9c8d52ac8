r"""The kernels of one GRU layer over a packed layout, side by side, with
one contract (:class:`torch_geometric_gru.ops.gru.cpu.GRULayer`'s):

* :mod:`~torch_geometric_gru.ops.gru.cpu`: the hand-written kernel (any
  device; the CPU implementation of the custom operators), whose
  sequential step loops run in C++ (:mod:`~torch_geometric_gru.ops.cpp`,
  compiled on first use) where they can be built, else in Python;
* :mod:`~torch_geometric_gru.ops.gru.triton`: the Triton kernels (the CUDA
  implementation; on CPU only in Triton's interpreter), with their Triton
  code in :mod:`~torch_geometric_gru.ops.gru.triton_forward` and
  :mod:`~torch_geometric_gru.ops.gru.triton_backward`;
* :mod:`~torch_geometric_gru.ops.gru.naive`: plain PyTorch operations, the
  reference and the path of higher-order gradients.

They are reached through the operators of :mod:`torch_geometric_gru.ops`.
"""
