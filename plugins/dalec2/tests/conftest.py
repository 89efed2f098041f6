"""Make ``reference.py`` (the test-only numpy DALEC2) importable as ``reference``.

pytest runs with ``--import-mode=importlib``, which does not put test folders on
``sys.path``; this conftest does it for this folder only.
"""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
