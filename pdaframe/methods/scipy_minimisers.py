"""Gradient-based and derivative-free minimisers from `scipy.optimize`.

All move in the control space ``u`` of the Problem (unbounded, prior-scaled), so bounds are
respected through the prior's transforms and the problem is well conditioned.

- ``lbfgsb``: L-BFGS-B with the exact gradient (adjoint, tangent linear, or finite
  differences if the model has neither);
- ``lbfgsb-fd``: L-BFGS-B with the Problem's finite-difference gradient, always;
- ``nelder-mead``: Nelder–Mead simplex, no gradient.

Checkpoints (`pdaframe.io.checkpoint`; ``pdaframe.minimise(..., checkpoint=...)``, or
``pdaframe run`` with ``checkpoint_every = N`` and ``--resume``): given a ``checkpoint``, a
minimiser writes a `MinimiserState` (current iterate, history of costs and iterates, counters)
from scipy's callback every N iterations and at the end, in the same file format (header with
config hash) as the ask/tell states, atomically and on MPI rank 0 only. A resumed run
restarts scipy from the last checkpointed iterate, with the history so far prepended and
``maxiter`` / ``maxfev`` reduced by what was already used.

.. note:: A resumed minimisation is **not** bit-identical to an uninterrupted one: scipy's
   internal state is not stored, so L-BFGS-B loses its curvature memory (limited-memory
   Hessian pairs) and Nelder–Mead its simplex, and both restart from the checkpointed iterate
   (one extra evaluation there; different iterates after it). It converges to the same
   optimum within the minimiser's tolerance; the history up to the checkpoint is exactly the
   interrupted run's.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..io import checkpoint as ckpt
from ..errors import ConfigError, ModelError
from ..result import OptimisationResult, Result
from .ensemble import laplace_ending

log = logging.getLogger(__name__)

LBFGSB_DEFAULTS = {"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-9}
NELDER_MEAD_DEFAULTS = {"xatol": 1e-7, "fatol": 1e-12}


@dataclass
class MinimiserState:
    """What a checkpoint of a scipy minimiser holds (plain numbers and arrays, no problem).

    Attributes
    ----------
    name : str
        The scipy method ("L-BFGS-B", "Nelder-Mead").
    iteration : int
        Iterations recorded so far (``len(hist_cost) - 1``).
    u : ndarray
        The last iterate, in control space (where a resumed run restarts).
    hist_cost, hist_x : list
        Cost and physical-space iterate of every iteration so far (entry 0: the start).
    theta0 : ndarray
        The start point of the whole run.
    nfev, njev, rejected, restarts, nit : int
        Counters of the run so far (``nit``: scipy iterations of finished restarts, which
        ended at iteration ``call_start``).
    best_f, best_u
        The best evaluation so far.
    parameter_names : list of str
    done : bool
        Written at the end of the run.
    """

    name: str = ""
    iteration: int = 0
    u: np.ndarray | None = None
    hist_cost: list = field(default_factory=list)
    hist_x: list = field(default_factory=list)
    theta0: np.ndarray | None = None
    nfev: int = 0
    njev: int = 0
    rejected: int = 0
    restarts: int = 0
    nit: int = 0
    call_start: int = 0
    best_f: float = np.inf
    best_u: np.ndarray | None = None
    parameter_names: list = field(default_factory=list)
    done: bool = False


def _resume(state, cp, problem) -> bool:
    """Load ``cp`` into ``state``; False when there is no file."""
    if not ckpt.load_into(state, cp):
        return False
    if list(state.parameter_names) != list(problem.parameter_names):
        raise ConfigError(f"cannot resume from {cp.path}: it holds parameters "
                          f"{state.parameter_names}, this problem has "
                          f"{list(problem.parameter_names)}")
    return True


#: `Result.status` when scipy converged at a stand-in cost above the best point evaluated
STATUS_NOT_AT_BEST = -1
#: round-off allowed between scipy's final cost and the best evaluated one, in ulps of |f|
ROUNDOFF_ULPS = 8


def _outcome(res, best_f) -> tuple[bool, int, str]:
    """``(success, status, message)`` of a scipy run whose best evaluated cost is ``best_f``.

    Success means scipy converged (``res.success``) and its final cost ``res.fun`` is the
    best evaluated cost within round-off (`ROUNDOFF_ULPS` ulps of ``|f|``): a line-search
    trial point a few ulps lower than scipy's final point does not undo convergence. When
    ``res.fun`` is clearly higher, scipy stopped on the stand-in cost of a rejected (failed)
    evaluation: not a success, status `STATUS_NOT_AT_BEST`. Otherwise scipy's own status
    and message are kept, so ``status == 0`` exactly when ``success``.
    """
    f = float(res.fun)
    tol = ROUNDOFF_ULPS * np.finfo(float).eps * max(abs(f), abs(float(best_f)))
    if not res.success:
        return False, int(res.status) or 1, str(res.message)
    if f - best_f <= tol:
        return True, 0, str(res.message)
    return False, STATUS_NOT_AT_BEST, (
        f"{res.message}, but at a stand-in cost {f:.6g} of a rejected (failed) evaluation; "
        f"the best point evaluated (cost {best_f:.6g}) is reported, not shown to be converged")


GRADIENT_NAMES = {"adjoint": "adjoint", "tangent": "tangent linear",
                  "fd": "finite differences"}


def _gradient_used(problem, gradient) -> str:
    """How the gradient was computed: "adjoint", "tangent linear" or "finite differences
    (forward|central)"; for a multi-site problem each kind its sites used, joined by ", "."""
    names = []
    for p in getattr(problem, "site_problems", [problem]):
        mode = p._mode(gradient)
        name = GRADIENT_NAMES[mode] + (f" ({p.fd_scheme})" if mode == "fd" else "")
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _run(problem, scipy_method, gradient, x0, callback, options, checkpoint=None):
    """Minimise ``problem`` in control space with ``scipy.optimize.minimize``."""
    from ..parallel import is_root
    options = dict(options)
    options.pop("executor", None)           # one model run at a time: nothing to spread
    options.pop("seed", None)               # deterministic methods
    posterior = options.pop("posterior", True)
    max_restarts = options.pop("max_restarts", 10)
    theta0 = problem.prior.mean if x0 is None else np.asarray(x0, dtype=float)
    u0 = problem.space.to_u(theta0)
    runs0 = problem.nrun
    hist_cost, hist_x = [], []
    njev = rejected = 0
    nfev0 = nit = restarts = call_start = 0

    best = {"f": np.inf, "u": None}
    cp = checkpoint
    root = is_root()
    state = MinimiserState(name=scipy_method, parameter_names=list(problem.parameter_names))
    resumed = cp is not None and cp.resume and _resume(state, cp, problem)
    if resumed:
        theta0, u0 = np.asarray(state.theta0, dtype=float), np.asarray(state.u, dtype=float)
        hist_cost, hist_x = list(state.hist_cost), list(state.hist_x)
        njev, rejected, nfev0 = state.njev, state.rejected, state.nfev
        # iterations of the interrupted scipy call count as done
        nit, restarts = state.nit + state.iteration - state.call_start, state.restarts
        best.update(f=state.best_f, u=state.best_u)
        # what the interrupted run used of the iteration / evaluation budgets
        for key, used in (("maxiter", len(hist_cost) - 1), ("maxfev", nfev0)):
            if options.get(key) is not None:
                options[key] = max(int(options[key]) - used, 1)
        log.info("resuming %s at iteration %d (cost %.6g); L-BFGS-B curvature memory / "
                 "the simplex restart afresh", scipy_method, len(hist_cost) - 1, hist_cost[-1])

    def save(u, done=False):
        if cp is None or not root:
            return
        vars(state).update(
            iteration=len(hist_cost) - 1, u=np.array(u, dtype=float), hist_cost=list(hist_cost),
            hist_x=list(hist_x), theta0=np.asarray(theta0, dtype=float),
            nfev=nfev0 + problem.nrun - runs0, njev=njev, rejected=rejected,
            restarts=restarts, nit=nit, call_start=call_start, best_f=float(best["f"]),
            best_u=None if best["u"] is None else np.array(best["u"]), done=done)
        ckpt.save(state, cp)

    def keep_best(f, u):
        if f < best["f"]:
            best.update(f=f, u=np.array(u, dtype=float))
        return f

    def fun(u):
        nonlocal rejected
        try:
            return keep_best(problem.cost_u(u), u)
        except ModelError as err:
            rejected += 1
            log.info("rejected evaluation: %s", err)
            return np.inf

    last_good = {}

    def fun_and_grad(u):
        nonlocal njev, rejected
        njev += 1
        try:
            f = keep_best(problem.cost_u(u), u)
            g = problem.space.pullback(u, problem.gradient(problem.space.to_theta(u),
                                                         mode=gradient))
            last_good.update(f=f, g=g)
            return f, g
        except ModelError as err:
            # A failed run is a rejected trial point. L-BFGS-B stops outright on inf, so
            # report a much higher cost with the last good gradient: its line search then
            # backtracks towards the last good point.
            rejected += 1
            log.info("rejected evaluation: %s", err)
            if not last_good:
                raise
            f = last_good["f"]
            return f + 10.0 * (abs(f) + 1.0), last_good["g"]

    def record(intermediate_result):  # scipy needs this exact argument name
        theta = problem.space.to_theta(intermediate_result.x)
        hist_cost.append(float(intermediate_result.fun))
        hist_x.append(theta)
        if cp is not None and (len(hist_cost) - 1) % cp.every == 0:
            save(intermediate_result.x)
        if callback is not None:
            callback(Result(x=theta, fun=float(intermediate_result.fun), nit=len(hist_cost) - 1))

    if not resumed:
        start = dict(zip(problem.parameter_names, theta0.tolist()))
        try:                   # not `fun`: its failure (exit status, stderr, run folder) shown
            hist_cost.append(keep_best(problem.cost_u(u0), u0))
        except ModelError as err:
            raise ModelError(f"the model fails at the start point {start}: {err}",
                             theta=theta0) from None
        hist_x.append(theta0)
        if not np.isfinite(hist_cost[0]):
            raise ModelError(f"the model fails at the start point {start}: the cost is "
                             f"{hist_cost[0]}", theta=theta0)
    u = u0
    while True:
        # A run that rejects trial points (failed model runs) can stall the line search;
        # restart from the best point, with fresh curvature memory, while that still helps.
        before, f_start = rejected, best["f"]
        call_start = len(hist_cost) - 1
        with warnings.catch_warnings():
            # a misspelt option is a mistake, not a warning scrolled past
            warnings.filterwarnings("error", "Unknown solver options",
                                    optimize.OptimizeWarning)
            try:
                if gradient is None:
                    res = optimize.minimize(fun, u, method=scipy_method, callback=record,
                                            options=options)
                else:
                    res = optimize.minimize(fun_and_grad, u, jac=True, method=scipy_method,
                                            callback=record, options=options)
            except optimize.OptimizeWarning as err:
                raise ConfigError(f"{scipy_method}: {err} (see scipy.optimize.minimize; "
                                  f"pdaframe adds posterior, max_restarts, "
                                  f"checkpoint_every)") from None
        nit += int(res.nit)
        call_start = len(hist_cost) - 1
        if rejected == before or restarts >= max_restarts or \
                not best["f"] < f_start - 1e-12 * max(abs(f_start), 1.0):
            break
        restarts += 1
        u = best["u"]
    save(res.x, done=True)
    # report the best point actually evaluated (with rejected points the last iterate may
    # carry a stand-in cost)
    theta = problem.space.to_theta(best["u"])
    success, status, message = _outcome(res, best["f"])
    out = OptimisationResult(
        x=theta, fun=float(best["f"]), success=success, status=status,
        message=message, nit=nit, nfev=nfev0 + problem.nrun - runs0, njev=njev,
        n_rejected=rejected, restarts=restarts,
        history={"cost": np.array(hist_cost), "x": np.array(hist_x)},
        x0=theta0, parameter_names=list(problem.parameter_names),
    ).attach_transform(problem.prior.transform)
    if gradient is not None:
        out.gradient = _gradient_used(problem, gradient)
    if posterior and np.isfinite(out.fun):
        laplace_ending(problem, out, mode="fd" if gradient == "fd" else None)
    return out


