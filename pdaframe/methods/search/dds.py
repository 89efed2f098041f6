"""Dynamically dimensioned search (``dds``; Tolson & Shoemaker 2007) as an ask/tell ensemble
state written here.

The algorithm (Tolson & Shoemaker 2007, §2.1)
    DDS is greedy and sized by its budget ``m = max_runs``: from the best point so far,
    run number ``i`` perturbs each parameter with probability ``P(i) = 1 - ln(i) / ln(m)``
    (at least one, picked at random, if none was chosen) by ``r (upper - lower) N(0, 1)``
    (``r = 0.2``); a value beyond a bound is reflected into the box (beyond the other
    bound after the reflection: set to the bound it crossed first, as the paper says).
    The candidate becomes the best point if its ``J`` is not larger. The search starts
    from ``x0`` (one run) or from the best of ``n_init = max(5, round(0.005 m))`` uniform
    draws (Tolson's DDS code and SPOTPY), and ends when the budget is used: the global
    phase (many parameters perturbed) turns into a local one (one parameter) as ``i``
    approaches ``m``. ``p_absorb = 0.5`` sets a crossed bound's value to the bound itself
    instead of reflecting it with probability 0.5 (Tolson's later code and SPOTPY's DDS).
Parallel candidates (an option, not in the paper)
    DDS is sequential: each run starts from the best point of all runs before it. With
    ``n_candidates = k > 1`` each round perturbs the best point ``k`` times, candidate
    ``j`` with ``P(i + j)``, and runs them together (an executor with ``k`` workers); the
    best of them (the first on a tie) is then compared with the best point. This is not
    Tolson & Shoemaker's algorithm: it spends ``k`` runs per move of the best point, so it
    needs more runs for the same ``J`` and is worth it only when ranks would otherwise be
    idle. SPOTPY's DDS under MPI similarly builds candidates from a best point that is
    not yet updated by the runs in flight; its ``trials`` option (independent restarts,
    each with the whole budget) is not offered here: run several seeds instead.
Determinism
    One generator, ``default_rng(SeedSequence(seed))``, kept in the state (and in its
    checkpoints) draws every candidate in ``tell``; the same seed gives the same run
    whatever the executor or the number of MPI ranks.
Budget
    ``max_runs`` is required (it sets ``P(i)``) and respected exactly (the last round is cut
    to what is left); it must exceed the initial runs.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...result import Result
from ..ensemble import EnsembleState
from .shared import (STATUS, Fitness, _Box, _finish, run_search,
                     search_options)

DDS_DEFAULTS = {"r": 0.2, "n_init": None, "n_candidates": 1, "p_absorb": 0.0}


class DDSState(EnsembleState):
    """DDS as an ask/tell state (see the module docstring and `dds`).

    Attributes
    ----------
    x_best, f_best : ndarray, float
        DDS's current point and its ``J`` (None before the first tell).
    """

    name = "dds"

    def __init__(self, problem, x0=None, seed=0, max_runs=1000, **options):
        super().__init__(problem)
        o = search_options('dds', options, DDS_DEFAULTS)
        if max_runs is None:
            raise ConfigError("dds: max_runs is required: the budget m sets the perturbation "
                              "probability 1 - ln(i)/ln(m)")
        r = o["r"]
        if isinstance(r, bool) or not isinstance(r, (int, float, np.floating)) or \
                not 0.0 < r <= 1.0:
            raise ConfigError(f"dds: r (the perturbation size, a fraction of each "
                              f"parameter's range) must be in (0, 1], got {r!r}")
        if not 0.0 <= o["p_absorb"] <= 1.0:
            raise ConfigError(f"dds: p_absorb must be in [0, 1], got {o['p_absorb']!r}")
        for key in ("n_candidates", "n_init"):
            value = o[key]
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, (int, np.integer)) or value < 1):
                raise ConfigError(f"dds: {key} must be a whole number >= 1, got {value!r}")
        self.box = box = _Box(problem, "dds", x0, seed, max_runs)
        self.seed = box.seed
        if o["n_init"] is None:
            o["n_init"] = 1 if box.x0 is not None else max(5, round(0.005 * box.max_runs))
        if box.max_runs <= o["n_init"]:
            raise ConfigError(f"dds: max_runs = {box.max_runs} leaves no run after the "
                              f"{o['n_init']} initial run(s) (n_init); raise max_runs")
        self.options = o
        self.evaluate = Fitness(problem)
        self.rng = np.random.default_rng(np.random.SeedSequence(box.seed))
        self.x_best = self.f_best = None
        self.status, self.message = -1, STATUS[-1]
        lo, up = box.lower, box.upper
        members = lo + self.rng.random((o["n_init"], lo.size)) * (up - lo)
        if box.x0 is not None:
            members[0] = box.x0
        self._members = members

    def ask(self) -> np.ndarray:
        """Members to run, ``(n_member, n_param)``: the initial draws, then the candidates
        (never more than the budget left: `_candidates` is asked for no more)."""
        if self.done:
            raise RuntimeError("ask(): DDS has finished")
        return self._members.copy()

    def tell(self, results) -> None:
        """Costs of `ask`'s members, in order; keeps the best, draws the next candidates."""
        if self.done:
            raise RuntimeError("tell(): DDS has finished")
        members = self.ask()
        costs = self.box.record(self, members, list(results))
        i = int(np.argmin(costs))
        if self.x_best is None or costs[i] <= self.f_best:
            self.x_best, self.f_best = members[i].copy(), float(costs[i])
        left = self.box.budget_left(self)
        if left <= 0:
            self.status, self.message = 2, (f"budget of {self.box.max_runs} model runs used "
                                            f"(DDS runs to its budget)")
            self.done = True
        else:
            self._members = self._candidates(int(min(left, self.options["n_candidates"])))

    def _candidates(self, k) -> np.ndarray:
        """``k`` perturbations of the best point, for runs ``nfev + 1 ... nfev + k``."""
        o, lo, up = self.options, self.box.lower, self.box.upper
        n = lo.size
        i = self.nfev + 1.0 + np.arange(k)
        prob = 1.0 - np.log(i) / np.log(self.box.max_runs)
        u = self.rng.random((k, 2 * n + 1))    # chosen?, absorbed?, which one if none
        step = o["r"] * (up - lo) * self.rng.standard_normal((k, n))
        chosen = u[:, :n] < prob[:, None]
        none = ~chosen.any(axis=1)
        chosen[none, (u[none, 2 * n] * n).astype(int)] = True
        x = np.where(chosen, self.x_best + step, self.x_best)
        below, above = x < lo, x > up
        if not (below.any() or above.any()):
            return x
        reflected = np.where(below, 2 * lo - x, np.where(above, 2 * up - x, x))
        reflected = np.where(below & (reflected > up), lo, reflected)
        reflected = np.where(above & (reflected < lo), up, reflected)
        absorb = u[:, n:2 * n] < o["p_absorb"]
        return np.where(absorb & below, lo, np.where(absorb & above, up, reflected))

    def stop(self) -> None:
        """End the search now (after a callback's `StopIteration`); idempotent."""
        if not self.done:
            self.status, self.message, self.done = 3, STATUS[3], True

    def result(self) -> Result:
        """Best point and why the search ended; ``population`` is DDS's current point."""
        pop = None if self.x_best is None else self.x_best[None, :]
        cost = None if self.f_best is None else [self.f_best]
        res = self.box.result(self, pop, cost, self.status, self.status == 2, self.message)
        res.nit = max(self.iteration - 1, 0)
        return res


