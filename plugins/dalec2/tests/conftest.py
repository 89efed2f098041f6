"""Make ``reference.py`` (the test-only numpy DALEC2) importable as ``reference``, and the
bundled sites' drivers as fixtures.

pytest runs with ``--import-mode=importlib``, which does not put test folders on
``sys.path``; this conftest does it for this folder only.
"""
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(scope="session")
def us_me2():
    """US-Me2's bundled daily drivers, 2004-01-01 .. 2007-12-31."""
    from pdaframe_dalec2.readers import read_us_me2
    return read_us_me2(start="2004-01-01", end="2007-12-31")


@pytest.fixture(scope="session")
def de_hai():
    """DE-Hai's bundled monthly drivers, 2001-01 .. 2016-12."""
    from pdaframe_dalec2.readers import read_de_hai
    return read_de_hai()