def lbfgsb(problem, x0=None, callback=None, checkpoint=None, **options):
    """L-BFGS-B (scipy) with the Problem's best gradient.

    The result's ``gradient`` says which was used ("adjoint", "tangent linear" or "finite
    differences (forward)"); ``pdaframe run`` prints it in the summary.

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Start in physical space; default the prior mean.
    callback : callable, optional
        ``callback(Result(x, fun, nit))`` after each iteration; raise `StopIteration` to stop.
    **options
        ``scipy.optimize.minimize(method="L-BFGS-B")`` options (below; pdaframe's defaults
        for ``maxiter``, ``ftol`` and ``gtol``), and pdaframe's ``posterior`` and
        ``max_restarts``. The cost is minimised in control space ``u`` (prior standard
        deviations).
    maxiter : int
        Maximum number of L-BFGS-B iterations (scipy's default: 15000).
    ftol : float
        Stop when J decreases in an iteration by at most ``ftol`` relative to ``max(|J|,
        1)`` (scipy's default: 2.2e-9).
    gtol : float
        Stop when every component of J's gradient in control space (J per prior standard
        deviation) is at most ``gtol`` in size (scipy's default: 1e-5).
    maxfun : int
        Maximum number of cost evaluations, each with its gradient.
    maxcor : int
        Number of correction pairs kept by the limited-memory Hessian approximation.
    maxls : int
        Maximum number of line-search steps per iteration.
    posterior : bool
        Compute the Gauss–Newton posterior covariance at the optimum
        (`Problem.posterior_covariance`: a Jacobian, so more model runs).
    max_restarts : int
        Restarts from the best point (fresh curvature memory) after a scipy run that
        rejected failed model runs and still improved J.
    """
    return _run(problem, "L-BFGS-B", "auto", x0, callback, {**LBFGSB_DEFAULTS, **options},
                checkpoint)


