"""Bookkeeping shared by the global searches (`pdaframe.methods.search.de`,
`pdaframe.methods.search.ga`): the member cost `Fitness`, the seed and budget checks, the
search box `_Box` (bounds, start, best member, history) and the ending `_finish` (polish,
posterior).

Global search in the parameter box: differential evolution (``de``) and a genetic
algorithm (``ga``), both ask/tell ensemble states.

Both search the physical box ``[lower, upper]`` of the prior (every parameter needs finite
bounds) and minimise the full cost ``J(theta) = problem.cost(theta)``, prior term included.
One ask/tell round is one generation: ``ask()`` gives the members to run, shape
``(n_member, n_param)``; ``tell(results)`` takes ``state.evaluate(member)`` (= ``J``) for
each, in order, so members can be run by any executor, or by hand::

    state = DEState(problem, seed=1, max_runs=5000)     # or GAState(...)
    while not state.done:
        state.tell(executor.map(state.evaluate, state.ask()))
    result = state.result()

Design
------
Determinism
    Every random decision is taken in the state, from generators keyed by ``seed`` (the GA
    uses ``SeedSequence(seed, spawn_key=(generation,))`` per generation, DE one
    ``default_rng(SeedSequence(seed))`` inside scipy); the executor only evaluates. The same
    seed therefore gives the same members, history and result whatever the executor, the
    order in which it evaluates, or the number of MPI ranks (all ranks run the state alike).
    Bit-identical paths hold for one scipy version; they may change across versions.
Failures
    A member whose run fails (`pdaframe.parallel.Failed`: a `ModelError` or non-finite
    output) gets the worst fitness, ``J = +inf``, and is counted in ``n_failed``; selection
    then discards it. Only when every member of the initial population fails is it an error.
Budget
    ``max_runs`` caps the members evaluated (``nfev <= max_runs``): the last generation is
    cut to what is left. ``polish`` and ``posterior`` runs come on top.

"""
from __future__ import annotations

import inspect
import logging

import numpy as np

from ...errors import ConfigError, ModelError
from ...result import OptimisationResult, Result
from ..contract import draw_seed
from ..ensemble import drive, failure_error, filled, laplace_ending

log = logging.getLogger(__name__)

#: ``status`` of the results: what ended the search.
STATUS = {
    -1: "in progress",
    0: "converged",
    1: "maximum number of generations reached",
    2: "budget of model runs used",
    3: "stopped before the end",
}


FINISH_OPTIONS = ("posterior", "polish")


def _rng_keyword(func) -> str:
    """scipy >= 1.15 takes ``rng=``; older versions ``seed=`` (both accept a Generator)."""
    return "rng" if "rng" in inspect.signature(func).parameters else "seed"


# --- shared pieces -------------------------------------------------------------------------

class Fitness:
    """``J(theta)`` of one member: what the executor runs.

    Holds only the Problem, so it pickles (for executors that send it elsewhere) and never
    touches the state.
    """

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, theta) -> float:
        return float(self.problem.cost(np.asarray(theta, dtype=float)))


def _check_budget(max_runs):
    if max_runs is None:
        return None
    if isinstance(max_runs, bool) or not float(max_runs).is_integer() or max_runs < 1:
        raise ConfigError(f"max_runs must be a positive whole number of model runs, "
                          f"got {max_runs!r}")
    return int(max_runs)


def _seed(seed) -> int:
    """The run's seed; ``None`` draws one (and the result reports it, so it can be rerun)."""
    if seed is None:
        return draw_seed()
    if isinstance(seed, bool) or not float(seed).is_integer() or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_x0(problem, x0, method) -> np.ndarray:
    """``x0`` as a flat array of ``n_param`` values, else a `ConfigError` naming ``method``."""
    x0 = np.asarray(x0, dtype=float).reshape(-1)
    if x0.size != problem.n_param:
        raise ConfigError(f"{method}: x0 has {x0.size} values for {problem.n_param} "
                          f"parameters {problem.parameter_names}")
    return x0


