"""What the MCMC samplers share: the log target in u, start states, diagnostics, the result
and `ChainState`, the ask/tell base of the Metropolis-type samplers (`pdaframe.methods.mcmc`).
"""
from __future__ import annotations

import logging

import numpy as np

from ...errors import ModelError, check_int
from ...result import Result, SampleResult
from ..ensemble import EnsembleState, drive, filled
from ..search.shared import Fitness, _check_x0, _seed

log = logging.getLogger(__name__)

STATUS = {0: "sampling finished; every R-hat below {rhat_max}",
          1: "sampling finished but not converged: R-hat of {bad} is {worst:.3f} (>= {rhat_max})",
          2: "every proposal was rejected: the chains never moved (check the start, the "
             "proposal scale and that the model runs)",
          3: "stopped by the callback after {nit} generations"}
MIN_DRAWS = 4          # ArviZ's ESS/R-hat need at least 4 draws per chain


def log_jacobian(space, u) -> float:
    """``log|d theta / d u|`` at ``u``: the transform's log-det plus ``log|det S|``."""
    phi = space.phi_b + space.scale @ np.asarray(u, dtype=float)
    return space.transform.log_det_jacobian(phi) + space.log_det_scale


class LogTargetU:
    """``(log p(u), J(theta(u)))`` of one point: what emcee's pool evaluates (picklable)."""

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, u):
        space = self.problem.space
        J = float(self.problem.cost(space.to_theta(u)))
        return -J + log_jacobian(space, u), J


def _start_u(problem, x0, n_chains, rngs, method):
    """Start states ``(n_chains, d)`` in u: ``x0`` for every chain, else prior draws."""
    space = problem.space
    if x0 is not None:
        return np.tile(space.to_u(_check_x0(problem, x0, method)), (n_chains, 1))
    return np.array([space.to_u(problem.prior.sample(1, rng)[0]) for rng in rngs])


def metropolis_accept(lp_old, lp_new, log_u, correction=0.0) -> np.ndarray:
    """Metropolis–Hastings acceptance of one proposal per chain, shape ``(n_chain,)``.

    Accept where ``log u < lp_new - lp_old + correction`` (``correction``: the log Hastings
    ratio of an asymmetric proposal); an undefined ratio (``-inf - -inf``) rejects. The
    accept step of `ChainState` and of the emulator chains of
    `pdaframe.methods.emulation.ces`.
    """
    with np.errstate(invalid="ignore"):
        log_alpha = lp_new - lp_old + correction
    log_alpha = np.where(np.isnan(log_alpha), -np.inf, log_alpha)
    return log_u < log_alpha


def sample_diagnostics(theta) -> dict[str, np.ndarray]:
    """Rank-normalised ``rhat``, ``ess_bulk`` and ``ess_tail`` per parameter (ArviZ).

    Parameters
    ----------
    theta : ndarray, shape (n_chain, n_draw, n_param)

    Returns
    -------
    dict
        NaN for every parameter with fewer than 2 chains or `MIN_DRAWS` draws.
    """
    import arviz as az
    import xarray as xr
    theta = np.asarray(theta, dtype=float)
    if theta.shape[0] < 2 or theta.shape[1] < MIN_DRAWS:
        return {k: np.full(theta.shape[2], np.nan) for k in ("rhat", "ess_bulk", "ess_tail")}
    ds = xr.Dataset({"theta": (("chain", "draw", "param"), theta)})
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rhat"] = az.rhat(ds)["theta"].values
        out["ess_bulk"] = az.ess(ds, method="bulk")["theta"].values
        out["ess_tail"] = az.ess(ds, method="tail")["theta"].values
    return out


