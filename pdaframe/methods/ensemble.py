"""Ask/tell ensemble methods and the loop that drives them through an executor.

An ensemble method is a state object::

    state = method_state(problem, seed=1, **options)
    while not state.done:
        members = state.ask()                      # (n_member, n_param), physical theta
        state.tell(executor.map(state.evaluate, members))
    result = state.result()

``state.evaluate`` is what one member costs (a model run and its observation vector for
4DEnVar, the cost J for GA/DE). Users who run members elsewhere (their batch scheduler, files)
call ``ask``/``tell`` themselves; `pdaframe.minimise` runs `drive` with an executor.
Results given to ``tell`` are in the order of ``ask``; a failed member is a
`pdaframe.parallel.Failed` record. `drive` evaluates the members through
`pdaframe.parallel.with_members`: item ``i`` of a round runs as member ``i`` with
``member_seed(state.seed, i)`` and a `PdaframeError` becomes a `Failed` record whatever the
executor. The result reports ``n_failed`` and, when some failed, ``first_failure``
(``"member 3: ModelError: ..."``).
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ..parallel import first_failure, with_members
from ..result import Result

log = logging.getLogger(__name__)


class EnsembleState:
    """Base of ask/tell states; subclasses implement `ask`, `tell`, `evaluate`, `result`.

    Attributes
    ----------
    problem : Problem
    done : bool
        True when the method has finished (converged or out of budget).
    nfev : int
        Members evaluated so far (model runs, on all ranks together).
    n_failed : int
        Members whose evaluation failed.
    first_failure : str or None
        ``"member <index>: <error>"`` of the first failed member.
    iteration : int
        Completed ask/tell rounds.
    """

    def __init__(self, problem):
        self.problem = problem
        self.done = False
        self.nfev = 0
        self.n_failed = 0
        self.first_failure = None
        self.iteration = 0

    def evaluate(self, theta):
        """What one member computes (runs in the executor; must not touch the state)."""
        raise NotImplementedError

    def ask(self) -> np.ndarray:
        """The next members to evaluate, shape ``(n_member, n_param)``."""
        raise NotImplementedError

    def tell(self, results) -> None:
        """Results of the members of the last `ask`, in order."""
        raise NotImplementedError

    def result(self) -> Result:
        """The `Result` so far."""
        raise NotImplementedError

    def _count(self, results):
        """Book-keeping shared by every `tell`: evaluations, failures, rounds."""
        from ..parallel import Failed
        self.nfev += len(results)
        self.n_failed += sum(isinstance(r, Failed) for r in results)
        if getattr(self, "first_failure", None) is None:     # absent in old checkpoints
            self.first_failure = first_failure(results)
        self.iteration += 1


def drive(state, executor=None, callback=None, checkpoint=None, report=None) -> Result:
    """Run an ask/tell state to the end with ``executor``.

    The default executor is `pdaframe.parallel.get_executor`'s: MPI when launched under
    ``mpiexec`` with several ranks, serial otherwise. Any object with an order-keeping
    ``map`` will do: members run through `pdaframe.parallel.with_members` (seed
    ``state.seed``). ``callback(report(state))`` after
    each round (default ``report``: ``state.result()``); `StopIteration` stops cleanly (and
    calls ``state.stop()`` if it has one).

    ``checkpoint`` (a `pdaframe.io.checkpoint.Checkpoint`, which `pdaframe.minimise` makes
    from a path; default None: no checkpoints) writes the whole state after every
    ``checkpoint.every`` rounds and after the last, atomically and on MPI rank 0 only; with
    ``resume=True`` it first continues ``state`` from its file. A state that cannot be
    checkpointed is a `ConfigError` before any round.
    Interrupted (``KeyboardInterrupt``, which ``pdaframe run`` also raises on SIGTERM) in
    a round, it writes the state of the last completed round if that is not on file yet
    (kept in memory between saves when a round takes at least 20 times as long as storing
    the state, so that the copy costs under 5 %), and re-raises.
    """
    from ..parallel import is_root

    executor = with_members(executor, getattr(state, "seed", None))
    report = report or (lambda s: s.result())
    cp = checkpoint
    if cp is not None and not callable(getattr(cp, "load_into", None)):
        raise TypeError(f"drive: checkpoint must be a pdaframe.io.checkpoint.Checkpoint "
                        f"(pdaframe.minimise also takes a path), got {type(cp).__name__}")
    root = is_root()
    store_seconds = round_seconds = 0.0
    if cp is not None:
        start = time.perf_counter()
        cp.encode(state)                     # fail before any work, not at the first write
        store_seconds = time.perf_counter() - start
        if cp.resume:
            cp.load_into(state)
    while not state.done:
        # between saves, keep the last completed round's state for an interruption
        unsaved = None
        if cp is not None and root and state.iteration % cp.every and \
                store_seconds <= 0.05 * round_seconds:
            start = time.perf_counter()
            unsaved = cp.encode(state)
            store_seconds = time.perf_counter() - start
        start = time.perf_counter()
        try:
            state.tell(executor.map(state.evaluate, state.ask()))
        except KeyboardInterrupt:
            if unsaved is not None:
                cp.save(state, unsaved)
                log.warning("interrupted: checkpoint of round %d written to %s",
                            state.iteration, cp.path)
            raise
        round_seconds = time.perf_counter() - start
        if cp is not None and root and (state.done or state.iteration % cp.every == 0):
            cp.save(state)
        if callback is not None:
            try:
                callback(report(state))
            except StopIteration:
                getattr(state, "stop", lambda: None)()
                break
    result = state.result()
    if state.n_failed and getattr(state, "first_failure", None):
        result.setdefault("n_failed", state.n_failed)
        result.setdefault("first_failure", state.first_failure)
    return result
