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
`pdaframe.parallel.Failed` record.
"""
from __future__ import annotations

import numpy as np

from ..parallel import get_executor
from ..result import Result


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
    iteration : int
        Completed ask/tell rounds.
    """

    def __init__(self, problem):
        self.problem = problem
        self.done = False
        self.nfev = 0
        self.n_failed = 0
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
        self.iteration += 1


def drive(state, executor=None, callback=None) -> Result:
    """Run an ask/tell state to the end with ``executor``.

    The default executor is `pdaframe.parallel.get_executor`'s: MPI when launched under
    ``mpiexec`` with several ranks, serial otherwise. ``callback(state.result())`` after
    each round; `StopIteration` stops cleanly (and calls ``state.stop()`` if it has one).
    """
    executor = executor or get_executor()
    while not state.done:
        state.tell(executor.map(state.evaluate, state.ask()))
        if callback is not None:
            try:
                callback(state.result())
            except StopIteration:
                getattr(state, "stop", lambda: None)()
                break
    return state.result()
