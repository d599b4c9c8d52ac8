r"""Compiles the Triton GRU kernels for NVIDIA GPUs without a GPU and reports
what each variant uses per program: registers per thread, spilled bytes
(local-memory stack) and shared memory, at the launch options the package
ships (:func:`torch_geometric_gru.ops.gru.triton.launch_options`). Spills and
compile errors show up here on any machine with :mod:`triton` installed.

Usage::

    python benchmarks/triton_resources.py --arch 80 90 --hidden 16 64 256
    python benchmarks/triton_resources.py --check   # exit 1 on any spill
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
from typing import Dict, List

if os.environ.get('TRITON_INTERPRET', '0') == '1':
    sys.exit('Unset TRITON_INTERPRET: the kernels must be compiled, not '
             'interpreted.')

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from torch_geometric_gru.ops.gru import triton as kernels  # noqa: E402
from torch_geometric_gru.ops.gru import triton_backward  # noqa: E402
from torch_geometric_gru.ops.gru import triton_forward  # noqa: E402

POINTER_TYPES = {'LEN': '*i32', 'OFF': '*i64', 'SRC': '*i64'}
SCALARS = ('gi_stride', 'num_seq', 'H', 'slot_stride', 't_lo', 't_hi',
           'row0')


def _variants(hidden: int, precision: str) -> List[tuple]:
    options = kernels.launch_options(hidden)
    backward_options = kernels.launch_options(hidden, backward=True)
    streamed = 'BLOCK_COLS' in options
    name = 'streamed' if streamed else 'resident'
    forward = getattr(triton_forward, f'_forward_{name}')
    backward = getattr(triton_backward, f'_backward_{name}')
    # The training forward (states stored), the backward with the
    # final-state gradient and with a gradient at every row; all reading
    # the input projection through the row index.
    return [(f'{name} forward', forward,
             dict(HAS_SRC=True, HAS_BIAS=True, STORE_H=True), options),
            (f'{name} backward (final)', backward,
             dict(HAS_SRC=True, SEQUENCE=False), backward_options),
            (f'{name} backward (sequence)', backward,
             dict(HAS_SRC=True, SEQUENCE=True), backward_options)]


def compile_kernel(fn, constants: Dict, options: Dict, arch: int):
    r"""Compiles :obj:`fn` for :obj:`sm_{arch}` and returns the kernel."""
    launch = {k: options[k] for k in ('num_warps', 'num_stages')
              if k in options}
    constants = dict(constants, **{k: v for k, v in options.items()
                                   if k not in launch})
    signature = {}
    for param in fn.params:
        if param.is_constexpr:
            continue
        signature[param.name] = ('i32' if param.name in SCALARS else
                                 POINTER_TYPES.get(param.name, '*fp32'))
    constexprs = {(fn.arg_names.index(k), ): v for k, v in constants.items()}
    source = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    return triton.compile(source, target=GPUTarget('cuda', arch, 32),
                          options=launch)


def resource_usage(kernel) -> Dict[str, int]:
    r"""Registers, stack (spill) and shared bytes of a compiled kernel, read
    from its cubin with the :obj:`cuobjdump` that ships with Triton."""
    tool = osp.join(osp.dirname(triton.__file__), 'backends', 'nvidia', 'bin',
                    'cuobjdump')
    with tempfile.NamedTemporaryFile(suffix='.cubin', delete=False) as f:
        f.write(kernel.asm['cubin'])
    try:
        out = subprocess.run([tool, '--dump-resource-usage', f.name],
                             capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    fields = dict(re.findall(r'(REG|STACK):(\d+)', out.stdout))
    return dict(registers=int(fields['REG']), stack=int(fields['STACK']),
                shared=int(kernel.metadata.shared))


def main():
    parser = argparse.ArgumentParser(
        description='Compile the Triton GRU kernels for NVIDIA GPUs (no GPU '
        'needed) and report registers, spills and shared memory.')
    parser.add_argument('--arch', type=int, nargs='+', default=[80, 90],
                        help='compute capabilities, e.g. 80 (A100), 90 '
                        '(H100/H200)')
    parser.add_argument('--hidden', type=int, nargs='+',
                        default=[16, 32, 64, 128, 256],
                        help='hidden sizes H (each picks its variant)')
    parser.add_argument('--precision', nargs='+',
                        default=list(kernels.PRECISIONS),
                        choices=kernels.PRECISIONS,
                        help='input precisions of the dot products')
    parser.add_argument('--check', action='store_true',
                        help='exit with status 1 if any variant spills')
    args = parser.parse_args()

    print(f'Triton {triton.__version__}; BLOCK_B = {kernels.BLOCK_B}.\n')
    print('| arch | H | precision | kernel | warps | registers | spill '
          'bytes | shared bytes |')
    print('|---|---|---|---|---|---|---|---|')
    spills = 0
    for arch in args.arch:
        for hidden in args.hidden:
            for precision in args.precision:
                for name, fn, flags, options in _variants(hidden, precision):
                    kernel = compile_kernel(
                        fn, dict(flags, PRECISION=precision), options, arch)
                    use = resource_usage(kernel)
                    spills += use['stack'] > 0
                    print(f'| sm_{arch} | {hidden} | {precision} | {name} | '
                          f'{options["num_warps"]} | {use["registers"]} | '
                          f'{use["stack"]} | {use["shared"]:,} |')
    if args.check and spills:
        sys.exit(f'{spills} variants spill registers')


if __name__ == '__main__':
    main()
