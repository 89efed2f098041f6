"""Multi-stream stepwise assimilation: one data stream (or group) after another.

The chain carries a Gaussian ``N(m, P)`` over all the problem's parameters, first the
problem's prior. Step ``k`` assimilates its streams and estimates its active parameters
``A`` (all of them unless the step names ``parameters``, `pdaframe.methods.stepwise_plan`);
the others, ``I``, are held at their current mean ``m_I`` in the model.

Step ``k`` minimises over ``x_A`` its streams' cost plus the prior term of the **marginal**
``N(m_A, P_AA)``, giving the Laplace posterior ``(a, P^a_AA)`` (the inner minimiser's
estimate and Gauss–Newton covariance). The full ``(m, P)`` is then updated by Gaussian
conditioning through ``x_A``, with the gain ``K = P_IA P_AA^-1``::

    m_A <- a                         P_AA <- P^a_AA
    m_I <- m_I + K (a - m_A)         P_IA <- K P^a_AA
                                     P_II <- P_II + K (P^a_AA - P_AA) K^T

Why this is exact when the step's streams depend on ``x_A`` only, ``y = H_A x_A + e``,
``e ~ N(0, R)``: the posterior of ``x_A`` is likelihood times the *marginal* prior of
``x_A`` (``x_I`` integrates out), and ``x_I = m_I + K (x_A - m_A) + u`` with ``u``
independent of ``x_A`` and ``y`` (``cov u = P_II - K P_AI``), so the posterior of ``x_I``
follows from that of ``x_A`` by the formulas above. They equal the Kalman update of the full
state with ``H = [H_A, 0]``: ``P H^T = P[:, A] H_A^T = L P_AA H_A^T`` with
``L = P[:, A] P_AA^-1``, so ``m + P H^T S^-1 (y - H m) = m + L (a - m_A)`` and
``P - P H^T S^-1 H P = P + L (P^a_AA - P_AA) L^T``. Sequential Kalman updates of a
linear-Gaussian model equal the simultaneous one, so a linear model whose step-``k``
streams depend on step ``k``'s active parameters only gives the simultaneous posterior
mean and covariance to round-off (``tests/unit/test_stepwise_subsets.py``). The
*conditional* prior of ``x_A`` given ``x_I = m_I`` (``P_AA - P_AI P_II^-1 P_IA``) would
treat ``x_I`` as known: too narrow, not exact (the same test shows it).

Approximations:

* a nonlinear model: each step carries only its Gauss–Newton (Laplace) posterior forward;
* a step whose streams depend on parameters it holds: they are fixed at the current mean
  during the step (their uncertainty is not propagated to the step's observations, and
  the step's data do not update them except through their correlation with ``x_A``). Each
  such step estimates how much its whitened equivalents move when the held parameters move
  by one current σ (two model runs: ``inactive_sensitivity`` in the step's result) and warns
  once when it exceeds `INACTIVE_TOL`.

The list-of-lists form (every step all parameters) runs exactly as before the subsets: the
problem's own prior in step 0 (any family), then the previous posterior. Subsets need a
Gaussian prior. The simultaneous strategy is the ordinary one-cost run (any minimiser).
Multi-site problems are not supported.
"""
from __future__ import annotations

import logging

import numpy as np

from scipy import linalg

from ..errors import ConfigError
from ..minimise import minimise
from ..prior.priors import GaussianPrior
from ..problem.fixed import FixedParameters, fix_operator_parameters
from ..problem.single import Problem, operator_parameter_layout
from ..result import OptimisationResult, Result
from .stepwise_plan import check_problem

log = logging.getLogger(__name__)

#: warn when the held parameters moved by one σ move a step's whitened equivalents by more
#: than this (RMS over a random ±σ direction; see `inactive_sensitivity`)
INACTIVE_TOL = 1.0
#: the fraction of σ by which `inactive_sensitivity` moves the held parameters
SENSITIVITY_STEP = 0.1


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




def marginal_prior(mean, cov, prior, index) -> GaussianPrior:
    """The Gaussian ``N(mean[index], cov[index, index])`` with ``prior``'s bounds and
    transforms of those parameters.

    Raises
    ------
    ConfigError
        The mean is not strictly inside the bounds, or the covariance block is not positive
        definite.
    """
    try:
        return GaussianPrior(mean[index], covariance=cov[np.ix_(index, index)],
                             lower=prior.lower[index], upper=prior.upper[index],
                             names=[prior.names[i] for i in index],
                             transforms=[prior.transform.kinds[i] for i in index])
    except ConfigError as err:
        raise ConfigError(f"stepwise: cannot build the next step's prior from the chain's "
                          f"Gaussian: {err}") from None


