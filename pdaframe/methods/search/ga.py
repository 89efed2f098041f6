"""Genetic algorithm (``ga``): an ask/tell ensemble state written here.

GA: written here
    pymoo 0.6.2 was evaluated and does fit technically (``algorithm.ask()``, setting ``F``
    from our results, ``tell(infills=pop)``, a per-algorithm ``numpy`` Generator: same seed
    gives the same run, whatever the evaluation order). It is not used because (1) its
    operators changed meaning between minor versions (SBX ``prob_bin``/exchange semantics,
    pymoo #673/#724/#725 in 2025; 0.6.1 still seeded the *global* numpy and ``random``
    state), so results would depend on a pinned pymoo; (2) it would add pymoo, autograd,
    cma, alive-progress, Deprecated and moocore to the core dependencies for about a
    hundred lines of well-specified operators; (3) its SBX defaults (``eta=15``) and
    duplicate elimination differ from Method notes §3. DEAP draws from the global ``random``
    module (a global state, not keyed by our seed). The GA below follows Method notes §3
    (Deb & Agrawal 1995; Deb et al. 2002; DEAP's ``cxSimulatedBinaryBounded`` and
    ``mutPolynomialBounded``): binary tournament, bounded SBX (``eta_c = 20``,
    ``p_c = 0.9``, each variable with probability 0.5), polynomial mutation
    (``eta_m = 20``, ``p_m = 1/n``), and elitist (mu + lambda) survival as in NSGA-II: the
    best ``pop_size`` of parents and offspring survive. Offspring identical to a population
    member (no crossover nor mutation happened) are not run: they would cost a model run
    and only duplicate a member. Child distributions are regression-tested
    (tests/unit/test_evolution.py).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from ...errors import ConfigError
from ...result import Result
from ..ensemble import EnsembleState
from .shared import (STATUS, Fitness, _Box, _finish, _rng_keyword, run_search,
                     search_options)

GA_DEFAULTS = {"pop_size": 100, "maxiter": 1000, "p_crossover": 0.9, "eta_crossover": 20.0,
               "p_mutation": None, "eta_mutation": 20.0, "tol": 1e-3, "atol": 0.0}


def sbx(parent1, parent2, lower, upper, eta, rng, p_var=0.5):
    """Bounded simulated binary crossover (Deb & Agrawal 1995; DEAP's
    ``cxSimulatedBinaryBounded``), vectorised over pairs.

    Each variable of each pair crosses with probability ``p_var`` if the parents differ
    by more than 1e-14; children are clipped to the bounds and swapped with probability
    0.5. With infinite bounds this is unbounded SBX: the spread ``|c2 - c1| / |x2 - x1|``
    has density ``(eta+1)/2 beta^eta`` (beta <= 1), ``(eta+1)/2 beta^-(eta+2)`` (beta > 1).

    Parameters
    ----------
    parent1, parent2 : array_like, shape (n_pair, n_param)
    lower, upper : array_like, shape (n_param,)
        Bounds (may be infinite).
    eta : float
        Distribution index ``eta_c``.
    rng : numpy.random.Generator
    p_var : float
        Probability that a variable crosses.

    Returns
    -------
    child1, child2 : ndarray, shape (n_pair, n_param)
    """
    p1 = np.atleast_2d(np.asarray(parent1, dtype=float))
    p2 = np.atleast_2d(np.asarray(parent2, dtype=float))
    lo = np.broadcast_to(np.asarray(lower, dtype=float), p1.shape)
    up = np.broadcast_to(np.asarray(upper, dtype=float), p1.shape)
    u = rng.random(p1.shape)
    cross = rng.random(p1.shape) < p_var
    swap = rng.random(p1.shape) < 0.5
    x1, x2 = np.minimum(p1, p2), np.maximum(p1, p2)
    cross &= x2 - x1 > 1e-14
    d = np.where(cross, x2 - x1, 1.0)
    q = 1.0 / (eta + 1.0)

    def beta_q(beta):
        alpha = 2.0 - beta ** -(eta + 1.0)
        return np.where(u <= 1.0 / alpha, (u * alpha) ** q, (1.0 / (2.0 - u * alpha)) ** q)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c1 = 0.5 * ((x1 + x2) - beta_q(1.0 + 2.0 * (x1 - lo) / d) * d)
        c2 = 0.5 * ((x1 + x2) + beta_q(1.0 + 2.0 * (up - x2) / d) * d)
    c1, c2 = np.clip(c1, lo, up), np.clip(c2, lo, up)
    c1, c2 = np.where(swap, c2, c1), np.where(swap, c1, c2)
    return np.where(cross, c1, p1), np.where(cross, c2, p2)


def polynomial_mutation(x, lower, upper, eta, p, rng):
    """Bounded polynomial mutation (Deb's NSGA-II code; DEAP's ``mutPolynomialBounded``).

    Each variable mutates with probability ``p``: ``delta1 = (x - xl)/(xu - xl)``,
    ``delta2 = (xu - x)/(xu - xl)``, ``u ~ U(0, 1)``; ``u < 0.5``:
    ``dq = [2u + (1 - 2u)(1 - delta1)^(eta+1)]^(1/(eta+1)) - 1``, else
    ``dq = 1 - [2(1 - u) + 2(u - 0.5)(1 - delta2)^(eta+1)]^(1/(eta+1))``;
    ``x' = clip(x + dq (xu - xl))``.

    Parameters
    ----------
    x : array_like, shape (n_member, n_param)
    lower, upper : array_like, shape (n_param,)
        Finite bounds.
    eta : float
        Distribution index ``eta_m``.
    p : float
        Probability that a variable mutates.
    rng : numpy.random.Generator
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    lo = np.broadcast_to(np.asarray(lower, dtype=float), x.shape)
    up = np.broadcast_to(np.asarray(upper, dtype=float), x.shape)
    u = rng.random(x.shape)
    mutate = rng.random(x.shape) < p
    span = up - lo
    d1, d2 = (x - lo) / span, (up - x) / span
    q, e = 1.0 / (eta + 1.0), eta + 1.0
    low = u < 0.5
    with np.errstate(invalid="ignore"):
        dq = np.where(low, (2 * u + (1 - 2 * u) * (1 - d1) ** e) ** q - 1.0,
                      1.0 - (2 * (1 - u) + 2 * (u - 0.5) * (1 - d2) ** e) ** q)
    return np.where(mutate, np.clip(x + dq * span, lo, up), x)


