"""Shuffled complex evolution (``sceua``; Duan, Sorooshian & Gupta 1992, 1994) as an ask/tell
ensemble state written here.

The algorithm (Duan et al. 1994, §2; Duan's ``sceua.m``/``cceua.m``, as SPOTPY's ``sceua``)
    ``s = p m`` points are drawn uniformly in the box (``x0`` first if given) and sorted by
    ``J``. Each evolution loop deals them into ``p`` complexes of ``m`` points (complex
    ``k`` gets the points ranked ``k, k + p, k + 2p, ...``) and evolves every complex for
    ``beta`` competitive complex evolution (CCE) steps: a simplex of ``q`` points is chosen
    (the complex's best point and ``q - 1`` others, without replacement, with the
    triangular probabilities ``p_i = 2 (m + 1 - i) / (m (m + 1))`` of rank ``i``); its worst
    point ``u`` is reflected through the centroid ``g`` of the others, ``r = 2 g - u`` (a
    random point if ``r`` leaves the box); if ``J(r) >= J(u)`` the contraction
    ``c = (g + u) / 2`` is tried, and if that fails too a random point. The first point
    that improves on ``u`` (the random point in any case) replaces it, and the complex is
    sorted again. The complexes are then shuffled back into one sorted population.
Defaults
    ``m = 2 n + 1``, ``q = n + 1``, ``beta = m``, one offspring per simplex (Duan et al.
    1994's recommendations); ``n_complexes = 2``, ``kstop = 10``, ``pcento = 0.1`` (%),
    ``peps = 0.001`` (the settings of Duan's MATLAB test driver; SPOTPY 1.6.7 uses
    ``ngs = 20, kstop = 100, pcento = 1e-7, peps = 1e-7``, and its HYMOD tutorial ``ngs = 7,
    kstop = 3, pcento = 0.1, peps = 0.1``). The random point is drawn in the smallest box
    holding the complex (``mutation = "complex"``, Duan et al. 1994, step (v)) rather than
    in the whole box (``"box"``: Duan's MATLAB code and SPOTPY). On HYMOD
    (``benchmarks/sceua_dds_spotpy.py``, medians of 10 seeds) the defaults reach RMSE 7.51
    in 362 runs, ``mutation = "box"`` in 508, 7 complexes in 1190; with SPOTPY's tutorial
    settings this code, like SPOTPY's, reaches it in 3 seeds of 10 within 2000 runs. Fewer
    complexes explore less: on 10-d Griewank 2 complexes miss the global minimum for one
    seed of five, 5 complexes for none (at twice the runs).
Stopping
    After each loop: the budget ``max_runs`` is used (status 2); the population's normalised
    geometric range ``exp(mean(log((max - min) / (upper - lower))))`` is below ``peps``
    (status 0); the best ``J`` changed by less than ``pcento`` % of its mean over the last
    ``kstop`` loops (status 0); ``maxiter`` loops were run (status 1).
Ask/tell and parallel runs
    Round 1 is the initial population (``p m`` members). Within a loop the complexes evolve
    independently, so each round asks for the pending trial point of every complex still
    evolving (up to ``p`` members: a reflection, contraction or random point, each complex
    at its own stage); a loop takes ``beta`` to ``3 beta`` rounds. The result is the same as
    evolving the complexes one after the other, as SPOTPY does.
Determinism
    The initial population comes from ``SeedSequence(seed, spawn_key=(0,))``, complex ``k``'s
    draws in loop ``l`` from ``SeedSequence(seed, spawn_key=(l, k + 1))``: the same seed gives
    the same run whatever the executor, the evaluation order or the number of MPI ranks.
Budget
    ``max_runs`` caps the runs exactly (the last round is cut, complexes first); it must
    cover at least the initial population.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from ...errors import ConfigError
from ...result import Result
from ..ensemble import EnsembleState
from .shared import (STATUS, Fitness, _Box, _finish, _rng_keyword, run_search,
                     search_options)

SCEUA_DEFAULTS = {"n_complexes": 2, "points_per_complex": None, "simplex_size": None,
                  "evolution_steps": None, "maxiter": 1000, "kstop": 10, "pcento": 0.1,
                  "peps": 0.001, "mutation": "complex", "init": "random"}

# stage of a complex's pending trial point
_REFLECT, _CONTRACT, _RANDOM, _IDLE = 0, 1, 2, 3


def _whole(value, minimum, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"sceua: {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _rng(seed, *key) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(map(int, key))))


class SCEUAState(EnsembleState):
    """SCE-UA as an ask/tell state (see the module docstring and `sceua`).

    Attributes
    ----------
    population : ndarray, shape (p m, n_param)
        The population after the last shuffle, best first (None before the first tell).
    costs : ndarray, shape (p m,)
        Their costs.
    loop : int
        Evolution loops completed.
    """

    name = "sceua"

    def __init__(self, problem, x0=None, seed=0, max_runs=None, **options):
        super().__init__(problem)
        o = search_options('sceua', options, SCEUA_DEFAULTS)
        n = problem.n_param
        o["n_complexes"] = _whole(o["n_complexes"], 1, "n_complexes")
        for key, default, minimum in (("points_per_complex", 2 * n + 1, 2),
                                      ("simplex_size", n + 1, 2),
                                      ("evolution_steps", None, 1)):
            value = default if o[key] is None else o[key]
            o[key] = None if value is None else _whole(value, minimum, key)
        if o["evolution_steps"] is None:
            o["evolution_steps"] = o["points_per_complex"]
        if o["simplex_size"] > o["points_per_complex"]:
            raise ConfigError(f"sceua: simplex_size = {o['simplex_size']} exceeds "
                              f"points_per_complex = {o['points_per_complex']}")
        o["maxiter"] = _whole(o["maxiter"], 1, "maxiter")
        o["kstop"] = _whole(o["kstop"], 1, "kstop")
        for key in ("pcento", "peps"):
            if isinstance(o[key], bool) or not np.isfinite(o[key]) or o[key] < 0:
                raise ConfigError(f"sceua: {key} must be a number >= 0, got {o[key]!r}")
        for key, allowed in (("mutation", ("complex", "box")),
                             ("init", ("random", "latinhypercube"))):
            if o[key] not in allowed:
                raise ConfigError(f"sceua: {key} must be one of {allowed}, got {o[key]!r}")
        self.options = o
        self.box = box = _Box(problem, "sceua", x0, seed, max_runs)
        self.seed = box.seed
        p, m = o["n_complexes"], o["points_per_complex"]
        if box.max_runs is not None and box.max_runs < p * m:
            raise ConfigError(
                f"sceua: max_runs = {box.max_runs} is smaller than the initial population, "
                f"n_complexes * points_per_complex = {p} * {m} = {p * m} runs; raise "
                f"max_runs or lower n_complexes")
        self.evaluate = Fitness(problem)
        self.population = self.costs = None
        self.loop = 0
        self.best_per_loop = []
        self.status, self.message = -1, STATUS[-1]
        self._members = self._initial(p * m)
        self._cx = self._cf = None            # complexes (p, m, n) and their costs (p, m)

    # --- rounds ------------------------------------------------------------------------

    def _initial(self, size) -> np.ndarray:
        lo, up = self.box.lower, self.box.upper
        rng = _rng(self.seed, 0)
        if self.options["init"] == "latinhypercube":
            sampler = qmc.LatinHypercube(d=lo.size, **{_rng_keyword(qmc.LatinHypercube): rng})
            members = qmc.scale(sampler.random(size), lo, up)
        else:
            members = lo + rng.random((size, lo.size)) * (up - lo)
        if self.box.x0 is not None:
            members[0] = self.box.x0
        return members

    def ask(self) -> np.ndarray:
        """Members to run, ``(n_member, n_param)``: the initial population, then the pending
        trial point of each evolving complex (cut to the budget)."""
        if self.done:
            raise RuntimeError("ask(): SCE-UA has finished")
        left = self.box.budget_left(self)
        return self._members[:int(min(left, len(self._members)))].copy()

    def tell(self, results) -> None:
        """Costs of `ask`'s members, in order; moves each complex to its next trial point,
        shuffling the complexes when all have done their evolution steps."""
        if self.done:
            raise RuntimeError("tell(): SCE-UA has finished")
        members = self.ask()
        costs = self.box.record(self, members, list(results))
        if self.population is None:
            order = np.argsort(costs, kind="stable")
            self.population, self.costs = members[order], costs[order]
            self._check_done()
        else:
            for k, cost in zip(np.flatnonzero(self._stage != _IDLE), costs):
                self._advance(k, cost)
            if np.all(self._stage == _IDLE):
                self._shuffle()
                self.loop += 1
                self.best_per_loop.append(float(self.costs[0]))
                self._check_done()
            elif self.box.budget_left(self) <= 0:
                self._shuffle()
                self._end(2, f"budget of {self.box.max_runs} model runs used")
            else:
                self._members = self._trial[self._stage != _IDLE].copy()
                return
        if not self.done:
            self._deal()
            self._members = self._trial.copy()

    # --- complexes -----------------------------------------------------------------------

    def _deal(self):
        """Partition the sorted population into the complexes and start their first steps."""
        p, n = self.options["n_complexes"], self.box.lower.size
        self._cx = np.stack([self.population[k::p] for k in range(p)])
        self._cf = np.stack([self.costs[k::p] for k in range(p)])
        self._rngs = [_rng(self.seed, self.loop + 1, k + 1) for k in range(p)]
        self._steps = np.zeros(p, dtype=int)
        self._stage = np.full(p, _REFLECT)
        self._simplex = np.zeros((p, self.options["simplex_size"]), dtype=int)
        self._trial = np.zeros((p, n))
        m = self.options["points_per_complex"]
        self._log_weights = np.log(m - np.arange(1, m, dtype=float))
        for k in range(p):
            self._start_step(k)

    def _start_step(self, k):
        """Choose complex ``k``'s simplex and its reflection point (random if outside)."""
        m, q = self.options["points_per_complex"], self.options["simplex_size"]
        # ranks 2 ... m drawn without replacement with weights m + 1 - rank (Gumbel top-k:
        # the q - 1 largest log(w) + Gumbel noise are a successive weighted draw)
        keys = self._log_weights - np.log(-np.log(self._rngs[k].random(m - 1)))
        others = np.argpartition(-keys, q - 2)[:q - 1] + 1
        self._simplex[k, 0], self._simplex[k, 1:] = 0, np.sort(others)
        s = self._cx[k, self._simplex[k]]
        reflected = 2.0 * s[:-1].mean(axis=0) - s[-1]
        if np.any(reflected < self.box.lower) or np.any(reflected > self.box.upper):
            reflected = self._random_point(k)
        self._stage[k], self._trial[k] = _REFLECT, reflected

    def _random_point(self, k) -> np.ndarray:
        if self.options["mutation"] == "complex":
            lo, up = self._cx[k].min(axis=0), self._cx[k].max(axis=0)
        else:
            lo, up = self.box.lower, self.box.upper
        return lo + self._rngs[k].random(lo.size) * (up - lo)

    def _advance(self, k, cost):
        """Complex ``k``'s trial point cost ``cost``: accept it, or try the next point."""
        worst = self._simplex[k, -1]
        stage = self._stage[k]
        if stage != _RANDOM and not cost < self._cf[k, worst]:
            if stage == _REFLECT:
                s = self._cx[k, self._simplex[k]]
                self._stage[k], self._trial[k] = _CONTRACT, 0.5 * (s[:-1].mean(axis=0) + s[-1])
            else:
                self._stage[k], self._trial[k] = _RANDOM, self._random_point(k)
            return
        self._cx[k, worst], self._cf[k, worst] = self._trial[k], cost
        order = np.argsort(self._cf[k], kind="stable")
        self._cx[k], self._cf[k] = self._cx[k, order], self._cf[k, order]
        self._steps[k] += 1
        if self._steps[k] < self.options["evolution_steps"]:
            self._start_step(k)
        else:
            self._stage[k] = _IDLE

    def _shuffle(self):
        """Put the complexes back into the population and sort it."""
        p = self.options["n_complexes"]
        for k in range(p):
            self.population[k::p], self.costs[k::p] = self._cx[k], self._cf[k]
        order = np.argsort(self.costs, kind="stable")
        self.population, self.costs = self.population[order], self.costs[order]

    # --- stopping --------------------------------------------------------------------------

    def geometric_range(self) -> float:
        """Normalised geometric range of the population (``peps`` test; fixed parameters,
        with equal bounds, left out)."""
        span = self.box.upper - self.box.lower
        free = span > 0
        if not free.any():
            return 0.0
        width = np.ptp(self.population[:, free], axis=0) / span[free]
        with np.errstate(divide="ignore"):
            return float(np.exp(np.mean(np.log(width))))

    def _check_done(self):
        o, best = self.options, self.best_per_loop
        if self.box.budget_left(self) <= 0:
            self._end(2, f"budget of {self.box.max_runs} model runs used")
        elif self.geometric_range() < o["peps"]:
            self._end(0, f"population converged: normalised geometric range below "
                         f"peps = {o['peps']:g}")
        elif len(best) >= o["kstop"] and self._change(best[-o["kstop"]:]) < o["pcento"]:
            self._end(0, f"best J changed by less than pcento = {o['pcento']:g} % in the "
                         f"last kstop = {o['kstop']} loops")
        elif self.loop >= o["maxiter"]:
            self._end(1, f"maxiter = {o['maxiter']} evolution loops reached")

    @staticmethod
    def _change(window) -> float:
        """Change of the best J over ``window`` (loops) in % of its mean absolute value."""
        scale = np.mean(np.abs(window))
        return 0.0 if scale == 0 else 100.0 * abs(window[-1] - window[0]) / scale

    def _end(self, status, message):
        self.status, self.message, self.done = status, message, True

    def stop(self) -> None:
        """End the search now (after a callback's `StopIteration`); idempotent."""
        if not self.done:
            if self._cx is not None and self.population is not None:
                self._shuffle()
            self._end(3, STATUS[3])

    def result(self) -> Result:
        """Best point, the population and why the search ended; ``nit`` = loops completed."""
        pop, costs = self.population, self.costs
        if self._cx is not None and not self.done:        # mid-loop: complexes as they are
            pop = np.concatenate(list(self._cx))
            costs = np.concatenate(list(self._cf))
        res = self.box.result(self, pop, costs, self.status, self.status == 0, self.message)
        res.nit = self.loop
        return res