def lbfgsb_fd(problem, x0=None, callback=None, checkpoint=None, **options):
    """L-BFGS-B with finite-difference gradients (see `Problem` for the step rule).

    Parameters
    ----------
    problem, x0, callback, **options
        As `lbfgsb`; each cost evaluation also runs the model for the finite differences,
        and the posterior covariance uses a finite-difference Jacobian.
    """
    return _run(problem, "L-BFGS-B", "fd", x0, callback, {**LBFGSB_DEFAULTS, **options},
                checkpoint)


def nelder_mead(problem, x0=None, callback=None, checkpoint=None, **options):
    """Nelder–Mead simplex (scipy); derivative-free.

    Options are ``scipy.optimize.minimize(method="Nelder-Mead")``'s (defaults ``xatol=1e-7``,
    ``fatol=1e-12`` in control-space units, ``adaptive`` for more than 4 parameters,
    ``maxfev=2000 * n_param``).

    Parameters
    ----------
    problem, x0, callback
        As `lbfgsb`.
    **options
        scipy's options (below), and pdaframe's ``posterior`` and ``max_restarts`` as in
        `lbfgsb`.
    xatol : float
        Stop when every vertex is within ``xatol`` of the best one in every coordinate, in
        control space (prior standard deviations), and ``fatol`` holds.
    fatol : float
        Stop when the cost of every vertex is within ``fatol`` of the best one (units of J),
        and ``xatol`` holds.
    maxiter : int, optional
        Maximum number of simplex iterations (default: no limit but ``maxfev``).
    maxfev : int, optional
        Maximum number of cost evaluations (default: ``2000 * n_param``).
    adaptive : bool
        Adapt the simplex coefficients to the dimension (Gao & Han 2012); default: True for
        more than 4 parameters.
    initial_simplex : array_like, shape (n_param + 1, n_param), optional
        The first simplex in control space, a vertex per row (then ``x0`` is not used).
    """
    defaults = {**NELDER_MEAD_DEFAULTS, "adaptive": problem.n_param > 4,
                "maxfev": 2000 * problem.n_param}
    return _run(problem, "Nelder-Mead", None, x0, callback, {**defaults, **options},
                checkpoint)


