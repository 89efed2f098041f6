"""The executor interface, failure records, per-member random streams, serial executor."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import PdaframeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failed:
    """A member (or site) whose evaluation failed.

    Attributes
    ----------
    index : int
        Position of the item in the batch.
    error : str
        What went wrong (exception type and message).
    """

    index: int
    error: str

    def __bool__(self):          # `if result:` reads as "succeeded"
        return False


def evaluate(func, item, index):
    """``func(item)``, or a `Failed` record for a pdaframe error or non-finite numbers."""
    try:
        value = func(item)
    except PdaframeError as err:
        log.info("member %d failed: %s", index, err)
        return Failed(index, f"{type(err).__name__}: {err}")
    arrays = value.values() if isinstance(value, dict) else (value,)
    for arr in arrays:
        a = np.asarray(arr)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            log.info("member %d failed: non-finite result", index)
            return Failed(index, "non-finite result")
    return value


def keep_succeeded(items, results, what="design", minimum=2):
    """The items whose result is not `Failed`, and those results stacked.

    Warns when some failed; `ModelError` when fewer than ``minimum`` succeeded (naming the
    first failure). Returns ``items_ok`` (array) and ``results_ok`` (float array).
    """
    import warnings
    from ..errors import ModelError
    ok = [not isinstance(r, Failed) for r in results]
    if sum(ok) < minimum:
        first = next((r.error for r in results if isinstance(r, Failed)), "")
        raise ModelError(f"{what}: only {sum(ok)} of {len(results)} runs succeeded (at least "
                         f"{minimum} needed); {first}")
    if not all(ok):
        warnings.warn(f"{what}: {len(ok) - sum(ok)} of {len(ok)} runs failed and are "
                      f"dropped", RuntimeWarning, stacklevel=3)
    return (np.asarray(items)[ok],
            np.array([r for r, k in zip(results, ok) if k], dtype=float))


def member_rng(seed, index) -> np.random.Generator:
    """Random generator of member ``index`` of a run with ``seed``: independent of ranks.

    ``numpy.random.SeedSequence(seed, spawn_key=(index,))`` gives the same stream for the
    same (seed, index) whatever the number of processes.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(index),)))


class SerialExecutor:
    """Evaluates items one after another in this process (the default)."""

    size = 1
    rank = 0

    def map(self, func, items) -> list:
        """``[func(item) for item in items]`` with failures as `Failed` records."""
        return [evaluate(func, item, i) for i, item in enumerate(items)]


def _mpi_size() -> int:
    """Number of MPI ranks of this run, without importing mpi4py when not under MPI."""
    import os
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def get_executor(kind: str | None = None):
    """The executor for this run: ``"serial"``, ``"mpi"`` or ``None`` (MPI if launched under
    ``mpiexec`` with more than one rank, serial otherwise)."""
    if kind is None:
        kind = "mpi" if _mpi_size() > 1 else "serial"
    if kind == "serial":
        return SerialExecutor()
    if kind == "mpi":
        from .mpi import MPIExecutor
        return MPIExecutor()
    raise PdaframeError(f"unknown executor {kind!r}; expected 'serial' or 'mpi'")


def is_root() -> bool:
    """True on MPI rank 0, and always when not running under MPI: only it writes and prints."""
    if _mpi_size() <= 1:
        return True
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank() == 0