def sceua(problem, x0=None, callback=None, executor=None, seed=0, max_runs=None,
          checkpoint=None, **options) -> Result:
    """Shuffled complex evolution (SCE-UA) over the parameter box, members run by
    ``executor`` (see the module docstring for the algorithm and its sources).

    Parameters
    ----------
    problem : Problem
        Every parameter needs finite prior bounds (the search box).
    x0 : array_like, optional
        Put in the initial population (physical space).
    callback : callable, optional
        ``callback(result)`` after each round; `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates the members (ordered ``map``); default serial. A round holds the initial
        population, then one trial point per evolving complex.
    seed : int or None
        Seed of every random decision (``None``: drawn, and reported in the result).
    max_runs : int, optional
        Budget of model runs, respected exactly; at least ``n_complexes *
        points_per_complex`` (the initial population). Default: only the stopping rules.
    **options
        SCE-UA's (below: ``n_complexes`` ... ``init``), and ``polish`` and ``posterior``
        as in `de` (`_finish`).
    n_complexes : int
        Number of complexes ``p`` (at least 1); more explores more widely and costs more
        runs per loop.
    points_per_complex : int, optional
        Points per complex ``m`` (at least 2; default ``2 n_param + 1``).
    simplex_size : int, optional
        Points per simplex ``q`` (2 to ``m``; default ``n_param + 1``).
    evolution_steps : int, optional
        CCE steps per complex between shuffles ``beta`` (default ``m``).
    maxiter : int
        Maximum number of evolution loops (shuffles).
    kstop : int
        Number of loops over which ``pcento`` is tested.
    pcento : float
        Stop when the best J changed by less than this percentage of its mean over the last
        ``kstop`` loops (0: never).
    peps : float
        Stop when the normalised geometric range of the population falls below this (0:
        never).
    mutation : {"complex", "box"}
        Where the random point of a failed step is drawn: the smallest box holding the
        complex (Duan et al. 1994) or the whole parameter box (Duan's code, SPOTPY).
    init : {"random", "latinhypercube"}
        How the initial population fills the box: uniform draws (Duan) or a Latin
        hypercube.

    Returns
    -------
    Result
        As `de`, with ``nit`` the evolution loops completed, ``population`` and
        ``population_cost`` the sorted population (``p m`` points) and ``history`` per
        round.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> prior = pdaframe.UniformPrior([-5.0, -5.0], [5.0, 5.0])
    >>> obs = pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0], std=0.1)
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]), method=sceua,
    ...                         seed=1, max_runs=2000)
    >>> bool(np.allclose(res.x, 1.0, atol=1e-3)), res.nfev <= 2000
    (True, True)
    """
    return run_search(SCEUAState, problem, x0, seed, max_runs, executor, callback, checkpoint,
                      options)


# option declarations for the checks before the first run (`pdaframe.minimise`)
sceua.option_defaults = {**SCEUA_DEFAULTS, "posterior": False, "polish": False}
sceua.option_counts = {"n_complexes": (1, "complexes"),
                       "points_per_complex": (2, "points per complex"),
                       "simplex_size": (2, "points per simplex"),
                       "evolution_steps": (1, "CCE steps per loop"),
                       "maxiter": (1, "evolution loops"), "kstop": (1, "loops"),
                       "max_runs": (1, "model runs")}
sceua.option_docs = (_finish,)             # posterior, polish
sceua.family = "search"

METHODS = {"sceua": sceua}
