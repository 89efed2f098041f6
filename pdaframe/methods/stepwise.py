"""Multi-stream stepwise assimilation: one data stream (or group) after another.

Step ``k`` minimises the cost with only the streams of step ``k``; its prior is the Gaussian
built from step ``k - 1``'s posterior mean and full posterior covariance (same bounds and
transforms as the problem's prior); step 0 uses the problem's own prior. For a linear model
with Gaussian errors and no active bounds the final estimate and covariance equal those of
the simultaneous run (all streams in one cost), to round-off; for a nonlinear model each step
carries only the Gauss–Newton (Laplace) approximation forward, so the two differ.

The simultaneous strategy is the ordinary one-cost run (any minimiser).
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import ConfigError
from ..minimise import minimise
from ..prior.priors import GaussianPrior
from ..problem.single import Problem
from ..result import OptimisationResult, Result

log = logging.getLogger(__name__)


def posterior_prior(result, prior) -> GaussianPrior:
    """The Gaussian prior ``N(result.x, result.posterior_covariance)`` with ``prior``'s bounds.

    Parameters
    ----------
    result : Result
        Has ``x``, ``posterior_covariance`` and ``parameter_names``.
    prior : Prior
        Gives the bounds, transforms and parameter names, which must match the result's.

    Returns
    -------
    GaussianPrior

    Raises
    ------
    ConfigError
        The parameter names differ, the result has no posterior covariance, or its estimate
        is not strictly inside the bounds.
    """
    names = list(result.get("parameter_names", []))
    if names != list(prior.names):
        raise ConfigError(f"stepwise: the previous step estimated parameters {names}, the "
                          f"next step's prior has {list(prior.names)}; a chain needs the same "
                          f"parameters in the same order")
    if "posterior_covariance" not in result:
        raise ConfigError("stepwise: the previous step's result has no posterior_covariance "
                          "(run its minimiser with posterior=True)")
    try:
        return GaussianPrior(result["x"], covariance=result["posterior_covariance"],
                             lower=prior.lower, upper=prior.upper, names=names,
                             transforms=list(prior.transform.kinds))
    except ConfigError as err:
        raise ConfigError(f"stepwise: cannot build the next prior from the previous "
                          f"posterior: {err}") from None


def chain(results, problem=None) -> Result:
    """Combine the per-step results of a stepwise chain into one `Result`.

    Parameters
    ----------
    results : sequence of Result
        One per step, in order; all must estimate the same parameters.
    problem : Problem, optional
        The full problem: ``fun`` and ``history["cost"]`` are then its ``J`` at the start
        and after each step (else the last step's own ``J``).

    Returns
    -------
    Result
        The last step's ``x``, ``posterior_covariance`` and ``posterior_std``; summed
        ``nit nfev njev n_rejected``; ``steps`` (the per-step results); ``success`` if every
        step succeeded.

    Raises
    ------
    ConfigError
        No results, or two steps (or the problem) with different parameter names.
    """
    results = list(results)
    if not results:
        raise ConfigError("stepwise chain: no step results")
    names = list(results[0].get("parameter_names", []))
    for k, res in enumerate(results[1:], start=1):
        other = list(res.get("parameter_names", []))
        if other != names:
            raise ConfigError(f"stepwise chain: step {k} estimates parameters {other}, step 0 "
                              f"{names}; a chain needs the same parameters in the same order")
    if problem is not None and list(problem.parameter_names) != names:
        raise ConfigError(f"stepwise chain: the problem's parameters "
                          f"{list(problem.parameter_names)} differ from the steps' {names}")
    last = results[-1]
    points = [np.asarray(results[0].get("x0", results[0]["x"]))] + \
        [np.asarray(r["x"]) for r in results]
    if problem is not None:
        costs = np.array([problem.cost(x) for x in points])
    else:
        costs = np.array([results[0]["history"]["cost"][0]] + [r["fun"] for r in results])
    out = OptimisationResult(
        x=np.asarray(last["x"]), fun=float(costs[-1]),
        success=all(bool(r.get("success", False)) for r in results),
        status=int(last.get("status", 0)),
        message="; ".join(f"step {k}: {r.get('message', '')}" for k, r in enumerate(results)),
        nit=sum(int(r.get("nit", 0)) for r in results),
        nfev=sum(int(r.get("nfev", 0)) for r in results),
        njev=sum(int(r.get("njev", 0)) for r in results),
        n_rejected=sum(int(r.get("n_rejected", 0)) for r in results),
        history={"cost": costs, "x": np.array(points)},
        x0=points[0], parameter_names=names, steps=results,
    )
    for key in ("posterior_covariance", "posterior_std"):
        if key in last:
            out[key] = np.asarray(last[key])
    transform = last.__dict__.get("transform") if isinstance(last, Result) else None
    if transform is not None:
        out.attach_transform(transform)
    return out


def _check_steps(problem, steps) -> list[list[str]]:
    known = [s.name for s in problem.streams]
    if steps is None:
        return [[name] for name in known]
    if isinstance(steps, str) or not isinstance(steps, (list, tuple)) or not steps:
        raise ConfigError(f"stepwise: steps must be a non-empty list of lists of stream "
                          f"names, e.g. [['nee'], ['lai']]; got {steps!r}")
    out, seen = [], {}
    for k, step in enumerate(steps):
        step = [step] if isinstance(step, str) else step
        if not isinstance(step, (list, tuple)) or not step or \
                not all(isinstance(n, str) for n in step):
            raise ConfigError(f"stepwise: steps[{k}] must be a non-empty list of stream "
                              f"names; got {step!r}")
        for name in step:
            if name not in known:
                raise ConfigError(f"stepwise: steps[{k}] names stream {name!r}, which the "
                                  f"problem does not have; its streams are {known}")
            if name in seen:
                raise ConfigError(f"stepwise: stream {name!r} is in steps[{seen[name]}] and "
                                  f"steps[{k}]; each stream may be assimilated once")
            seen[name] = k
        out.append(list(step))
    unused = [n for n in known if n not in seen]
    if unused:
        log.warning("stepwise: streams %s are in no step and are not assimilated", unused)
    return out


def stepwise(problem, x0=None, callback=None, executor=None, steps=None, inner="lbfgsb",
             inner_options=None, checkpoint=None, **options) -> Result:
    """Assimilate the streams step by step, each step's posterior the next step's prior.

    Parameters
    ----------
    problem : Problem
        A single-site problem with a Gaussian or uniform prior.
    x0 : array_like, optional
        Start of step 0 (default the prior mean); later steps start at their prior mean.
    callback : callable, optional
        Passed to every step's minimiser.
    executor : object, optional
        Passed to every step's minimiser.
    steps : list of list of str, optional
        Stream names per step, e.g. ``[["nee"], ["lai", "c_woo"]]``; default one step per
        stream, in the problem's order.
    inner : str or callable
        The minimiser of each step (must return ``posterior_covariance``).
    inner_options : dict, optional
        Options of the inner minimiser.
    **options
        Also passed to the inner minimiser (``inner_options`` wins); ``seed`` is accepted.

    Returns
    -------
    Result
        See `chain`: the final estimate and covariance, ``fun`` and ``history["cost"]``
        the full problem's ``J`` at the start and after each step (iteration = step), and
        ``steps`` (the per-step results, each with ``streams``).

    Raises
    ------
    ConfigError
        ``problem`` is not a single-site `Problem`, ``steps`` names an unknown stream or a
        stream twice, or a step's posterior cannot be a prior (estimate on a bound).
    """
    if not isinstance(problem, Problem):
        raise ConfigError(f"stepwise: needs a single-site pdaframe.Problem, got "
                          f"{type(problem).__name__}")
    steps = _check_steps(problem, steps)
    kwargs = {**options, **(inner_options or {})}
    by_name = {s.name: s for s in problem.streams}
    results, prior, start = [], problem.prior, x0
    for k, names in enumerate(steps):
        if results:
            prior = posterior_prior(results[-1], problem.prior)
            start = None
        sub = Problem(problem.model, prior, [by_name[n] for n in names],
                      fd_scheme=problem.fd_scheme)
        # the checkpoint is step 0's (a resumed run repeats the later steps)
        res = minimise(sub, inner, x0=start, callback=callback, executor=executor,
                       checkpoint=checkpoint if k == 0 else None, **kwargs)
        res["streams"] = list(names)
        problem.nrun += sub.nrun
        problem.ntangent += sub.ntangent
        problem.nadjoint += sub.nadjoint
        log.info("stepwise step %d (%s): J = %.6g, %s", k, ", ".join(names), res["fun"],
                 res.get("message", ""))
        results.append(res)
    out = chain(results, problem)
    out["strategy"] = [list(n) for n in steps]
    return out


stepwise.family = "stepwise"

METHODS = {"stepwise": stepwise}