def condition(mean, cov, index, x_a, cov_a) -> tuple[np.ndarray, np.ndarray]:
    """The chain's Gaussian after a step that estimated ``x[index]`` (module docstring).

    Parameters
    ----------
    mean : ndarray, shape (n,)
    cov : ndarray, shape (n, n)
        The chain's Gaussian before the step.
    index : ndarray of int, shape (a,)
        The step's active parameters.
    x_a : ndarray, shape (a,)
    cov_a : ndarray, shape (a, a)
        The step's posterior mean and covariance of ``x[index]``.

    Returns
    -------
    mean, cov : ndarray
        New arrays; ``mean[index]`` is ``x_a`` and ``cov[index, index]`` ``cov_a`` exactly.
    """
    held = np.setdiff1d(np.arange(mean.size), index)
    new_mean, new_cov = mean.copy(), cov.copy()
    new_mean[index] = x_a
    new_cov[np.ix_(index, index)] = cov_a
    if held.size:
        p_aa = cov[np.ix_(index, index)]
        gain = linalg.solve(p_aa, cov[np.ix_(index, held)], assume_a="pos").T
        new_mean[held] = mean[held] + gain @ (x_a - mean[index])
        cross = gain @ cov_a
        new_cov[np.ix_(held, index)] = cross
        new_cov[np.ix_(index, held)] = cross.T
        held_cov = cov[np.ix_(held, held)] + gain @ (cov_a - p_aa) @ gain.T
        new_cov[np.ix_(held, held)] = 0.5 * (held_cov + held_cov.T)
    return new_mean, new_cov


def _step_problem(problem, step, mean, cov, first):
    """The step's `Problem` over its active parameters, held ones fixed at ``mean``, and
    the indices of its parameters in the full vector."""
    names = list(problem.parameter_names)
    n_model = problem.n_model
    active = set(step.parameters)
    free = [n for n in names[:n_model] if n in active]
    model = problem.model if len(free) == n_model else \
        FixedParameters(problem.model, free, mean[:n_model])
    _, slices = operator_parameter_layout(problem.streams, names[:n_model])
    where = {s.name: (s, sl) for s, sl in zip(problem.streams, slices)}
    streams = [fix_operator_parameters(*where[n], active, mean[n_model:], n_model)
               for n in step.streams]
    sub_names = free + operator_parameter_layout(streams, free)[0]
    index = np.array([names.index(n) for n in sub_names], dtype=np.intp)
    same = sub_names == names
    prior = problem.prior if first and same else marginal_prior(mean, cov, problem.prior,
                                                                 index)
    return Problem(model, prior, streams, fd_scheme=problem.fd_scheme), index


def inactive_sensitivity(problem, step, mean, cov, seed=0) -> float | None:
    """How much the step's whitened equivalents move per σ of its held parameters.

    ``||z(m + h D v) - z(m)|| / h`` with ``z`` the step's whitened, weighted equivalents,
    ``D`` the held parameters' current σ, ``v`` a random ±1 vector over them (seeded: no
    effect on the run's random numbers) and ``h`` = `SENSITIVITY_STEP`: for a linear model
    its square is, in expectation, ``trace(D J_I^T R^-1 J_I D)``, the information the
    step's data hold on the held parameters relative to their current variance. Two model
    runs; None when no held parameter affects the step's streams, or both ``m ± h D v``
    leave the bounds.
    """
    held = step.held
    if not held:
        return None
    names = list(problem.parameter_names)
    where = {s.name: s for s in problem.streams}
    streams = [where[n] for n in step.streams]
    layout = names[:problem.n_model] + \
        operator_parameter_layout(streams, names[:problem.n_model])[0]
    index = np.array([names.index(n) for n in layout], dtype=np.intp)
    # the prior only sizes the Problem (no bounds: a held mean may sit on its bound)
    full = Problem(problem.model, GaussianPrior(mean[index], std=np.ones(index.size),
                                                names=layout),
                   streams, fd_scheme=problem.fd_scheme)
    delta = np.zeros(mean.size)
    held_index = [names.index(n) for n in held]
    sign = np.random.default_rng(seed).choice([-1.0, 1.0], len(held_index))
    delta[held_index] = SENSITIVITY_STEP * np.sqrt(np.diag(cov)[held_index]) * sign
    moved = next((mean + d for d in (delta, -delta) if problem.prior.inside(mean + d)), None)
    if moved is None:
        return None
    x, moved = mean[index], moved[index]

    def whitened(theta):
        eq = full.equivalents(theta)
        return np.concatenate([np.sqrt(s.weight) * s.error.whiten(s.residual(eq[s.name]))
                               for s in full.streams])

    value = float(np.linalg.norm(whitened(moved) - whitened(x)) / SENSITIVITY_STEP)
    problem.nrun += full.nrun
    return value


def _record(res, index, names, mean, cov, x0, transform) -> Result:
    """A step's result: the inner minimiser's, with ``parameters`` (its active set) and,
    for a step over a subset or another order, the chain's full ``x``, ``x0`` and
    covariance after it (the step's own ``history`` is over its active parameters)."""
    if np.array_equal(index, np.arange(len(names))):
        return res
    out = OptimisationResult(res)
    out.update(x=mean, x0=x0, parameter_names=list(names), posterior_covariance=cov,
               posterior_std=np.sqrt(np.diag(cov)))
    return out.attach_transform(transform)