def sample_result(problem, method, theta, u, J, accepted, *, nfev, n_failed, nit, seed,
                  stopped=False, rhat_max=1.01, **extra) -> Result:
    """The `Result` of a sampler from its post-burn-in draws.

    Parameters
    ----------
    theta, u : ndarray, shape (n_chain, n_draw, n_param)
        Draws in physical and control space.
    J : ndarray, shape (n_chain, n_draw)
        Cost of each draw (``log_prob = -J``, the log posterior density of theta up to a
        constant).
    accepted : ndarray of bool, shape (n_chain, n_draw)
        Whether the step that produced each draw was accepted.
    """
    names = list(problem.parameter_names)
    n_chain, n_draw = J.shape
    res = SampleResult(method=method, parameter_names=names, seed=seed, nit=nit, nfev=nfev,
                       njev=0, n_failed=n_failed, x0=problem.prior.mean.copy(),
                       samples=theta, samples_u=u, log_prob=-J, accepted=accepted,
                       n_chains=n_chain, n_samples=n_draw, rhat_max=rhat_max, **extra)
    res.attach_transform(problem.prior.transform)
    if n_draw == 0:
        res.update(x=np.full(len(names), np.nan), fun=np.nan, success=False, status=3,
                   message=STATUS[3].format(nit=nit) + "; no draws after burn-in",
                   acceptance_rate=np.zeros(n_chain), history={"cost": np.array([])})
        return res
    res.acceptance_rate = accepted.mean(axis=1)
    flat = theta.reshape(-1, theta.shape[-1])
    res.x = flat.mean(axis=0)
    cov = np.atleast_2d(np.cov(flat, rowvar=False))
    res.posterior_covariance = cov
    res.posterior_std = np.sqrt(np.diag(cov))
    i = np.unravel_index(int(np.argmin(J)), J.shape)
    res.map_x, res.map_fun = theta[i].copy(), float(J[i])
    res.history = {"cost": J.min(axis=0)}
    runs = problem.nrun
    try:                                # J at the posterior mean (one more model run)
        res.fun = float(problem.cost(res.x))
    except ModelError as err:
        log.warning("%s: J at the posterior mean failed: %s", method, err)
        res.fun = np.nan
    res.nfev += problem.nrun - runs
    res.update(sample_diagnostics(theta))
    moved = np.any(u[:, 1:] != u[:, :-1]) or accepted.any()
    if not moved:
        status = 2
    elif stopped:
        status = 3
    elif not np.all(res.rhat < rhat_max):
        status = 1
    else:
        status = 0
    bad = [names[j] for j in np.flatnonzero(~(res.rhat < rhat_max))]
    res.status = status
    res.success = status == 0
    res.message = STATUS[status].format(rhat_max=rhat_max, bad=bad, nit=nit,
                                        worst=float(np.nanmax(res.rhat)) if bad else 0.0)
    return res


def drive_chains(state, executor=None, callback=None, checkpoint=None,
                 pointwise="auto") -> Result:
    """Run a chain state to the end (checkpointed to ``checkpoint``, as `drive`);
    ``callback(state.progress())`` after each generation; then the pointwise
    log-likelihood of the kept draws (``pointwise``: the method option
    ``pointwise_log_likelihood``, `pdaframe.methods.mcmc.pointwise.attach_pointwise`).

    `StopIteration` from the callback stops cleanly (the result has the draws so far).
    """
    from .pointwise import attach_pointwise, pointwise_option
    pointwise = pointwise_option(pointwise, state.name)      # checked before any run
    result = drive(state, executor, callback, checkpoint, report=lambda s: s.progress())
    return attach_pointwise(result, state.problem, executor, pointwise)


