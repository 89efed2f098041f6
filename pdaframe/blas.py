"""BLAS threads for pdaframe's own dense algebra: one per process unless asked otherwise.

pdaframe's matrices are small (tens to a few thousand rows: priors, Jacobians, ensembles,
emulators). Multithreaded OpenBLAS on them is slower, not faster, whenever the cores are
busy — under ``mpiexec`` every rank starts its own threads on the same cores, and on a
shared node other jobs hold them: an 89 x 50 SVD took 58-103 ms instead of 0.4 ms, and the
DALEC2 twin's L-BFGS-B used 14x the CPU. So `pdaframe.minimise` (every method, from Python,
``pdaframe run`` and every MPI rank) runs with the BLAS limited by `blas_threads`:

* ``PDAFRAME_BLAS_THREADS`` unset: 1 thread;
* ``PDAFRAME_BLAS_THREADS=N``: N threads (large problems: big ensembles, dense R);
* ``PDAFRAME_BLAS_THREADS=default``: the BLAS library's own setting, untouched.

The limit is set through ``threadpoolctl`` (a scikit-learn dependency) for the duration of
the call only, and the previous setting is restored afterwards.
"""
from __future__ import annotations

import contextlib
import os

from .errors import ConfigError

ENV = "PDAFRAME_BLAS_THREADS"


def blas_thread_setting(value=None) -> int | None:
    """The number of BLAS threads asked for: ``value``, else ``$PDAFRAME_BLAS_THREADS``,
    else 1; None for ``"default"`` (leave the library alone).

    Raises
    ------
    ConfigError
        Not a positive whole number nor ``"default"``, naming the variable.
    """
    raw = os.environ.get(ENV, "1") if value is None else value
    text = str(raw).strip().lower()
    if text == "default":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{ENV}={raw!r}: expected a positive whole number of BLAS threads "
                          f"or 'default' (the library's own setting)")
    return n


def blas_threads(value=None):
    """Context limiting the BLAS to `blas_thread_setting` threads (a no-op for
    ``"default"`` or without threadpoolctl)."""
    n = blas_thread_setting(value)
    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                                     # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")