def dds(problem, x0=None, callback=None, executor=None, seed=0, max_runs=1000,
        checkpoint=None, **options) -> Result:
    """Dynamically dimensioned search (DDS) over the parameter box, candidates run by
    ``executor`` (see the module docstring for the algorithm and its sources).

    Parameters
    ----------
    problem : Problem
        Every parameter needs finite prior bounds (the search box).
    x0 : array_like, optional
        The initial solution (one run; physical space), instead of ``n_init`` draws.
    callback : callable, optional
        ``callback(result)`` after each round; `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates the members (ordered ``map``); default serial. A round holds the initial
        draws, then ``n_candidates`` candidates.
    seed : int or None
        Seed of every random decision (``None``: drawn, and reported in the result).
    max_runs : int
        Budget of model runs ``m``: DDS always uses all of it (its perturbation probability
        ``1 - ln(i)/ln(m)`` is scaled to it).
    **options
        DDS's (below: ``r`` ... ``p_absorb``), and ``polish`` and ``posterior`` as in `de`
        (`_finish`).
    r : float
        Perturbation size: the standard deviation of a step as a fraction of the
        parameter's range, in (0, 1] (Tolson & Shoemaker: 0.2).
    n_init : int, optional
        Uniform draws whose best starts the search (default ``max(5, round(0.005 m))``, or
        1, ``x0`` itself, when ``x0`` is given).
    n_candidates : int
        Candidates per round, run together (1: DDS as published; see the module docstring).
    p_absorb : float
        Probability that a value beyond a bound is set to the bound instead of reflected
        (0: Tolson & Shoemaker 2007; 0.5: Tolson's later code and SPOTPY).

    Returns
    -------
    Result
        As `de`; ``success`` is true when the budget was used (DDS's end), ``status`` 2;
        ``population`` holds DDS's current point.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> prior = pdaframe.UniformPrior([-5.0, -5.0], [5.0, 5.0])
    >>> obs = pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0], std=0.1)
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]), method=dds,
    ...                         seed=1, max_runs=1000)
    >>> bool(np.allclose(res.x, 1.0, atol=0.01)), res.nfev
    (True, 1000)
    """
    return run_search(DDSState, problem, x0, seed, max_runs, executor, callback, checkpoint,
                      options)


# option declarations for the checks before the first run (`pdaframe.minimise`)
dds.option_defaults = {**DDS_DEFAULTS, "posterior": False, "polish": False}
dds.option_counts = {"n_init": (1, "initial runs"), "n_candidates": (1, "candidates per round"),
                     "max_runs": (2, "model runs")}
dds.option_docs = (_finish,)             # posterior, polish
dds.family = "search"

METHODS = {"dds": dds}
