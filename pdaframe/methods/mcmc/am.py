"""Adaptive Metropolis (Haario, Saksman & Tamminen 2001): `AMState` and its method."""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...parallel import member_rng
from ...result import Result
from .chains import ChainState, _start_u, drive_chains


class AMState(ChainState):
    """Adaptive Metropolis (Haario et al. 2001), independent chains, adapted in burn-in.

    Chain ``c`` draws all its random numbers from ``member_rng(seed, c)``. Its proposal is
    ``N(X, C)`` with ``C = C_0`` for the first ``t0`` steps, then ``s_d (Cov(X_0..X_t) +
    eps I)``, ``s_d = 2.4^2/d``; the covariance (of every state, repeats included) is
    updated recursively during burn-in and frozen afterwards, so the kept draws are a plain
    Metropolis chain.

    Parameters
    ----------
    problem, x0, seed, n_samples, n_chains, burn_in, rhat_max
        As `ChainState`.
    t0 : int, optional
        Steps proposed with ``C_0`` before the covariance adapts (default ``min(200,
        burn_in // 2)``).
    eps : float
        Jitter ``eps I`` added to the adapted covariance, in control space (squared prior
        standard deviations).
    init_scale : float
        Relative size of the first proposal: ``C_0 = s_d init_scale^2 I`` in control space.
    cov0 : array_like, shape (n_param, n_param), optional
        The first proposal covariance ``C_0`` in control space (instead of ``init_scale``).
    sd : float, optional
        Scale ``s_d`` of the adapted covariance (default ``2.4^2 / n_param``).
    """

    name = "adaptive-metropolis"

    def __init__(self, problem, x0=None, seed=0, n_samples=1000, n_chains=4, burn_in=1000,
                 rhat_max=1.01, t0=None, eps=1e-6, init_scale=0.1, cov0=None, sd=None):
        super().__init__(problem, x0, seed, n_samples, n_chains, burn_in, rhat_max)
        d = self.d
        self.sd = 2.4 ** 2 / d if sd is None else float(sd)
        self.eps = float(eps)
        self.t0 = min(200, self.burn_in // 2) if t0 is None else int(t0)
        c0 = self.sd * init_scale ** 2 * np.eye(d) if cov0 is None else \
            np.asarray(cov0, dtype=float).reshape(d, d)
        self.rngs = [member_rng(self.seed, c) for c in range(self.n_chains)]
        chol0 = self._chol(c0)
        self.chol = [chol0.copy() for _ in range(self.n_chains)]
        self.mean = np.zeros((self.n_chains, d))
        self.m2 = np.zeros((self.n_chains, d, d))
        self.count = 0

    def _chol(self, cov):
        jitter = 0.0
        for _ in range(8):
            try:
                return np.linalg.cholesky(cov + jitter * np.eye(self.d))
            except np.linalg.LinAlgError:
                jitter = max(10 * jitter, self.eps)
        raise ConfigError(f"{self.name}: proposal covariance is not positive definite even "
                          f"with jitter {jitter}: {cov!r}")

    def _initial_u(self):
        u = _start_u(self.problem, self._x0, self.n_chains, self.rngs, self.name)
        self._record(u)
        return u

    def _record(self, u):
        """Welford update of each chain's mean and sum of squared deviations."""
        self.count += 1
        delta = u - self.mean
        self.mean += delta / self.count
        self.m2 += delta[:, :, None] * (u - self.mean)[:, None, :]

    def _propose(self):
        z = np.array([rng.standard_normal(self.d) for rng in self.rngs])
        return self.u + np.einsum("cij,cj->ci", np.array(self.chol), z), np.zeros(self.n_chains)

    def _uniforms(self):
        return np.array([rng.random() for rng in self.rngs])

    def _adapt(self, accepted, u_old):
        if self.generation >= self.burn_in:               # frozen after burn-in
            return
        self._record(self.u)
        if self.generation + 1 >= self.t0 and self.count > 1:
            for c in range(self.n_chains):
                cov = self.m2[c] / (self.count - 1)
                self.chol[c] = self._chol(self.sd * (cov + self.eps * np.eye(self.d)))

    def _extra(self):
        return {"proposal_covariance_u": np.array([c @ c.T for c in self.chol])}


def adaptive_metropolis(problem, x0=None, callback=None, executor=None, seed=0,
                        n_samples=2000, n_chains=4, burn_in=2000, checkpoint=None,
                        pointwise_log_likelihood="auto", **options) -> Result:
    """Adaptive Metropolis (Haario et al. 2001) in the control space, chains in parallel.

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Start of every chain (physical); default one prior draw per chain (overdispersed,
        as R-hat assumes).
    callback : callable, optional
        ``callback(progress)`` after each generation (one step of every chain);
        `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates the chains' proposals of a generation (ordered ``map``).
    seed : int
        Chain ``c`` uses ``member_rng(seed, c)``: results do not depend on the executor.
    n_samples, n_chains, burn_in
        As `ChainState` (defaults here 2000, 4, 2000). Model runs:
        ``n_chains * (burn_in + n_samples + 1) + 1``, plus the reruns of the pointwise
        log-likelihood (below).
    pointwise_log_likelihood : bool or str
        Keep the pointwise log-likelihood of every kept draw (``log_likelihood`` of the
        result, the ArviZ ``log_likelihood`` group of samples.nc; for WAIC and PSIS-LOO,
        `pdaframe.analysis.model_selection`), recomputed at the kept draws after sampling
        (`pdaframe.methods.mcmc.pointwise`): ``"auto"`` (default) when chains x draws x
        observations is at most 2e7, true always, false never.
    **options
        `AMState`'s ``t0``, ``eps``, ``init_scale``, ``cov0``, ``sd`` and `ChainState`'s
        ``rhat_max``.

    Returns
    -------
    Result
        ``x`` posterior mean (theta), ``fun`` ``J(x)``, ``samples`` ``(chain, draw, param)``
        in theta, ``samples_u`` in u, ``log_prob`` (``-J``), ``accepted``,
        ``acceptance_rate`` per chain, ``rhat``, ``ess_bulk``, ``ess_tail``,
        ``posterior_covariance`` (of the samples), ``map_x``/``map_fun`` (best draw),
        ``nfev``; ``success`` when every R-hat is below ``rhat_max``; ``log_likelihood``
        ``{stream: (chain, draw, n_valid)}``, ``log_likelihood_observed`` and
        ``n_pointwise_runs`` (see ``pointwise_log_likelihood``).
    """
    state = AMState(problem, x0=x0, seed=seed, n_samples=n_samples, n_chains=n_chains,
                    burn_in=burn_in, **options)
    return drive_chains(state, executor, callback, checkpoint, pointwise_log_likelihood)