def stepwise(problem, x0=None, callback=None, executor=None, steps=None, inner="lbfgsb",
             inner_options=None, checkpoint=None, **options) -> Result:
    """Assimilate the streams step by step, each step's posterior the next step's prior.

    Parameters
    ----------
    problem : Problem
        A single-site problem with a Gaussian prior (or any prior when every step
        estimates all parameters).
    x0 : array_like, optional
        Start of step 0 (default the prior mean); later steps start at their prior mean.
    callback : callable, optional
        Passed to every step's minimiser.
    executor : object, optional
        Passed to every step's minimiser.
    steps : list of list of str, or list of dict, optional
        Stream names per step, ``[["nee"], ["lai", "c_woo"]]``, or step tables
        ``[{"streams": ["lai"], "parameters": ["f_fol", "c_lma"]}, {"streams": ["nee"]}]``
        (`pdaframe.methods.stepwise_plan`); default one step per stream, in the problem's
        order.
    inner : str or callable
        The minimiser of each step (must return ``posterior_covariance``).
    inner_options : dict, optional
        Options of the inner minimiser.
    **options
        Also passed to the inner minimiser (``inner_options`` wins); ``seed`` is accepted.

    Returns
    -------
    Result
        See `chain`: the final estimate and full covariance, ``fun`` and
        ``history["cost"]`` the full problem's ``J`` at the start and after each step
        (iteration = step), and ``steps`` (the per-step results, each with ``streams``,
        ``parameters`` (its active set) and the chain's full ``x`` and covariance after it;
        with held parameters also ``inactive_sensitivity``).

    Raises
    ------
    ConfigError
        ``problem`` is not a single-site `Problem`; bad ``steps``
        (`pdaframe.methods.stepwise_plan.plan_steps`); a step's posterior cannot be a prior
        (estimate on a bound) or has no covariance.
    """
    plan = check_problem(problem, {"steps": steps})
    unused = [s.name for s in problem.streams if all(s.name not in p.streams for p in plan)]
    if unused:
        log.warning("stepwise: streams %s are in no step and are not assimilated", unused)
    kwargs = {**options, **(inner_options or {})}
    names = list(problem.parameter_names)
    mean = problem.prior.mean.copy()
    # a non-Gaussian prior: every step estimates all parameters (`plan_steps`), so the
    # first step's posterior replaces this placeholder whole
    cov = getattr(problem.prior, "covariance", np.zeros((len(names), len(names))))
    start = None if x0 is None else np.asarray(x0, dtype=float)
    results = []
    for k, step in enumerate(plan):
        sub, index = _step_problem(problem, step, mean, cov, first=not results)
        sensitivity = inactive_sensitivity(problem, step, mean, cov, seed=k) \
            if step.held else None
        if sensitivity is not None and sensitivity > INACTIVE_TOL:
            log.warning("stepwise step %d (%s): its streams depend on the parameters it holds "
                        "at their mean (%s): one σ of them moves its whitened equivalents by "
                        "%.3g (> %g); the step treats them as known", k,
                        ", ".join(step.streams), ", ".join(step.held), sensitivity,
                        INACTIVE_TOL)
        # the checkpoint is step 0's (a resumed run repeats the later steps)
        res = minimise(sub, inner, x0=None if k or start is None else start[index],
                       callback=callback, executor=executor,
                       checkpoint=checkpoint if k == 0 else None, **kwargs)
        res["streams"], res["parameters"] = list(step.streams), list(step.parameters)
        if sensitivity is not None:
            res["inactive_sensitivity"] = sensitivity
        problem.nrun += sub.nrun
        problem.ntangent += sub.ntangent
        problem.nadjoint += sub.nadjoint
        log.info("stepwise step %d (%s; %d of %d parameters): J = %.6g, %s", k,
                 ", ".join(step.streams), index.size, len(names), res["fun"],
                 res.get("message", ""))
        if "posterior_covariance" not in res:
            if k < len(plan) - 1 or index.size < len(names):
                raise ConfigError(f"stepwise: step {k}'s result has no posterior_covariance, "
                                  f"which the chain needs (run its minimiser with "
                                  f"posterior=True)")
        else:
            step_start = mean.copy()
            step_start[index] = res.get("x0", mean[index])
            mean, cov = condition(mean, cov, index, np.asarray(res["x"], dtype=float),
                                  np.asarray(res["posterior_covariance"], dtype=float))
            res = _record(res, index, names, mean, cov, step_start,
                          problem.prior.transform)
        results.append(res)
    out = chain(results, problem)
    out["strategy"] = [list(s.streams) for s in plan]
    out["step_parameters"] = [list(s.parameters) for s in plan]
    return out


stepwise.family = "stepwise"
stepwise.check_problem = check_problem

METHODS = {"stepwise": stepwise}