class ChainState(EnsembleState):
    """Ask/tell base of the Metropolis-type samplers: ``n_chains`` chains moved together.

    The first `ask` gives the start states; each later one a proposal per chain. `tell`
    takes ``J`` per member (a `Failed` member is a rejected proposal). Subclasses implement
    `_propose` (returning proposals in u and the log Hastings correction) and may use
    `_adapt` (called after each generation).

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Start of every chain (physical space); default a prior draw per chain
        (overdispersed, as R-hat assumes).
    seed : int or None
        Seed of the chains' random numbers (None: drawn).
    n_samples : int
        Draws kept per chain, after burn-in (at least 4, for ArviZ's R-hat and ESS).
    n_chains : int
        Number of chains run side by side (at least 2: R-hat compares chains).
    burn_in : int
        Steps per chain run and discarded before the kept draws.
    rhat_max : float
        The run succeeds (status 0) when the rank-normalised R-hat of every parameter is
        below this.
    """

    name = "mcmc"
    min_chains = 2

    def __init__(self, problem, x0=None, seed=0, n_samples=1000, n_chains=4, burn_in=1000,
                 rhat_max=1.01):
        super().__init__(problem)
        self.seed = _seed(seed)
        self.n_chains = check_int(n_chains, f"{self.name}: n_chains", self.min_chains,
                                   self._chain_reason)
        self.n_samples = check_int(n_samples, f"{self.name}: n_samples", MIN_DRAWS,
                                    "ArviZ's R-hat and ESS need 4 draws per chain")
        self.burn_in = check_int(burn_in, f"{self.name}: burn_in", 0, "draws discarded")
        self.rhat_max = float(rhat_max)
        self.d = problem.n_param
        self.space = problem.space
        self._fitness = Fitness(problem)
        self.generation = 0          # completed Metropolis steps
        self.n_gen = self.burn_in + self.n_samples
        N, S, d = self.n_chains, self.n_samples, self.d
        self.draw_u = np.empty((N, S, d))
        self.draw_theta = np.empty((N, S, d))
        self.draw_J = np.empty((N, S))
        self.draw_acc = np.zeros((N, S), dtype=bool)
        self.n_accepted = 0
        self.stopped = False
        self._x0 = x0
        self._pending = None

    _chain_reason = "R-hat compares at least 2 chains"

    def evaluate(self, theta):
        return self._fitness(theta)

    def _logp(self, u, J):
        return -np.inf if not np.isfinite(J) else -J + log_jacobian(self.space, u)

    def ask(self) -> np.ndarray:
        if self.iteration == 0:
            u, corr = self._initial_u(), np.zeros(self.n_chains)
        else:
            u, corr = self._propose()
        self._pending = (u, corr, np.array([self.space.to_theta(x) for x in u]))
        return self._pending[2].copy()

    def tell(self, results) -> None:
        u, corr, theta = self._pending
        J = np.array(filled(self._receive(results, len(u), self.name), np.inf, float))
        lp = np.array([self._logp(x, j) for x, j in zip(u, J)])
        if self.iteration == 1:                      # the start states
            self.u, self.theta, self.J, self.lp = u, theta, J, lp
            if not np.isfinite(lp).any():
                log.warning("%s: no start state has a finite posterior density", self.name)
            return
        acc = metropolis_accept(self.lp, lp, np.log(self._uniforms()), corr)
        u_old = self.u.copy()
        self.u = np.where(acc[:, None], u, self.u)
        self.theta = np.where(acc[:, None], theta, self.theta)
        self.J = np.where(acc, J, self.J)
        self.lp = np.where(acc, lp, self.lp)
        self._adapt(acc, u_old)
        k = self.generation - self.burn_in
        if k >= 0:
            self.draw_u[:, k], self.draw_theta[:, k] = self.u, self.theta
            self.draw_J[:, k], self.draw_acc[:, k] = self.J, acc
            self.n_accepted += int(acc.sum())
        self.generation += 1
        if self.generation >= self.n_gen:
            self.done = True

    def stop(self) -> None:
        self.stopped = True
        self.done = True

    def progress(self) -> Result:
        """Cheap intermediate result: current states, their costs, draws so far, and the
        number of generations of the whole run (``total``, for a progress bar's ETA)."""
        return Result(nit=self.generation, nfev=self.nfev, x=self.theta.mean(axis=0),
                      fun=float(np.min(self.J)), chains=self.theta.copy(),
                      burn_in=self.generation < self.burn_in, total=self.n_gen)

    def result(self) -> Result:
        k = max(self.generation - self.burn_in, 0)
        return sample_result(
            self.problem, self.name, self.draw_theta[:, :k], self.draw_u[:, :k],
            self.draw_J[:, :k], self.draw_acc[:, :k], nfev=self.nfev,
            n_failed=self.n_failed, nit=self.generation, seed=self.seed,
            stopped=self.stopped, rhat_max=self.rhat_max, burn_in=self.burn_in,
            **self._extra())

    def _extra(self) -> dict:
        return {}

    def _initial_u(self):
        raise NotImplementedError

    def _propose(self):
        raise NotImplementedError

    def _uniforms(self):
        raise NotImplementedError

    def _adapt(self, accepted, u_old):
        pass
