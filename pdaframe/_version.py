"""pdaframe's version, in a module of its own so that inner modules (checkpoints) need not
import the package root; pyproject.toml repeats it (tests/unit/test_install.py checks they
agree)."""
__version__ = "0.1.0"
