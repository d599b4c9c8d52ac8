r"""The code blocks of the user documentation run as written, in order, from
the repository's root (the README's are in test_benchmarks.py)."""
import os.path as osp
import re

import pytest

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..')
PAGES = ['guide.md', 'ordering.md', 'pipelines.md']


@pytest.mark.parametrize('page', PAGES)
def test_code_blocks_run(page, monkeypatch):
    with open(osp.join(ROOT, 'docs', page)) as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
    assert blocks
    monkeypatch.chdir(ROOT)
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f'docs/{page}, block {i + 1}', 'exec'), namespace)
