"""The executor interface, failure records, per-member random streams, serial executor,
and the member context every ensemble evaluation runs in (`MemberExecutor`)."""
from __future__ import annotations

import contextvars
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
    """``func(item)``, or a `Failed` record for a pdaframe error or non-finite numbers.

    A ``func`` that makes these records itself (`MemberTask`) is just called: its outputs
    are not scanned a second time.
    """
    if getattr(func, "evaluates", False):
        return func(item)
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


def first_failure(results) -> str | None:
    """``"member 3: ModelError: ..."`` for the first `Failed` record of ``results``, or None."""
    first = next((r for r in results if isinstance(r, Failed)), None)
    return None if first is None else f"member {first.index}: {first.error}"


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


def member_seed(seed, index) -> int | None:
    """Seed handed to member ``index``'s model run (``PDAFRAME_SEED``); None without ``seed``.

    A 32-bit integer from ``SeedSequence(seed, spawn_key=(index, 1))``: a stream of its own,
    independent of `member_rng` (the method's draws for that member), of the rank and of
    the executor. The same member index gets the same seed in every round of a run.
    """
    if seed is None:
        return None
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(index), 1))
               .generate_state(1)[0])


@dataclass(frozen=True)
class Member:
    """The ensemble member being evaluated (see `current_member`).

    Attributes
    ----------
    index : int
        Position of the member in its batch (the same under any executor or rank count).
    seed : int or None
        `member_seed` of the run's seed and ``index``.
    """

    index: int
    seed: int | None


_MEMBER: contextvars.ContextVar = contextvars.ContextVar("pdaframe_member", default=None)


def current_member() -> Member | None:
    """The `Member` whose evaluation is running in this thread, None outside an ensemble.

    `ExternalModel` reads it to set ``PDAFRAME_MEMBER``/``PDAFRAME_SEED``; a Python model
    with random parts may read it too.
    """
    return _MEMBER.get()


class MemberTask:
    """``func`` applied to one ``(index, item)`` pair inside its member context.

    Sets `current_member` while ``func(item)`` runs and turns a `PdaframeError` or a
    non-finite result into a `Failed` record (`evaluate`): whatever executor calls it.
    """

    evaluates = True         # makes the Failed records itself (see `evaluate`)

    def __init__(self, func, seed=None):
        self.func, self.seed = func, seed

    def __call__(self, pair):
        index, item = pair
        token = _MEMBER.set(Member(int(index), member_seed(self.seed, index)))
        try:
            return evaluate(self.func, item, int(index))
        finally:
            _MEMBER.reset(token)


class MemberExecutor:
    """Executor adapter that evaluates item ``i`` of every ``map`` as member ``i``.

    ``map(func, items)`` hands ``MemberTask(func, seed)`` and the ``(index, item)`` pairs
    to ``executor.map``, so any object with an order-keeping ``map`` (`SerialExecutor`,
    `MPIExecutor`, the builtin ``map`` wrapped in an object, a
    `concurrent.futures.ThreadPoolExecutor`) gives the same results: failures come back as
    `Failed` records and every member runs with the same `current_member`. The ensemble
    drivers wrap their executor in it (`with_members`).

    Parameters
    ----------
    executor : object with ``map(func, items)``
    seed : int, optional
        The run's seed (member ``i`` gets ``member_seed(seed, i)``).
    """

    def __init__(self, executor, seed=None):
        self.executor, self.seed = executor, seed

    def __getattr__(self, name):              # size, rank, schedule, ... of the executor
        if name == "executor":
            raise AttributeError(name)
        return getattr(self.executor, name)

    def map(self, func, items) -> list:
        """``func(item)`` per item (or a `Failed` record), in order, in member contexts."""
        return list(self.executor.map(MemberTask(func, self.seed), list(enumerate(items))))


def with_members(executor, seed=None) -> MemberExecutor:
    """``executor`` (default `get_executor`'s) wrapped in a `MemberExecutor` with ``seed``."""
    if isinstance(executor, MemberExecutor):
        executor = executor.executor
    return MemberExecutor(executor or get_executor(), seed)


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
