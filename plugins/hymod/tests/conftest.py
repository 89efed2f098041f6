"""Make ``hymod_reference.py`` (the test-only numpy HYMOD) importable (a distinct name: dalec2 has its own ``reference``)."""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
