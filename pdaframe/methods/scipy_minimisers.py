"""Gradient-based and derivative-free minimisers from `scipy.optimize`.

All move in the control space ``u`` of the Problem (unbounded, prior-scaled), so bounds are
respected through the prior's transforms and the problem is well conditioned.

- ``lbfgsb``: L-BFGS-B with the exact gradient (adjoint, tangent linear, or finite
  differences if the model has neither);
- ``lbfgsb-fd``: L-BFGS-B with the Problem's finite-difference gradient, always;
- ``nelder-mead``: Nelder–Mead simplex, no gradient.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy import optimize

from ..errors import ModelError
from ..result import Result

log = logging.getLogger(__name__)

LBFGSB_DEFAULTS = {"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-9}
NELDER_MEAD_DEFAULTS = {"xatol": 1e-7, "fatol": 1e-12}


def _run(problem, scipy_method, gradient, x0, callback, options):
    """Minimise ``problem`` in control space with ``scipy.optimize.minimize``."""
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

    best = {"f": np.inf, "u": None}

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
        if callback is not None:
            callback(Result(x=theta, fun=float(intermediate_result.fun), nit=len(hist_cost) - 1))

    hist_cost.append(fun(u0))
    hist_x.append(theta0)
    if not np.isfinite(hist_cost[0]):
        start = dict(zip(problem.parameter_names, theta0.tolist()))
        raise ModelError(f"the model fails at the start point {start}", theta=theta0)
    u, nit, restarts = u0, 0, 0
    while True:
        # A run that rejects trial points (failed model runs) can stall the line search;
        # restart from the best point, with fresh curvature memory, while that still helps.
        before, f_start = rejected, best["f"]
        if gradient is None:
            res = optimize.minimize(fun, u, method=scipy_method, callback=record,
                                    options=options)
        else:
            res = optimize.minimize(fun_and_grad, u, jac=True, method=scipy_method,
                                    callback=record, options=options)
        nit += int(res.nit)
        if rejected == before or restarts >= max_restarts or \
                not best["f"] < f_start - 1e-12 * max(abs(f_start), 1.0):
            break
        restarts += 1
        u = best["u"]
    # with rejected points the last iterate may carry a stand-in cost: report the best point
    # actually evaluated, and success only if scipy converged there
    theta = problem.space.to_theta(best["u"])
    success = bool(res.success) and np.array_equal(res.x, best["u"])
    out = Result(
        x=theta, fun=float(best["f"]), success=success, status=int(res.status),
        message=str(res.message), nit=nit, nfev=problem.nrun - runs0, njev=njev,
        n_rejected=rejected, restarts=restarts,
        history={"cost": np.array(hist_cost), "x": np.array(hist_x)},
        x0=theta0, parameter_names=list(problem.parameter_names),
    ).attach_transform(problem.prior.transform)
    if posterior and np.isfinite(out.fun):
        runs1 = problem.nrun
        mode = "fd" if gradient == "fd" else None
        cov = problem.posterior_covariance(theta, problem.jacobian(theta, mode=mode))
        out.posterior_covariance = cov
        out.posterior_std = np.sqrt(np.diag(cov))
        out.nfev_posterior = problem.nrun - runs1
    return out


def lbfgsb(problem, x0=None, callback=None, **options):
    """L-BFGS-B (scipy) with the Problem's best gradient.

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Start in physical space; default the prior mean.
    callback : callable, optional
        ``callback(Result(x, fun, nit))`` after each iteration; raise `StopIteration` to stop.
    **options
        ``scipy.optimize.minimize(method="L-BFGS-B")`` options (defaults ``maxiter=1000,
        ftol=1e-14, gtol=1e-9``) and ``posterior=True`` (compute the Gauss–Newton
        posterior covariance at the optimum).
    """
    return _run(problem, "L-BFGS-B", "auto", x0, callback, {**LBFGSB_DEFAULTS, **options})


def lbfgsb_fd(problem, x0=None, callback=None, **options):
    """L-BFGS-B with finite-difference gradients (see `Problem` for the step rule)."""
    return _run(problem, "L-BFGS-B", "fd", x0, callback, {**LBFGSB_DEFAULTS, **options})


def nelder_mead(problem, x0=None, callback=None, **options):
    """Nelder–Mead simplex (scipy); derivative-free.

    Options are ``scipy.optimize.minimize(method="Nelder-Mead")``'s (defaults ``xatol=1e-7``,
    ``fatol=1e-12`` in control-space units, ``adaptive`` for more than 4 parameters,
    ``maxfev=2000 * n_param``).
    """
    defaults = {**NELDER_MEAD_DEFAULTS, "adaptive": problem.n_param > 4,
                "maxfev": 2000 * problem.n_param}
    return _run(problem, "Nelder-Mead", None, x0, callback, {**defaults, **options})


METHODS = {"lbfgsb": lbfgsb, "lbfgsb-fd": lbfgsb_fd, "nelder-mead": nelder_mead}
