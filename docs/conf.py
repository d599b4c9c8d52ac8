r"""Sphinx configuration: the Markdown guides through MyST, the API reference
through autodoc and napoleon (PyG's :obj:`Args:` docstrings).

Build from the repository's root with
:obj:`sphinx-build -W -b html docs docs/_build/html` (warnings are errors).
"""
import os.path as osp
import sys

# The package documented is the one beside this folder, not another install.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import torch_geometric_gru  # noqa: E402

project = 'torch_geometric_gru'
author = 'torch_geometric_gru developers'
copyright = 'torch_geometric_gru developers'  # noqa: A001
version = release = torch_geometric_gru.__version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.autosummary',
    'sphinx.ext.mathjax',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
]

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
# docs/results/ holds the benchmarks' raw tables (Markdown and JSON) that
# results.md quotes and plots: data, not pages.
exclude_patterns = ['_build', 'results/**', 'Thumbs.db', '.DS_Store']

# Headings become link targets (`ordering.md#the-contract`).
myst_heading_anchors = 3

autodoc_member_order = 'bysource'
autodoc_typehints = 'none'  # The `Args:` sections say the types.
autodoc_default_options = {'show-inheritance': True}
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = 'furo'
html_title = f'torch_geometric_gru {release}'

# A reference to a class, function, method or module that does not resolve
# is an error (with -W), except those into packages whose inventories are
# not fetched (the build is offline). :obj:`...` is PyG's markup for
# literals (argument names, values), never a link target.
nitpicky = True
nitpick_ignore_regex = [
    (r'py:obj', r'.*'),
    (r'py:class', r'optional|callable'),  # napoleon's "(int, optional)"
    (r'py:.*', r'(torch|torch_geometric|torch_sparse|typing|collections)'
     r'(\..*)?|SparseTensor|EdgeStorage'),
    # Private bases (shown by show-inheritance) are not documented.
    (r'py:class', r'torch_geometric_gru\..*\._\w+'),
]