# the options (`pdaframe.methods.contract`): scipy's that pdaframe passes on (its
# defaults, or pdaframe's above), then pdaframe's own; whole-number budgets with a minimum
_PDAFRAME_OPTIONS = {"posterior": True, "max_restarts": 10}
lbfgsb.option_defaults = lbfgsb_fd.option_defaults = {
    **LBFGSB_DEFAULTS, "maxfun": 15000, "maxcor": 10, "maxls": 20, **_PDAFRAME_OPTIONS}
nelder_mead.option_defaults = {**NELDER_MEAD_DEFAULTS, "maxiter": None, "maxfev": None,
                               "adaptive": False, "initial_simplex": None,
                               **_PDAFRAME_OPTIONS}
lbfgsb.option_counts = lbfgsb_fd.option_counts = {
    "maxiter": (1, "iterations"), "maxfun": (1, "model runs")}
nelder_mead.option_counts = {"maxiter": (1, "iterations"), "maxfev": (1, "model runs")}
lbfgsb_fd.option_docs = nelder_mead.option_docs = (lbfgsb,)       # posterior, max_restarts
lbfgsb.family = lbfgsb_fd.family = nelder_mead.family = "minimiser"

METHODS = {"lbfgsb": lbfgsb, "lbfgsb-fd": lbfgsb_fd, "nelder-mead": nelder_mead}