def tournament(costs, k, rng) -> np.ndarray:
    """Indices of ``k`` binary-tournament winners (lower cost wins, the first on a tie;
    ``+inf`` = failed loses).

    Contestants are paired from consecutive random permutations of the population, as in
    Deb's NSGA-II code: every member enters the same number of tournaments (up to one), so
    selection is less noisy than drawing pairs independently.
    """
    costs = np.asarray(costs, dtype=float)
    n = costs.size
    perms = [rng.permutation(n) for _ in range(-(-2 * k // n))]
    order = np.concatenate(perms)[:2 * k]
    a, b = order[0::2], order[1::2]
    return np.where(costs[b] < costs[a], b, a)


class GAState(EnsembleState):
    """Real-coded genetic algorithm as an ask/tell state (Method notes §3; see `ga`).

    One round = one generation: the initial population (``pop_size`` members, Latin
    hypercube in the box, ``x0`` first if given), then ``pop_size`` offspring per
    generation (fewer when offspring duplicate a member, or the budget runs out).

    Attributes
    ----------
    population : ndarray, shape (n_member, n_param)
        Current population, best first after the first generation.
    costs : ndarray, shape (n_member,)
        Their costs (``+inf`` for failed members).
    generation : int
        Offspring generations bred so far.
    """

    name = "ga"

    def __init__(self, problem, x0=None, seed=0, max_runs=None, **options):
        super().__init__(problem)
        opts = search_options('ga', options, GA_DEFAULTS)
        if opts["p_mutation"] is None:
            opts["p_mutation"] = 1.0 / problem.n_param
        if not (isinstance(opts["pop_size"], (int, np.integer)) and opts["pop_size"] >= 2):
            raise ConfigError(f"ga: pop_size must be an integer >= 2, got {opts['pop_size']!r}")
        for key in ("p_crossover", "p_mutation"):
            if not 0.0 <= opts[key] <= 1.0:
                raise ConfigError(f"ga: {key} must be in [0, 1], got {opts[key]!r}")
        for key in ("eta_crossover", "eta_mutation"):
            if not opts[key] >= 0.0:
                raise ConfigError(f"ga: {key} must be >= 0, got {opts[key]!r}")
        self.options = opts
        self.box = box = _Box(problem, "ga", x0, seed, max_runs)
        self.seed = box.seed
        self.evaluate = Fitness(problem)
        self.population = self.costs = None
        self.generation = 0
        self.status, self.message = -1, STATUS[-1]
        rng = self._rng(0)
        sampler = qmc.LatinHypercube(d=problem.n_param, **{_rng_keyword(qmc.LatinHypercube): rng})
        members = qmc.scale(sampler.random(opts["pop_size"]), box.lower, box.upper)
        if box.x0 is not None:
            members[0] = box.x0
        self._members = members

    def _rng(self, generation) -> np.random.Generator:
        """Generator of one generation's draws, keyed by (seed, generation) only."""
        return np.random.default_rng(np.random.SeedSequence(self.seed,
                                                            spawn_key=(int(generation),)))

    def ask(self) -> np.ndarray:
        """Members to run, ``(n_member, n_param)``: the initial population, then offspring."""
        if self.done:
            raise RuntimeError("ask(): the genetic algorithm has finished")
        left = self.box.budget_left(self)
        return self._members[:int(min(left, len(self._members)))].copy()

    def tell(self, results) -> None:
        """Costs of `ask`'s members, in order; survival, then the next offspring."""
        if self.done:
            raise RuntimeError("tell(): the genetic algorithm has finished")
        members = self.ask()
        costs = self.box.record(self, members, list(results))
        if self.population is None:
            pop, c = members, costs
        else:
            pop, c = np.vstack([self.population, members]), np.concatenate([self.costs, costs])
        keep = np.argsort(c, kind="stable")[:self.options["pop_size"]]   # parents win ties
        self.population, self.costs = pop[keep], c[keep]
        self._next_generation()

    def _next_generation(self):
        """Stop if done, else breed the next generation's offspring (none: converged)."""
        self._members = None
        self._check_done()
        if not self.done:
            self.generation += 1
            self._members = self._offspring()
            if len(self._members) == 0:
                self._end(0, "population converged: no new offspring")

    def _check_done(self):
        o, c = self.options, self.costs
        if np.all(np.isfinite(c)) and len(c) > 1 and \
                np.std(c) <= o["atol"] + o["tol"] * abs(np.mean(c)):
            self._end(0, f"population converged: std(J) <= atol + tol |mean(J)| "
                         f"(tol={o['tol']:g}, atol={o['atol']:g})")
        elif self.box.budget_left(self) <= 0:
            self._end(2, f"budget of {self.box.max_runs} model runs used")
        elif self.generation >= o["maxiter"]:
            self._end(1, f"maxiter={o['maxiter']} generations reached")

    def _end(self, status, message):
        self.status, self.message, self.done = status, message, True

    def _offspring(self) -> np.ndarray:
        """``pop_size`` children: tournament, SBX with prob ``p_crossover``, mutation;
        children equal to a population member (or to each other) are dropped."""
        o, lo, up = self.options, self.box.lower, self.box.upper
        rng = self._rng(self.generation)
        seen = {row.tobytes() for row in self.population}
        n_pair = (o["pop_size"] + 1) // 2
        for _ in range(100):              # all children duplicates: breed again
            parents = self.population[tournament(self.costs, 2 * n_pair, rng)]
            p1, p2 = parents[0::2], parents[1::2]
            c1, c2 = sbx(p1, p2, lo, up, o["eta_crossover"], rng)
            cross = (rng.random(n_pair) < o["p_crossover"])[:, None]
            c1, c2 = np.where(cross, c1, p1), np.where(cross, c2, p2)
            children = np.empty((2 * n_pair, lo.size))
            children[0::2], children[1::2] = c1, c2
            children = polynomial_mutation(children[:o["pop_size"]], lo, up,
                                           o["eta_mutation"], o["p_mutation"], rng)
            unique = []
            for child in children:
                key = child.tobytes()
                if key not in seen:
                    seen.add(key)
                    unique.append(child)
            if unique:
                return np.array(unique)
        return np.empty((0, lo.size))

    def stop(self) -> None:
        """End the search now (after a callback's `StopIteration`); idempotent."""
        if not self.done:
            self._end(3, STATUS[3])

    def result(self) -> Result:
        """Best member, the current population and why the search ended."""
        return self.box.result(self, self.population, self.costs, self.status,
                               self.status == 0, self.message)


def ga(problem, x0=None, callback=None, executor=None, seed=0, max_runs=None,
       checkpoint=None, **options) -> Result:
    """Real-coded genetic algorithm over the parameter box, members run by ``executor``.

    Binary tournament, bounded SBX, polynomial mutation and elitist (mu + lambda) survival
    (Method notes §3; see the module docstring for why not pymoo or DEAP).

    Parameters
    ----------
    problem : Problem
        Every parameter needs finite prior bounds (the search box).
    x0 : array_like, optional
        Put in the initial population (physical space).
    callback : callable, optional
        ``callback(result)`` after each generation; `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates the members (ordered ``map``); default serial.
    seed : int or None
        Seed of every random decision (``None``: drawn, and reported in the result).
    max_runs : int, optional
        Budget of model runs (members evaluated); default only ``maxiter`` limits.
    **options
        The GA's (below: ``pop_size`` ... ``atol``), and ``polish`` and ``posterior`` as in
        `de` (`_finish`).
    pop_size : int
        Members of the population (at least 2), and offspring bred per generation.
    maxiter : int
        Maximum number of offspring generations.
    p_crossover : float
        Probability that a pair of parents crosses (SBX, each variable with probability
        0.5).
    eta_crossover : float
        SBX distribution index ``eta_c``: larger keeps children closer to their parents.
    p_mutation : float, optional
        Probability that a variable of a child mutates (default ``1 / n_param``).
    eta_mutation : float
        Polynomial-mutation distribution index ``eta_m``: larger gives smaller mutations.
    tol : float
        Relative part of the convergence test ``std(J) <= atol + tol * |mean(J)|`` over the
        population.
    atol : float
        Absolute part of that convergence test (units of J).

    Returns
    -------
    Result
        As `de`.

    Notes
    -----
    SBX and polynomial mutation act variable by variable: the GA is strong on separable,
    multimodal costs (5-D Rastrigin: the global minimum, ``|x| < 0.003``, for ten seeds out
    of ten in 11 000–19 000 runs) and slow along curved valleys (5-D Rosenbrock in
    ``[0, 2]^5``: ``J`` between 0.002 and 1.2 over ten seeds after 50 000 runs, as with
    pymoo's GA; DE reaches ``J < 1e-10`` in about 50 000). With (mu + lambda) survival
    the population collapses once it stops improving; ``tol`` then ends the run instead of
    spending the rest of the budget.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> prior = pdaframe.UniformPrior([-5.0, -5.0], [5.0, 5.0])
    >>> obs = pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0], std=0.1)
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]), method=ga, seed=1,
    ...                         pop_size=40, max_runs=4000)
    >>> bool(np.allclose(res.x, 1.0, atol=0.05)), res.nfev <= 4000
    (True, True)
    """
    return run_search(GAState, problem, x0, seed, max_runs, executor, callback, checkpoint,
                      options)


# option declarations for the checks before the first run (`pdaframe.minimise`)
ga.option_defaults = {**GA_DEFAULTS, "posterior": False, "polish": False}
ga.option_counts = {"pop_size": (2, "members to breed"), "maxiter": (1, "generations"),
                    "max_runs": (1, "model runs")}
ga.option_docs = (_finish,)             # posterior, polish
ga.family = "search"

METHODS = {"ga": ga}
