r"""Smoke tests of the benchmark scripts that run fresh processes."""
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


@pytest.mark.slow  # Two fresh processes and a spinning one.
def test_shared_machine_script(tmp_path):
    import json
    out = tmp_path / 'shared.md'
    subprocess.run([
        sys.executable, osp.join(ROOT, 'benchmarks', 'shared_machine.py'),
        '--dataset', 'Cora', '--models', 'sage', '--budget', '0.2',
        '--repeats', '3', '--out', str(out)
    ], check=True, capture_output=True, timeout=600)
    assert '| SAGEConv (mean) |' in out.read_text()
    with open(tmp_path / 'shared.json') as f:
        result = json.load(f)['sage']
    for condition in ('idle', 'busy'):
        assert result[condition]['forward'] > 0
        assert result[condition]['train'] > 0
    # No spinner is left behind:
    procs = subprocess.run(['pgrep', '-f', 'while time.time() < end'],
                           capture_output=True, text=True).stdout.split()
    assert not procs
