r"""Runs the Triton kernels in Triton's CPU interpreter where there is no
GPU, so that the CUDA kernels' logic is tested on every machine. The switch
must be set before :mod:`triton` decorates the kernels, i.e. before the
package is imported."""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