class _Box:
    """Bookkeeping shared by DE and GA: bounds, start, seed, budget, best member, history."""

    def __init__(self, problem, method, x0, seed, max_runs):
        self.method = method
        self.lower, self.upper = problem.prior.finite_bounds(
            f"method {method!r} searches the parameter box")
        self.seed = _seed(seed)
        self.max_runs = _check_budget(max_runs)
        self.x0 = None
        if x0 is not None:
            x0 = _check_x0(problem, x0, method)
            outside = ~((x0 >= self.lower) & (x0 <= self.upper))
            if outside.any():
                i = int(np.flatnonzero(outside)[0])
                raise ConfigError(f"{method}: x0 parameter {problem.parameter_names[i]!r} = "
                                  f"{x0[i]} is outside its bounds ({self.lower[i]}, "
                                  f"{self.upper[i]})")
            self.x0 = x0
        self.best_x, self.best_fun = None, np.inf
        self.history = {"cost": [], "x": [], "nfev": []}

    def record(self, state, members, results) -> np.ndarray:
        """Check and count a round (`EnsembleState._receive`), update the best member and
        the history; return the costs (``+inf``, the worst, for a `Failed` member)."""
        results = state._receive(results, len(members), self.method)
        costs = np.array(filled(results, np.inf, float))
        i = int(np.argmin(costs))
        if costs[i] < self.best_fun:          # strict: the earliest best member is kept
            self.best_fun, self.best_x = float(costs[i]), np.array(members[i], dtype=float)
        if self.best_x is None:
            raise failure_error(f"{self.method}: every member of the first generation failed "
                                f"({len(members)} runs; check the parameter bounds and the "
                                f"model)", results)
        self.history["cost"].append(self.best_fun)
        self.history["x"].append(self.best_x.copy())
        self.history["nfev"].append(state.nfev)
        return costs

    def budget_left(self, state):
        return np.inf if self.max_runs is None else self.max_runs - state.nfev

    def result(self, state, population, costs, status, success, message) -> Result:
        problem = state.problem
        if self.best_x is None:
            raise RuntimeError(f"{self.method}: result() before the first tell()")
        return OptimisationResult(
            x=self.best_x.copy(), fun=self.best_fun, success=bool(success), status=status,
            message=message, nit=max(state.iteration - 1, 0), nfev=state.nfev, njev=0,
            n_failed=state.n_failed,
            history={k: np.array(v) for k, v in self.history.items()},
            x0=(problem.prior.mean if self.x0 is None else self.x0).copy(),
            parameter_names=list(problem.parameter_names), method=self.method,
            population=np.array(population, dtype=float),
            population_cost=np.array(costs, dtype=float), seed=self.seed,
            max_runs=self.max_runs,
        ).attach_transform(problem.prior.transform)


def search_options(method, options, defaults, finish=True) -> dict:
    """``defaults`` updated by ``options``; an option not in ``defaults`` is a `ConfigError`
    naming ``method`` and the options it takes (with `FINISH_OPTIONS` when ``finish``)."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        known = list(defaults) + (list(FINISH_OPTIONS) if finish else [])
        raise ConfigError(f"{method}: unknown option(s) {unknown}; expected some of "
                          f"{', '.join(known)}")
    return {**defaults, **options}


def run_search(state_class, problem, x0, seed, max_runs, executor, callback, checkpoint,
               options) -> Result:
    """Make ``state_class`` from ``options`` less `FINISH_OPTIONS` and run it (`_finish`)."""
    finish = {k: options.pop(k) for k in FINISH_OPTIONS if k in options}
    state = state_class(problem, x0=x0, seed=seed, max_runs=max_runs, **options)
    return _finish(state, executor, callback, checkpoint, **finish)


def _finish(state, executor, callback, checkpoint=None, posterior=False,
            polish=False) -> Result:
    """Drive ``state`` (checkpointed to ``checkpoint``), stop it if it did not end by itself, then polish and posterior.

    Parameters
    ----------
    state : EnsembleState
        A `DEState` or `GAState`.
    executor, callback, checkpoint
        As `drive`.
    posterior : bool
        Compute the Gauss–Newton posterior covariance at ``x``, the best member or its
        polished minimum (`Problem.posterior_covariance`; model runs on top of
        ``max_runs``).
    polish : bool
        Run pdaframe's L-BFGS-B from the best member afterwards and keep its minimum if
        lower (model runs on top of ``max_runs``).
    """
    try:
        drive(state, executor, callback, checkpoint)
    finally:
        if not state.done:               # the callback raised StopIteration, or an error
            state.stop()
    result = state.result()
    problem = state.problem
    if polish:
        _polish(problem, result)
    if posterior:
        laplace_ending(problem, result)
    return result


def _polish(problem, result):
    """L-BFGS-B (pdaframe's, in control space) from the best member; keep it if better."""
    from ..scipy_minimisers import lbfgsb
    try:
        sub = lbfgsb(problem, x0=result.x, posterior=False)
    except (ConfigError, ModelError) as err:   # e.g. the best member sits on a bound
        log.warning("polish skipped: %s", err)
        result.polish = {"success": False, "message": f"skipped: {err}", "nfev": 0}
        return
    result.polish = {"x": sub.x, "fun": sub.fun, "success": sub.success,
                     "message": sub.message, "nfev": sub.nfev, "njev": sub.njev}
    result.nfev += sub.nfev
    result.njev += sub.njev
    if sub.fun < result.fun:
        result.x, result.fun = sub.x, sub.fun
        result.message += "; polished with L-BFGS-B"
