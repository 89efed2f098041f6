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

The book-keeping every state shares lives here once: `EnsembleState._receive` (the number
of results checked, the round counted), `filled` (`Failed` records replaced by a value),
`failure_error` and `too_few_error` (a `ModelError` naming the first failure),
`MeanEnding` (a last round that runs the ensemble's estimate once, for ``fun = J(x)``) and
`laplace_ending` (the Gauss–Newton posterior at the end of a search or minimiser).
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ..errors import ModelError
from ..parallel import Failed, first_failure, with_members
from ..result import Result

log = logging.getLogger(__name__)


def filled(results, value, convert=None) -> list:
    """``results`` with every `Failed` record replaced by ``value`` (and every other result
    passed through ``convert``, if given)."""
    return [value if isinstance(r, Failed) else r if convert is None else convert(r)
            for r in results]


def failure_error(message, results) -> ModelError:
    """A `ModelError` saying ``message`` and, if a member of ``results`` failed, the first
    failure (``"; first failure: member 3: ModelError: ..."``)."""
    first = first_failure(results)
    return ModelError(message if first is None else f"{message}; first failure: {first}")


def too_few_error(what, n_ok, n, minimum, results) -> ModelError:
    """The `failure_error` of a round in which only ``n_ok`` of ``n`` members ran, fewer
    than the ``minimum`` the method needs; ``what`` names the method and the round."""
    return failure_error(f"{what}: only {n_ok} of {n} members ran ({n - n_ok} failed; at "
                         f"least {minimum} needed)", results)


def laplace_ending(problem, result, mode=None):
    """Add the Gauss–Newton (Laplace) posterior at ``result.x`` to ``result``.

    Sets ``posterior_covariance`` (`Problem.posterior_covariance`, ``mode`` passed on),
    ``posterior_std`` and ``nfev_posterior`` (the model runs it took); returns ``result``.
    """
    runs = problem.nrun
    cov = problem.posterior_covariance(result.x, mode=mode)
    result.posterior_covariance = cov
    result.posterior_std = np.sqrt(np.diag(cov))
    result.nfev_posterior = problem.nrun - runs
    return result


class Tally:
    """Members evaluated and failed, over batches of results (`EnsembleState`, emcee's pool).

    Attributes
    ----------
    nfev : int
        Members evaluated so far (model runs, on all ranks together).
    n_failed : int
        Members whose evaluation failed.
    first_failure : str or None
        ``"member <index>: <error>"`` of the first failed member.
    """

    def __init__(self):
        self.nfev = 0
        self.n_failed = 0
        self.first_failure = None

    def _count(self, results):
        """Count a batch of results."""
        self.nfev += len(results)
        self.n_failed += sum(isinstance(r, Failed) for r in results)
        if getattr(self, "first_failure", None) is None:     # absent in old checkpoints
            self.first_failure = first_failure(results)


class EnsembleState(Tally):
    """Base of ask/tell states; subclasses implement `ask`, `tell`, `evaluate`, `result`.

    Attributes
    ----------
    problem : Problem
    done : bool
        True when the method has finished (converged or out of budget).
    nfev, n_failed, first_failure
        As `Tally`.
    iteration : int
        Completed ask/tell rounds.
    """

    def __init__(self, problem):
        super().__init__()
        self.problem = problem
        self.done = False
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
        super()._count(results)
        self.iteration += 1

    def _receive(self, results, expected, what) -> list:
        """The results of a round as a list, checked and counted (`_count`).

        Another number than ``expected`` (the members of the last `ask`) is a `ValueError`
        naming ``what`` (the method) and both numbers.
        """
        results = list(results)
        if len(results) != expected:
            raise ValueError(f"{what}: tell() got {len(results)} results for the {expected} "
                             f"members of the last ask()")
        self._count(results)
        return results


class MeanEnding(EnsembleState):
    """An ensemble state whose last round runs its estimate ``x`` once, for ``fun = J(x)``.

    Subclasses start with ``x = fun = None``, set ``x`` (physical space) when their members
    are done, and implement
    `_ask_members` (the ``n_members`` members of a round), `_tell_members` (their results,
    checked and counted) and `_obs_cost` (``J_o`` of one result). ``label`` names the method
    and ``mean_name`` the estimate in messages. A failed run of ``x`` gives ``fun = inf``
    with a warning.
    """

    label = "ensemble"
    mean_name = "mean"

    def ask(self) -> np.ndarray:
        """The members of the round, then (once ``x`` is set) ``x`` alone."""
        if self.x is None:
            return self._ask_members()
        return self.x[None, :].copy()

    def tell(self, results) -> None:
        """Results of the last `ask`, in order."""
        final = self.x is not None
        results = self._receive(results, 1 if final else self.n_members, self.label)
        if not final:
            self._tell_members(results)
            return
        r = results[0]
        if isinstance(r, Failed):
            log.warning("%s: the model fails at the %s (%s); fun = inf", self.label,
                        self.mean_name, r.error)
            self.fun = np.inf
        else:
            self.fun = self.problem.prior.cost(self.x) + self._obs_cost(r)
        self.done = True

    def _ask_members(self) -> np.ndarray:
        raise NotImplementedError

    def _tell_members(self, results) -> None:
        raise NotImplementedError

    def _obs_cost(self, result) -> float:
        raise NotImplementedError


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
