import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.slow  # Two fresh processes.
def test_mingru_speed_script(tmp_path):
    out = tmp_path / 'mingru.md'
    subprocess.run([
        sys.executable, osp.join(ROOT, 'benchmarks', 'mingru_speed.py'),
        '--graphs', 'ba20k', '--modes', 'forward', '--repeats', '1',
        '--threads', '1', '--out', str(out)
    ], check=True, capture_output=True, timeout=600)
    row = [line for line in out.read_text().splitlines()
           if line.startswith('| ba20k | forward')][0].split('|')
    sage, mingru, ratio = (c.strip() for c in row[3:6])
    assert sage.endswith(' ms') and mingru.endswith(' ms')
    assert float(ratio.rstrip('x')) > 0
