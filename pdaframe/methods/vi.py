"""Variational inference (``vi``): a full-rank Gaussian ``q(u) = N(m, L L^T)`` in the control
space, fitted by maximising the ELBO with the model's gradient.

The target is the samplers' (`pdaframe.methods.mcmc`): in the unbounded control space ``u``
of `pdaframe.problem.base.ControlSpace`,

    log p(u) = -J(theta(u)) + log|d theta / d u|,

so the bounds hold for every draw. The ELBO ``E_q[log p(u)] + H(q)`` is estimated by a
sample-average approximation (SAA): one fixed set of ``K`` base draws ``z_k`` (seeded),
centred and whitened so that their sample mean is exactly 0 and their sample covariance
(``Z^T Z / K``) exactly ``I``, and

    ELBO(m, L) = 1/K sum_k log p(m + L z_k) + sum_i log L_ii + d/2 (1 + log 2 pi).

Its gradient is the reparameterisation gradient: with ``g_k = grad log p(u_k)``,
``dELBO/dm = mean_k g_k`` and ``dELBO/dL = lower(mean_k g_k z_k^T) + diag(1/L_ii)``. The
objective is deterministic, so scipy's L-BFGS-B maximises it on ``(m, log diag L, lower
off-diagonal L)``, in the coordinates ``v`` of ``u = m_0 + L_0 v`` that whiten the start
(by default the Laplace posterior of `lbfgsb`): from there a near-Gaussian posterior takes
tens of iterations, not hundreds. For a quadratic ``log p`` (a linear model with Gaussian prior and errors)
the SAA ELBO equals the true ELBO for any ``K > d`` (only the first two moments of ``z``
enter), so its maximiser is the exact posterior. No stochastic phase with fresh draws: on the
targets here the fixed-draw optimum was adequate, and a deterministic objective is what makes
L-BFGS-B, exact tests and bit-identical MPI runs possible (Giordano, Broderick & Jordan 2018,
"Covariances, robustness and variational Bayes", JMLR 19:51, use the same fixed-draw
approach).

Each ELBO evaluation runs the ``K`` draws (cost and gradient) through the executor: every
draw is independent and the sums are taken in draw order, so the result is bit-identical on
any number of MPI ranks. After the fit, ``n_samples`` fresh draws from ``q`` are run once
more for their ``J`` and returned as a `SampleResult` (``samples.nc`` like the samplers).

Needs a gradient: the adjoint or tangent linear (``gradient = "auto"``), or finite
differences only when asked (``gradient = "fd"``: ``n_param + 1`` runs per draw). A fit whose
ELBO becomes non-finite or never increases raises `VIDivergenceError` with the last ELBO
values, before anything is written.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy import optimize
from scipy.special import expit

from ..errors import ConfigError, ModelError, check_int
from ..parallel import Failed, member_rng, with_members
from ..result import Result
from .mcmc.chains import MIN_DRAWS, log_jacobian, sample_result
from .search.shared import _check_x0, _seed

log = logging.getLogger(__name__)

HALF_LOG_2PI_E = 0.5 * (1.0 + np.log(2.0 * np.pi))   # entropy of N(0, 1)
STATUS = {0: "ELBO maximised (L-BFGS-B converged)",
          1: "ELBO not converged: {message}",
          3: "stopped by the callback after {nit} iterations"}


class VIDivergenceError(ModelError):
    """The VI fit diverged: a non-finite ELBO, or no increase from the start.

    Attributes
    ----------
    elbo : ndarray
        The ELBO history up to the failure (the last values are in the message).
    """

    def __init__(self, message, elbo=()):
        super().__init__(message)
        self.elbo = np.asarray(elbo, dtype=float)


def base_draws(n_draws, d, seed) -> np.ndarray:
    """``K = n_draws`` standard-normal draws ``(K, d)`` from ``member_rng(seed, 0)``, centred
    and whitened: ``Z.mean(0) == 0`` and ``Z.T @ Z / K == I`` (to round-off)."""
    z = member_rng(seed, 0).standard_normal((n_draws, d))
    z -= z.mean(axis=0)
    chol = np.linalg.cholesky(z.T @ z / n_draws)
    return np.linalg.solve(chol, z.T).T


def log_jacobian_gradient(space, u) -> np.ndarray:
    """``d/du log|d theta / d u|`` (of `pdaframe.methods.mcmc.log_jacobian`): per
    parameter 1 for ``log``/``neglog``, ``1 - 2 expit(phi)`` for ``logit``, 0 for
    ``identity``, pulled back through ``S``."""
    phi = space.phi_b + space.scale @ np.asarray(u, dtype=float)
    kinds = np.array(space.transform.kinds)
    g = np.where(np.isin(kinds, ("log", "neglog")), 1.0, 0.0)
    logit = kinds == "logit"
    g[logit] = 1.0 - 2.0 * expit(phi[logit])
    return space.scale.T @ g


class LogTargetGradient:
    """``{"logp": log p(u), "grad": d log p / du}`` of one draw (picklable, as emcee's
    `pdaframe.methods.mcmc.LogTargetU`)."""

    def __init__(self, problem, mode):
        self.problem, self.mode = problem, mode

    def __call__(self, u):
        space = self.problem.space
        theta = space.to_theta(u)
        J = float(self.problem.cost(theta))
        if not np.isfinite(J):
            raise ModelError(f"J = {J} at theta = {theta.tolist()}")
        g = space.pullback(u, self.problem.gradient(theta, mode=self.mode))
        return {"logp": np.float64(-J + log_jacobian(space, u)),
                "grad": -g + log_jacobian_gradient(space, u)}


def _gradient_mode(problem, gradient) -> str | None:
    """The derivative mode passed to ``problem.gradient``, or a `ConfigError` (before any
    run) when the problem has no gradient: ``auto`` needs an adjoint or tangent linear
    model (finite differences only when asked for, ``gradient = "fd"``)."""
    if gradient not in ("auto", "adjoint", "tangent", "fd"):
        raise ConfigError(f"vi: gradient = {gradient!r}; expected auto, adjoint, tangent "
                          f"or fd")
    if not callable(getattr(problem, "gradient", None)):
        raise ConfigError(f"vi needs the gradient of J, and {type(problem).__name__} has no "
                          f"gradient(theta) method; use a sampler (dream-zs) or an "
                          f"emulator (ces)")
    sites = getattr(problem, "site_problems", [problem])
    if gradient == "auto" and all(hasattr(p, "_mode") for p in sites) and \
            any(p._mode("auto") == "fd" for p in sites):
        raise ConfigError(
            "vi needs the gradient of J, and the model has neither an adjoint nor a tangent "
            "linear; set [method] options gradient = \"fd\" for finite differences (n_param + "
            "1 runs per draw), or use an emulator (method ces) or a sampler (dream-zs)")
    for p in sites:
        if gradient != "auto" and hasattr(p, "_mode"):
            p._mode(gradient)                  # ConfigError: the model has no adjoint
    return None if gradient == "auto" else gradient


class _Fit:
    """The SAA ELBO of ``q = N(m, L L^T)`` and its gradient, evaluated over the executor.

    In the preconditioned coordinates ``u = m0 + L0 v`` (the start: `vi`'s ``start``):
    ``m = m0 + L0 a``, ``L = L0 B``, on the parameter vector ``p = (a, log diag B, lower
    off-diagonal of B)``; the ELBO is that of ``q`` in ``u`` (``log|det L0|`` included).
    """

    def __init__(self, problem, z, target, executor, m0=None, L0=None):
        self.z, self.target, self.executor = z, target, executor
        self.d = problem.n_param
        self.m0 = np.zeros(self.d) if m0 is None else np.asarray(m0, dtype=float)
        self.L0 = np.eye(self.d) if L0 is None else np.asarray(L0, dtype=float)
        self.log_det0 = float(np.sum(np.log(np.diag(self.L0))))
        self.tril = np.tril_indices(self.d, -1)
        self.history, self.n_eval, self.n_rejected = [], 0, 0
        self.last_good = None
        self.first_failure = None

    def pack(self, a, B) -> np.ndarray:
        """``p`` of ``(a, B)`` (preconditioned coordinates)."""
        return np.concatenate([a, np.log(np.diag(B)), B[self.tril]])

    def unpack(self, p):
        """``(a, B)`` of ``p``."""
        d = self.d
        B = np.diag(np.exp(p[d:2 * d]))
        B[self.tril] = p[2 * d:]
        return p[:d].copy(), B

    def q(self, p):
        """``(m, L)`` of ``q`` in ``u``."""
        a, B = self.unpack(p)
        return self.m0 + self.L0 @ a, self.L0 @ B

    def elbo(self, p):
        """``(ELBO, dELBO/dp)``; ``(nan, None)`` when a draw failed."""
        a, B = self.unpack(p)
        u = self.m0 + (a + self.z @ B.T) @ self.L0.T
        results = self.executor.map(self.target, list(u))
        self.n_eval += 1
        failed = [r for r in results if isinstance(r, Failed)]
        if failed:
            self.first_failure = self.first_failure or f"draw {failed[0].index}: " \
                                                       f"{failed[0].error}"
            return np.nan, None
        logp = np.array([r["logp"] for r in results])
        G = np.array([r["grad"] for r in results]) @ self.L0    # d log p / d v
        K = len(self.z)
        diag = np.diag(B)
        value = logp.sum() / K + np.log(diag).sum() + self.log_det0 + self.d * HALF_LOG_2PI_E
        GZ = G.T @ self.z / K                                   # d ELBO / d B (before diag)
        grad = np.concatenate([G.sum(axis=0) / K, np.diag(GZ) * diag + 1.0, GZ[self.tril]])
        return float(value), grad

    def __call__(self, p):
        """Negative ELBO and its gradient for L-BFGS-B; a failed draw is a rejected trial
        point: a much higher value with the last good gradient, so the line search
        backtracks (as `pdaframe.methods.scipy_minimisers`)."""
        value, grad = self.elbo(p)
        if np.isfinite(value):
            self.last_good = (-value, -grad)
            return -value, -grad
        self.n_rejected += 1
        f, g = self.last_good
        return f + 10.0 * (abs(f) + 1.0), g


def _diverged(history, why) -> VIDivergenceError:
    last = ", ".join(f"{v:.6g}" for v in history[-5:])
    return VIDivergenceError(f"vi diverged: {why}; last ELBO values [{last}] (check the "
                             f"gradient with pdaframe.testing, start closer to the posterior "
                             f"with x0 or a smaller init_scale, or use more n_draws)", history)


def vi(problem, x0=None, callback=None, executor=None, seed=0, n_draws=None, n_samples=1000,
       n_chains=4, maxiter=1000, ftol=1e-15, gtol=1e-10, start="laplace", init_scale=1.0,
       gradient="auto") -> Result:
    """Full-rank Gaussian variational inference in the control space (see the module).

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Start of ``q``'s mean (physical space); default the prior mean.
    callback : callable, optional
        ``callback(Result(x, fun, nit))`` after each L-BFGS-B iteration (``x``: ``q``'s
        mean mapped to theta, ``fun``: the negative ELBO); `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates the draws of each ELBO evaluation and the final draws (ordered ``map``).
    seed : int
        Seed of the base draws (``member_rng(seed, 0)``) and of the returned draws
        (``member_rng(seed, 1)``): results do not depend on the executor.
    n_draws : int, optional
        Number ``K`` of fixed base draws of the ELBO (at least ``n_param + 1``, so they can be
        whitened); default ``2 (n_param + 1)``. Model runs per ELBO evaluation: ``K`` costs
        and gradients.
    n_samples : int
        Draws from the fitted ``q`` returned as samples (each one more model run for its J;
        at least 4 per chain).
    n_chains : int
        The returned draws are independent; they are split into this many "chains" so that
        R-hat and ESS (which should be about 1 and ``n_samples``) can be computed.
    maxiter : int
        Maximum number of L-BFGS-B iterations.
    ftol : float
        Stop when the ELBO changes in an iteration by at most ``ftol`` relative to
        ``max(|ELBO|, 1)`` (L-BFGS-B's ``ftol``).
    gtol : float
        Stop when every component of the ELBO's gradient is at most ``gtol`` in size. The
        defaults are tight so that a linear-Gaussian fit is exact to about 1e-7; looser
        (``ftol = 1e-10, gtol = 1e-6``) saves about a fifth of the runs.
    start : {"laplace", "prior"}
        Where the fit starts, and the coordinates it moves in: ``laplace`` runs `lbfgsb`
        from ``x0`` (its runs count in ``nfev``) and starts ``q`` at its Laplace posterior
        (``m`` the minimum, ``L`` the Cholesky factor of the Gauss–Newton covariance mapped
        to ``u``), ``prior`` at ``x0`` (default the prior mean) with ``L = I``. Either way
        the ELBO is optimised in the coordinates ``v`` of ``u = m_0 + L_0 v``, so a start
        near the posterior also makes the problem well conditioned (it stops with
        ``gtol`` in a few tens of iterations where from the prior it took hundreds).
    init_scale : float
        ``L_0`` is scaled by this (1: the start's width).
    gradient : {"auto", "adjoint", "tangent", "fd"}
        Gradient of J: ``auto`` the adjoint, else the tangent linear, else a `ConfigError`;
        ``fd`` finite differences (``n_param + 1`` runs per draw).

    Returns
    -------
    SampleResult
        As the samplers' (``samples``, ``samples_u``, ``log_prob``, ``posterior_covariance``
        of the draws, ``x`` their mean, ``rhat``, ``ess_bulk``), plus ``q_mean_u`` and
        ``q_covariance_u`` (``m``, ``L L^T``), ``q_mean`` and ``q_covariance`` (mapped to
        theta, the covariance through the transform's Jacobian at ``m``: exact for
        unbounded parameters), ``elbo`` (final) and ``history`` (``elbo`` per iteration,
        ``cost`` its negative), ``n_draws``, ``njev`` (draw gradients), ``n_rejected``
        (ELBO evaluations with a failed draw), ``gradient``.

    Raises
    ------
    ConfigError
        No gradient (above), ``n_draws <= n_param``; before any model run.
    VIDivergenceError
        The ELBO is non-finite at the start or at the end, or did not increase.
    """
    mode = _gradient_mode(problem, gradient)
    d = problem.n_param
    seed = _seed(seed)
    K = check_int(2 * (d + 1) if n_draws is None else n_draws, "vi: n_draws", d + 1,
                  f"{d + 1} draws (n_param + 1) are needed to whiten them")
    n_chains = check_int(n_chains, "vi: n_chains", 2, "R-hat compares the chains")
    n_samples = check_int(n_samples, "vi: n_samples", MIN_DRAWS * n_chains,
                          f"{MIN_DRAWS} per chain for R-hat and ESS")
    if float(init_scale) <= 0:
        raise ConfigError(f"vi: init_scale = {init_scale}: must be positive")
    space = problem.space
    if start not in ("laplace", "prior"):
        raise ConfigError(f"vi: start = {start!r}; expected laplace or prior")
    x0 = None if x0 is None else _check_x0(problem, x0, "vi")
    m0, L0, n_start = _start(problem, x0, start)
    executor = with_members(executor, seed)
    fit = _Fit(problem, base_draws(K, d, seed), LogTargetGradient(problem, mode), executor,
               m0, float(init_scale) * L0)
    p0 = fit.pack(np.zeros(d), np.eye(d))
    elbo0, _ = fit.elbo(p0)
    fit.history.append(elbo0)
    if not np.isfinite(elbo0):
        raise _diverged(fit.history, f"the ELBO at the start is not finite "
                                     f"({fit.first_failure})")
    fit.last_good = (-elbo0, -_)
    stopped = False

    def record(intermediate_result):          # scipy needs this exact argument name
        nonlocal stopped
        fit.history.append(-float(intermediate_result.fun))
        if callback is not None:
            m, _L = fit.q(intermediate_result.x)
            try:
                callback(Result(x=space.to_theta(m), fun=float(intermediate_result.fun),
                                nit=len(fit.history) - 1))
            except StopIteration:
                stopped = True
                raise

    res = optimize.minimize(fit, p0, jac=True, method="L-BFGS-B", callback=record,
                            options={"maxiter": int(maxiter), "ftol": float(ftol),
                                     "gtol": float(gtol)})
    history = np.array(fit.history)
    final = -float(res.fun)
    if not np.isfinite(final) or not np.all(np.isfinite(history)):
        raise _diverged(history, "the ELBO became non-finite")
    if final <= elbo0 and not (stopped or res.success):
        raise _diverged(history, f"the ELBO did not increase from its start {elbo0:.6g} "
                                 f"({res.message})")
    m, L = fit.q(res.x)
    out = _result(problem, fit, m, L, res, final, history, stopped, seed, n_samples,
                  n_chains, executor, gradient)
    out.update(start=start, nfev=out.nfev + n_start, nfev_start=n_start)
    return out


def _start(problem, x0, start):
    """``(m0, L0, runs)``: the start of ``q`` in ``u`` and the model runs it took (`vi`'s
    ``start``). A Laplace covariance that is not positive definite (a parameter the data
    do not constrain under a uniform prior) falls back to ``L0 = I``, with a warning."""
    space, d = problem.space, problem.n_param
    if start == "prior":
        return np.zeros(d) if x0 is None else space.to_u(x0), np.eye(d), 0
    from .scipy_minimisers import lbfgsb
    lap = lbfgsb(problem, x0=x0)
    runs = int(lap.nfev) + int(lap.get("nfev_posterior", 0))
    m0 = space.to_u(lap.x)
    # du/dtheta = S^-1 diag(dphi/dtheta) at the minimum
    dphi = 1.0 / space.transform.dtheta_dphi(space.transform.to_phi(lap.x))
    D = np.linalg.solve(space.scale, np.diag(dphi))
    try:
        return m0, np.linalg.cholesky(D @ lap.posterior_covariance @ D.T), runs
    except (np.linalg.LinAlgError, KeyError):
        log.warning("vi: the Laplace covariance at the minimum is not positive definite; "
                    "starting with L = I (the prior's width)")
        return m0, np.eye(d), runs


def _result(problem, fit, m, L, res, final, history, stopped, seed, n_samples, n_chains,
            executor, gradient):
    """The `SampleResult` of a fitted ``q``: ``n_samples`` fresh draws run for their J."""
    space, d = problem.space, problem.n_param
    z = member_rng(seed, 1).standard_normal((n_samples, d))
    u = m + z @ L.T
    theta = np.array([space.to_theta(x) for x in u])
    J = executor.map(problem.cost, list(theta))
    n_failed = sum(isinstance(j, Failed) for j in J)
    J = np.array([np.inf if isinstance(j, Failed) else j for j in J], dtype=float)
    per = n_samples // n_chains
    keep = per * n_chains                      # whole chains; the rest are dropped
    shape = (n_chains, per)
    out = sample_result(problem, "vi", theta[:keep].reshape(*shape, d),
                        u[:keep].reshape(*shape, d), J[:keep].reshape(shape),
                        np.ones(shape, dtype=bool), nfev=0, n_failed=n_failed,
                        nit=int(res.nit), seed=seed)
    jac = space.transform.dtheta_dphi(space.phi_b + space.scale @ m)[:, None] * space.scale
    status = 3 if stopped else 0 if res.success else 1
    out.update(
        q_mean_u=m, q_covariance_u=L @ L.T, q_mean=space.to_theta(m),
        q_covariance=jac @ L @ L.T @ jac.T, elbo=final,
        history={"elbo": history, "cost": -history}, n_draws=len(fit.z),
        nfev=out.nfev + len(fit.z) * fit.n_eval + n_samples, njev=len(fit.z) * fit.n_eval,
        n_rejected=fit.n_rejected, gradient=gradient, status=status, success=status == 0,
        message=STATUS[status].format(message=res.message, nit=int(res.nit)))
    return out


vi.option_counts = {"n_samples": (4, "R-hat and ESS of the draws"),
                    "n_chains": (2, "R-hat compares the chains"),
                    "maxiter": (1, "iterations")}
vi.family = "variational"
vi.result_kind = "sample"
vi.uses_x0 = True

METHODS = {"vi": vi}
