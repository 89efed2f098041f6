"""NSGA-II (``nsga2``): multi-objective calibration, a Pareto front across data streams.

NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002) written here, for the reasons the GA's
module docstring gives for not using pymoo (`pdaframe.methods.search.ga`). It is the GA with
another selection and survival: `NSGA2State` inherits the GA's breeding
(`GAState._offspring`: binary tournament, bounded SBX and polynomial mutation imported from
`ga`, offspring equal to a member dropped), its per-generation generators and ``ask``; the
tournament reads the crowded-comparison key (`pareto.crowded_key`: lower rank wins, then
larger crowding distance) in place of the GA's cost, and survival is NSGA-II's elitist
(mu + lambda) one (`pareto.survive`: fronts of parents and offspring by fast non-dominated
sorting, the last front cut by crowding distance).

Objectives
    The per-stream observation costs ``J_o,k`` (`Problem.cost_terms`), minimised together:
    by default one objective per stream; option ``objectives`` names them (``["nee",
    "lai"]``), a ``+`` sums streams into one objective (``["nee", "lai+c_woo"]``). Option
    ``prior_term`` says what becomes of the prior term ``J_b``: ``"none"`` (default; the
    front is a front of data misfits within the prior's box), ``"each"`` (added to every
    objective: each objective is a regularised cost) or ``"objective"`` (its own objective,
    named ``prior``). Each member is one model run; its result is the vector of all cost
    terms, so the executor, checkpoints and the result are those of the other searches.
Outputs
    The final population sorted by (rank, crowding), with each member's rank (0: the
    Pareto front), objectives and crowding distance; the hypervolume of each generation's
    front, all with one reference point (option ``reference_point``, else the final
    front's nadir plus 10 % of its range, `pareto.default_reference`); and the knee: the
    front member closest to the ideal point in objectives normalised by the front's range
    (`pareto.knee`), reported as the result's ``x`` (``fun`` is its full cost ``J``).
Determinism
    As the GA: every random decision from ``SeedSequence(seed, spawn_key=(generation,))``
    in the state, so any executor and any number of MPI ranks give the same front.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.stats import qmc

from ...errors import ConfigError
from ...io.state_format import register
from ...result import OptimisationResult
from ..ensemble import EnsembleState, failure_error, filled
from . import pareto
from .ga import GAState
from .shared import STATUS, _Box, _finish, _rng_keyword, search_options

log = logging.getLogger(__name__)

NSGA2_DEFAULTS = {"pop_size": 100, "maxiter": 250, "p_crossover": 0.9, "eta_crossover": 20.0,
                  "p_mutation": None, "eta_mutation": 20.0, "objectives": None,
                  "prior_term": "none", "reference_point": None}
PRIOR_TERMS = ("none", "each", "objective")
#: the population must be a multiple of this (Deb's NSGA-II code: four members per pair of
#: binary tournaments that breeds two children)
POP_MULTIPLE = 4


@register
class CostTerms:
    """``[J_b, J_o,1, ..., J_o,S]`` of one member (streams in the problem's order): what the
    executor runs. Holds only the Problem, so it pickles."""

    def __init__(self, problem):
        self.problem = problem
        self.names = ["prior", *(s.name for s in problem.streams)]

    def __call__(self, theta) -> np.ndarray:
        terms = self.problem.cost_terms(np.asarray(theta, dtype=float))
        return np.array([terms[n] for n in self.names], dtype=float)


def objective_layout(problem, objectives=None, prior_term="none"):
    """Names of the objectives and, per objective, the cost terms it sums.

    Parameters
    ----------
    problem : Problem
    objectives : sequence of str, optional
        Stream names, ``+`` joining streams summed into one objective; default: each stream.
    prior_term : {"none", "each", "objective"}
        See the module docstring.

    Returns
    -------
    names : list of str
    select : ndarray of bool, shape (n_objective, 1 + n_stream)
        Which of `CostTerms`' entries each objective sums.

    Raises
    ------
    ConfigError
        An unknown stream (listing the problem's), a stream used twice, an unknown
        ``prior_term``, or fewer than 2 objectives (pointing to ``ga``/``de``).
    """
    streams = [s.name for s in problem.streams]
    if prior_term not in PRIOR_TERMS:
        raise ConfigError(f"nsga2: prior_term must be one of {', '.join(PRIOR_TERMS)}, got "
                          f"{prior_term!r}")
    if objectives is None:
        objectives = streams
    if isinstance(objectives, str) or not all(isinstance(o, str) for o in objectives):
        raise ConfigError(f"nsga2: objectives must be a list of stream names (a '+' sums "
                          f"streams), got {objectives!r}")
    names, select, used = [], [], {}
    for name in objectives:
        row = np.zeros(1 + len(streams), dtype=bool)
        for part in (p.strip() for p in name.split("+")):
            if part not in streams:
                raise ConfigError(f"nsga2: objective {name!r}: no stream named {part!r}; the "
                                  f"problem's streams are {', '.join(streams)}")
            if part in used:
                raise ConfigError(f"nsga2: stream {part!r} is in two objectives ({used[part]!r} "
                                  f"and {name!r})")
            used[part] = name
            row[1 + streams.index(part)] = True
        row[0] = prior_term == "each"
        names.append(name)
        select.append(row)
    if prior_term == "objective":
        names.append("prior")
        select.append(np.eye(1, 1 + len(streams), dtype=bool)[0])
    if len(names) < 2:
        raise ConfigError(f"nsga2: needs at least 2 objectives, got {len(names)} "
                          f"({', '.join(names)}): with one cost use method 'ga' or 'de'")
    return names, np.array(select)


def check_problem(problem, options, warn=False) -> dict:
    """``nsga2``'s options checked against ``problem`` before any model run
    (`pdaframe.load_config` calls it, so ``pdaframe check`` finds bad objectives).

    Returns the options with their defaults (other keys, e.g. ``seed``, left out),
    ``pop_size`` rounded up to a multiple of 4 (``warn``: with a warning), ``p_mutation``
    set, ``reference_point`` an array (or None) and ``layout`` = `objective_layout`'s
    ``(names, select)``.

    Raises
    ------
    ConfigError
        See `objective_layout`; a probability outside [0, 1], a negative distribution
        index, a reference point without one finite value per objective, a population too
        large for an exact hypervolume (`pareto.check_hypervolume_size`).
    """
    o = {**NSGA2_DEFAULTS, **{k: v for k, v in options.items() if k in NSGA2_DEFAULTS}}
    if o["p_mutation"] is None:
        o["p_mutation"] = 1.0 / problem.n_param
    n = o["pop_size"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < POP_MULTIPLE:
        raise ConfigError(f"nsga2: pop_size must be an integer >= {POP_MULTIPLE}, got {n!r}")
    if n % POP_MULTIPLE:
        o["pop_size"] = n + POP_MULTIPLE - n % POP_MULTIPLE
        if warn:
            log.warning("nsga2: pop_size %d is not a multiple of %d (two binary tournaments "
                        "per pair of children); using %d", n, POP_MULTIPLE, o["pop_size"])
    for key, low, high in (("p_crossover", 0, 1), ("p_mutation", 0, 1),
                           ("eta_crossover", 0, np.inf), ("eta_mutation", 0, np.inf)):
        if not low <= o[key] <= high:
            raise ConfigError(f"nsga2: {key} must be in [{low}, {high}], got {o[key]!r}")
    names, select = o["layout"] = objective_layout(problem, o["objectives"], o["prior_term"])
    pareto.check_hypervolume_size(o["pop_size"], len(names), "nsga2")
    if o["reference_point"] is not None:
        ref = np.asarray(o["reference_point"], dtype=float).reshape(-1)
        if ref.size != len(names) or not np.all(np.isfinite(ref)):
            raise ConfigError(f"nsga2: reference_point must hold {len(names)} finite values "
                              f"(one per objective: {', '.join(names)}), got "
                              f"{o['reference_point']!r}")
        o["reference_point"] = ref
    return o


class NSGA2State(GAState):
    """NSGA-II as an ask/tell state (see the module docstring and `nsga2`).

    One round = one generation: the initial population (``pop_size`` members, Latin
    hypercube in the box, ``x0`` first if given), then up to ``pop_size`` offspring.

    Attributes
    ----------
    population : ndarray, shape (n_member, n_param)
        Current population, sorted by (rank, -crowding).
    terms, objectives : ndarray
        Their cost terms (`CostTerms`) and objectives (``+inf``: failed).
    rank, crowding : ndarray
        Their front (0: non-dominated) and crowding distance.
    costs : ndarray
        Their crowded-comparison key (`pareto.crowded_key`), which the GA's tournament reads.
    objective_names : list of str
    generation : int
        Offspring generations bred so far.
    """

    name = "nsga2"

    def __init__(self, problem, x0=None, seed=0, max_runs=None, **options):
        EnsembleState.__init__(self, problem)
        search_options("nsga2", options, NSGA2_DEFAULTS, finish=False)
        o = check_problem(problem, options, warn=True)
        self.objective_names, self.select = o.pop("layout")
        self.reference_point = o["reference_point"]
        self.options = o
        self.box = box = _Box(problem, "nsga2", x0, seed, max_runs)
        self.seed = box.seed
        self.evaluate = CostTerms(problem)
        self.population = self.costs = self.terms = self.objectives = None
        self.rank = self.crowding = None
        self.generation = 0
        self.status, self.message = -1, STATUS[-1]
        self.history = {"front": [], "cost": [], "x": [], "nfev": []}
        self._hv = None                        # (reference point, hypervolume per generation)
        self._warned = False
        sampler = qmc.LatinHypercube(d=problem.n_param,
                                     **{_rng_keyword(qmc.LatinHypercube): self._rng(0)})
        members = qmc.scale(sampler.random(o["pop_size"]), box.lower, box.upper)
        if box.x0 is not None:
            members[0] = box.x0
        self._members = members

    def _objectives(self, terms) -> np.ndarray:
        return np.stack([terms[:, row].sum(axis=1) for row in self.select], axis=1)

    def tell(self, results) -> None:
        """Cost terms of `ask`'s members, in order; survival, then the next offspring."""
        if self.done:
            raise RuntimeError("tell(): NSGA-II has finished")
        members = self.ask()
        results = self._receive(results, len(members), "nsga2")
        n_terms = len(self.evaluate.names)
        terms = np.array(filled(results, np.full(n_terms, np.inf),
                                lambda r: np.asarray(r, dtype=float)), ndmin=2)
        terms = np.where(np.isfinite(terms), terms, np.inf)
        if self.population is None and not np.isfinite(terms).all(axis=1).any():
            raise failure_error(f"nsga2: every member of the first generation failed "
                                f"({len(members)} runs; check the parameter bounds and the "
                                f"model)", results)
        if self.population is not None:
            members = np.vstack([self.population, members])
            terms = np.vstack([self.terms, terms])
        objectives = self._objectives(terms)
        keep, self.rank, self.crowding = pareto.survive(objectives, self.options["pop_size"])
        self.population, self.terms = members[keep], terms[keep]
        self.objectives = objectives[keep]
        self.costs = pareto.crowded_key(self.rank, self.crowding)
        self._record()
        self._next_generation()

    def _record(self):
        """History of the generation: its front's objectives, its knee (x, J), nfev."""
        front = self.objectives[self.rank == 0]
        k = pareto.knee(front)
        self.history["front"].append(front.copy())
        self.history["cost"].append(float(self.terms[k].sum()))
        self.history["x"].append(self.population[k].copy())
        self.history["nfev"].append(self.nfev)

    def _check_done(self):
        if self.box.budget_left(self) <= 0:
            self._end(2, f"budget of {self.box.max_runs} model runs used")
        elif self.generation >= self.options["maxiter"]:
            self._end(1, f"maxiter={self.options['maxiter']} generations reached")

    def hypervolumes(self):
        """``(reference point, hypervolume of each generation's front)``: the given
        reference point, else the final front's `pareto.default_reference` (front members
        not below it bound no volume)."""
        front = self.history["front"][-1]
        ref = self.reference_point if self.reference_point is not None else \
            pareto.default_reference(front)
        if self._hv is None or not np.array_equal(self._hv[0], ref) or \
                len(self._hv[1]) != len(self.history["front"]):
            self._hv = (ref, np.array([pareto.hypervolume(f, ref, check=False)
                                       for f in self.history["front"]]))
        return self._hv

    def result(self) -> OptimisationResult:
        """The knee as ``x``; the final population, front and hypervolumes (see `nsga2`)."""
        if self.population is None:
            raise RuntimeError("nsga2: result() before the first tell()")
        problem, h = self.problem, self.history
        ref, hv = self.hypervolumes()
        front = np.flatnonzero(self.rank == 0)
        outside = int(np.sum(~np.all(self.objectives[front] < ref, axis=1)))
        if outside and not self._warned:
            self._warned = True
            log.warning("nsga2: %d of %d front members are not below the reference point %s "
                        "in every objective; they add no hypervolume (give a larger "
                        "reference_point, or leave it out)", outside, front.size, ref.tolist())
        k = int(front[pareto.knee(self.objectives[front])])
        return OptimisationResult(
            x=self.population[k].copy(), fun=float(self.terms[k].sum()),
            success=self.status in (0, 1), status=self.status, message=self.message,
            nit=self.generation, nfev=self.nfev, njev=0, n_failed=self.n_failed,
            history={"cost": np.array(h["cost"]), "x": np.array(h["x"]),
                     "nfev": np.array(h["nfev"]), "hypervolume": hv},
            x0=(problem.prior.mean if self.box.x0 is None else self.box.x0).copy(),
            parameter_names=list(problem.parameter_names), method="nsga2", seed=self.seed,
            max_runs=self.box.max_runs, population=self.population.copy(),
            objective_names=list(self.objective_names),
            objective_terms=[", ".join(n for n, s in zip(self.evaluate.names, row) if s)
                             for row in self.select],
            front_objectives=self.objectives.copy(), front_rank=self.rank.copy(),
            front_crowding=self.crowding.copy(), front_size=int(front.size), knee=k,
            reference_point=ref.copy(), reference_source="options" if
            self.reference_point is not None else "nadir + 10 % of the front's range",
            hypervolume=float(hv[-1]), front_outside_reference=outside,
        ).attach_transform(problem.prior.transform)


def nsga2(problem, x0=None, callback=None, executor=None, seed=0, max_runs=None,
          checkpoint=None, **options) -> OptimisationResult:
    """NSGA-II over the parameter box: a Pareto front of the per-stream costs.

    Parameters
    ----------
    problem : Problem
        Every parameter needs finite prior bounds (the search box); at least 2 objectives.
    x0 : array_like, optional
        Put in the initial population (physical space).
    callback : callable, optional
        ``callback(result)`` after each generation; `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates the members (ordered ``map``); default serial.
    seed : int or None
        Seed of every random decision (``None``: drawn, and reported in the result).
    max_runs : int, optional
        Budget of model runs; default only ``maxiter`` limits.
    **options
        NSGA-II's (below).
    pop_size : int
        Members of the population and offspring per generation; a multiple of 4 (Deb's
        rule: two binary tournaments per pair of children), else rounded up with a warning.
    maxiter : int
        Maximum number of offspring generations.
    p_crossover : float
        Probability that a pair of parents crosses (SBX, each variable with probability 0.5).
    eta_crossover : float
        SBX distribution index ``eta_c``.
    p_mutation : float, optional
        Probability that a variable of a child mutates (default ``1 / n_param``).
    eta_mutation : float
        Polynomial-mutation distribution index ``eta_m``.
    objectives : list of str, optional
        Stream names, one per objective (``+`` sums streams: ``"lai+c_woo"``); default
        every stream, each its own objective.
    prior_term : str
        ``"none"`` (default: objectives are the observation costs only), ``"each"`` (``J_b``
        added to every objective) or ``"objective"`` (``J_b`` its own objective ``prior``).
    reference_point : list of float, optional
        Hypervolume reference point, one value per objective, worse than every front member
        (members not below it add no volume: a warning); default the final front's nadir
        + 10 % of its range.

    Returns
    -------
    OptimisationResult
        ``x`` the knee of the front (closest to the ideal point in normalised objectives),
        ``fun`` its ``J``; ``population`` (final, sorted by rank then crowding) with
        ``front_objectives``, ``front_rank`` (0: Pareto front), ``front_crowding``,
        ``front_size``, ``knee`` (its row), ``objective_names``, ``objective_terms``,
        ``reference_point``, ``reference_source``, ``hypervolume`` (final front) and
        ``history["hypervolume"]`` (per generation), besides the GA's keys.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel(np.eye(2))
    >>> prior = pdaframe.UniformPrior([-1.0, -1.0], [2.0, 2.0])
    >>> a = pdaframe.DataStream("a", "y", [0.0, 0.0], std=1.0)
    >>> b = pdaframe.DataStream("b", "y", [1.0, 1.0], std=1.0)
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [a, b]), method=nsga2,
    ...                         seed=1, pop_size=40, maxiter=40)
    >>> res.front_size, bool(np.allclose(res.x, 0.5, atol=0.05))
    (40, True)
    """
    state = NSGA2State(problem, x0=x0, seed=seed, max_runs=max_runs, **options)
    return _finish(state, executor, callback, checkpoint)


# option declarations for the checks before the first run (`pdaframe.minimise`)
nsga2.option_defaults = dict(NSGA2_DEFAULTS)
nsga2.option_counts = {"pop_size": (4, "members (a multiple of 4)"),
                       "maxiter": (1, "generations"), "max_runs": (1, "model runs")}
nsga2.family = "search"
nsga2.check_problem = check_problem

METHODS = {"nsga2": nsga2}
