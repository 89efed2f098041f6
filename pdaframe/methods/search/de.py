"""Differential evolution (``de``): scipy's optimiser as an ask/tell state through the
map -> ask/tell adaptor (`pdaframe.methods.search.adaptor.MapAskTell`).

DE: scipy behind a thread adaptor
    `scipy.optimize.differential_evolution` is maintained, tested and documented; we pass
    ``updating="deferred"`` (the whole trial population is built from the seeded generator,
    then evaluated as one batch: the parallel- and order-independent form), ``polish=False``
    (LSM costs are non-smooth; ``polish=True`` runs pdaframe's own L-BFGS-B afterwards, with
    the model's adjoint if it has one and bounds kept by the transforms, instead of scipy's
    finite-difference polish, which would bypass the executor). The public function has no
    ``maxfun``: the adaptor cuts the last batch to the budget (the rest get ``+inf``, as
    scipy's own ``maxfun`` does) and our scipy callback then ends the run cleanly.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

from ...errors import ConfigError, ModelError
from ...result import Result
from .adaptor import MapAskTell
from .shared import (STATUS, Fitness, _Box, _finish, _rng_keyword, run_search,
                     search_options)

DE_DEFAULTS = {"strategy": "best1bin", "maxiter": 1000, "popsize": 15, "tol": 0.01,
               "atol": 0.0, "mutation": (0.5, 1.0), "recombination": 0.7,
               "init": "latinhypercube"}


def _not_called(x):
    raise RuntimeError("differential evolution evaluates members only through its map hook")


class _ScipyDE:
    """``run(map_like)`` for `MapAskTell`: scipy's DE from a fresh seeded generator, keeping
    its population in ``snapshot`` after every generation. Refers to no state (see
    `MapAskTell`) and can be checkpointed (a resumed state calls it again and replays the
    log)."""

    def __init__(self, bounds, x0, seed, max_runs, options, snapshot):
        self.bounds, self.x0, self.seed, self.max_runs = bounds, x0, seed, max_runs
        self.options, self.snapshot = options, snapshot

    def __call__(self, map_like):
        snapshot, max_runs = self.snapshot, self.max_runs

        def keep(intermediate_result):        # scipy needs this exact argument name
            snapshot["population"] = np.array(intermediate_result.population)
            snapshot["costs"] = np.array(intermediate_result.population_energies)
            # scipy counts every member it asked for; `MapAskTell` cut the last batch to the
            # budget (padding with +inf), so this is "the budget is used": end cleanly
            if max_runs is not None and intermediate_result.nfev >= max_runs:
                raise StopIteration

        rng = np.random.default_rng(np.random.SeedSequence(self.seed))
        return optimize.differential_evolution(
            _not_called, self.bounds, workers=map_like, updating="deferred", polish=False,
            x0=self.x0, callback=keep, **{_rng_keyword(optimize.differential_evolution): rng},
            **self.options)


class DEState(MapAskTell):
    """Differential evolution (`scipy.optimize.differential_evolution`) as an ask/tell state.

    One round = one generation (the first is the initial population, ``popsize * n_param``
    members, Latin hypercube by default). See `de` for the options. It can be checkpointed
    (`pdaframe.io.checkpoint`): a resumed state continues bit for bit as the uninterrupted one
    (see `MapAskTell` and the module docstring).
    """

    name = "de"

    def __init__(self, problem, x0=None, seed=0, max_runs=None, **options):
        search_options('de', options, DE_DEFAULTS)
        self.box = box = _Box(problem, "de", x0, seed, max_runs)
        self.seed = box.seed
        self.options = {**DE_DEFAULTS, **options}
        self._snapshot = snapshot = {}
        run = _ScipyDE(list(zip(box.lower, box.upper)), box.x0, box.seed, box.max_runs,
                       self.options, snapshot)
        try:
            super().__init__(problem, run, evaluate=Fitness(problem), fill=np.inf,
                             max_runs=box.max_runs, name="de")
        except (ValueError, TypeError) as err:    # scipy rejected an option
            raise ConfigError(f"de: {err}") from err

    def _values(self, members, results):
        try:
            costs = self.box.record(self, members, results)
        except ModelError:
            self.stop()
            raise
        if "population" not in self._snapshot:     # until scipy's first generation ends
            self._snapshot.update(population=members, costs=costs)
        return costs.tolist()

    def result(self) -> Result:
        """Best member so far, the current population and why the search ended."""
        lib = super().result()
        pop, costs = self._snapshot.get("population"), self._snapshot.get("costs")
        if lib is not None:
            pop, costs = lib.population, lib.population_energies
            if lib.success:
                status, message = 0, str(lib.message)
            elif self.box.max_runs is not None and self.nfev >= self.box.max_runs:
                status, message = 2, f"budget of {self.box.max_runs} model runs used"
            else:
                status, message = 1, str(lib.message)
        elif self.exhausted:
            status, message = 2, f"budget of {self.box.max_runs} model runs used"
        elif self.stopped:
            status, message = 3, STATUS[3]
        else:
            status, message = -1, STATUS[-1]
        return self.box.result(self, pop, costs, status, status == 0, message)


def de(problem, x0=None, callback=None, executor=None, seed=0, max_runs=None,
       checkpoint=None, **options) -> Result:
    """Differential evolution (scipy) over the parameter box, members run by ``executor``.

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
        scipy's (below: ``strategy`` ... ``init``) and pdaframe's ``polish`` (False: L-BFGS-B
        from the best member afterwards) and ``posterior`` (False: the Gauss–Newton
        covariance at ``x``, `Problem.posterior_covariance`), as `_finish`.
    strategy : str
        scipy's trial-vector strategy (e.g. "best1bin", "rand1bin", "currenttobest1bin";
        see `scipy.optimize.differential_evolution`).
    maxiter : int
        Maximum number of generations after the initial population.
    popsize : int
        Members per generation per parameter: ``popsize * n_param`` members (unless
        ``init`` is an array; for "sobol" the next power of 2).
    tol : float
        Relative part of the convergence test ``std(J) <= atol + tol * |mean(J)|`` over the
        population.
    atol : float
        Absolute part of that convergence test (units of J).
    mutation : float or (float, float)
        Differential weight ``F`` in ``[0, 2)``; a pair ``(min, max)`` draws it from
        ``U[min, max)`` each generation (dithering).
    recombination : float
        Crossover probability ``CR`` in ``[0, 1]``.
    init : {"latinhypercube", "sobol", "halton", "random"} or array_like
        How the initial population fills the box, or the population itself, shape
        ``(n_member, n_param)`` in physical space.

    Returns
    -------
    Result
        ``x fun success status message nit`` (generations after the initial population)
        ``nfev`` (members evaluated) ``njev=0 history`` (per generation: ``cost`` and ``x``
        of the best member so far, ``nfev``) ``x0`` (given, else the prior mean)
        ``parameter_names n_failed method population population_cost seed max_runs``;
        ``status`` as in `STATUS`.

    Notes
    -----
    Given a ``checkpoint`` (`pdaframe.io.checkpoint.Checkpoint`; ``pdaframe run`` with
    ``checkpoint_every`` / ``--resume``) the state is checkpointed every N generations; a
    resumed run replays scipy up to the checkpoint without running the model and gives
    the same result, bit for bit, as an uninterrupted run (``max_runs`` included). The
    checkpoint holds one value per member evaluated so far.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> prior = pdaframe.UniformPrior([-5.0, -5.0], [5.0, 5.0])
    >>> obs = pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0], std=0.1)
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]), method=de, seed=1)
    >>> np.round(res.x, 3), res.nfev <= 30 * 1001
    (array([1., 1.]), True)
    """
    return run_search(DEState, problem, x0, seed, max_runs, executor, callback, checkpoint,
                      options)


# option declarations for the checks before the first run (`pdaframe.minimise`)
de.option_defaults = {**DE_DEFAULTS, "posterior": False, "polish": False}
de.option_counts = {"popsize": (1, "popsize * n_param members per generation"),
                    "maxiter": (1, "generations"), "max_runs": (1, "model runs")}
de.option_docs = (_finish,)             # posterior, polish
de.family = "search"

METHODS = {"de": de}
