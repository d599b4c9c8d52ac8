# The shared test helpers (tests/reference.py) live one folder up.
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
