"""MCMC samplers: adaptive Metropolis, DREAM(ZS) and emcee's affine-invariant ensemble.

All three move in the unbounded control space ``u`` of `pdaframe.problem.single.ControlSpace`
(``theta = T(phi_b + S u)``), so every draw respects the bounds, with the log target

    log p(u) = -J(theta(u)) + log|d theta / d phi|(phi_b + S u) + log|det S|

(the transform's log-det plus a constant): the density of ``theta`` is ``exp(-J)``, exactly.
Samples are returned in ``theta`` (physical) and ``u``.

Adaptive Metropolis and DREAM(ZS) are ask/tell states (`pdaframe.methods.ensemble`): one
generation asks one proposal per chain, the executor evaluates ``J`` of all chains at once
(so chains spread over MPI ranks), and only this process touches the chains and the random
numbers. emcee is driven through its ``pool`` hook with our executor.

References: Haario, Saksman & Tamminen (2001) Bernoulli 7:223; ter Braak & Vrugt (2008)
Stat. Comput. 18:435; Vrugt (2016) Env. Model. Softw. 75:273; Method notes §4–§5.
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import ConfigError, ModelError, check_int
from ..parallel import Failed, first_failure, member_rng, with_members
from ..result import Result
from .ensemble import EnsembleState, drive
from .search.shared import Fitness, _seed

log = logging.getLogger(__name__)

STATUS = {0: "sampling finished; every R-hat below {rhat_max}",
          1: "sampling finished but not converged: R-hat of {bad} is {worst:.3f} (>= {rhat_max})",
          2: "every proposal was rejected: the chains never moved (check the start, the "
             "proposal scale and that the model runs)",
          3: "stopped by the callback after {nit} generations"}
MIN_DRAWS = 4          # ArviZ's ESS/R-hat need at least 4 draws per chain


# --- shared pieces -------------------------------------------------------------------------

def log_jacobian(space, u) -> float:
    """``log|d theta / d u|`` at ``u``: the transform's log-det plus ``log|det S|``."""
    phi = space.phi_b + space.scale @ np.asarray(u, dtype=float)
    return space.transform.log_det_jacobian(phi) + float(
        np.sum(np.log(np.abs(np.diag(space.scale)))))


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
        x0 = np.asarray(x0, dtype=float).reshape(-1)
        if x0.size != problem.n_param:
            raise ConfigError(f"{method}: x0 has {x0.size} values for {problem.n_param} "
                              f"parameters {problem.parameter_names}")
        return np.tile(space.to_u(x0), (n_chains, 1))
    return np.array([space.to_u(problem.prior.sample(1, rng)[0]) for rng in rngs])


def sample_diagnostics(theta) -> dict[str, np.ndarray]:
    """Rank-normalised ``rhat``, ``ess_bulk`` and ``ess_tail`` per parameter (ArviZ).

    Parameters
    ----------
    theta : ndarray, shape (n_chain, n_draw, n_param)
    """
    import arviz as az
    import xarray as xr
    ds = xr.Dataset({"theta": (("chain", "draw", "param"), np.asarray(theta, dtype=float))})
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
    res = Result(method=method, parameter_names=names, seed=seed, nit=nit, nfev=nfev,
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
    res.update(sample_diagnostics(theta) if n_chain > 1 and n_draw >= MIN_DRAWS else
               {k: np.full(len(names), np.nan) for k in ("rhat", "ess_bulk", "ess_tail")})
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


def drive_chains(state, executor=None, callback=None) -> Result:
    """Run a chain state to the end; ``callback(state.progress())`` after each generation.

    `StopIteration` from the callback stops cleanly (the result has the draws so far).
    """
    return drive(state, executor, callback, report=lambda s: s.progress())


class ChainState(EnsembleState):
    """Ask/tell base of the Metropolis-type samplers: ``n_chains`` chains moved together.

    The first `ask` gives the start states; each later one a proposal per chain. `tell`
    takes ``J`` per member (a `Failed` member is a rejected proposal). Subclasses implement
    `_propose` (returning proposals in u and the log Hastings correction) and may use
    `_adapt` (called after each generation).
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
        if len(results) != len(u):
            raise ValueError(f"{self.name}: tell() got {len(results)} results for {len(u)}")
        self._count(results)
        J = np.array([np.inf if isinstance(r, Failed) else float(r) for r in results])
        lp = np.array([self._logp(x, j) for x, j in zip(u, J)])
        if self.iteration == 1:                      # the start states
            self.u, self.theta, self.J, self.lp = u, theta, J, lp
            if not np.isfinite(lp).any():
                log.warning("%s: no start state has a finite posterior density", self.name)
            return
        with np.errstate(invalid="ignore"):
            log_alpha = lp - self.lp + corr
        log_alpha = np.where(np.isnan(log_alpha), -np.inf, log_alpha)
        acc = np.log(self._uniforms()) < log_alpha
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


# --- adaptive Metropolis -------------------------------------------------------------------

class AMState(ChainState):
    """Adaptive Metropolis (Haario et al. 2001), independent chains, adapted in burn-in.

    Chain ``c`` draws all its random numbers from ``member_rng(seed, c)``. Its proposal is
    ``N(X, C)`` with ``C = C_0`` for the first ``t0`` steps, then ``s_d (Cov(X_0..X_t) +
    eps I)``, ``s_d = 2.4^2/d``; the covariance (of every state, repeats included) is
    updated recursively during burn-in and frozen afterwards, so the kept draws are a plain
    Metropolis chain.
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


# --- DREAM(ZS) -----------------------------------------------------------------------------

class DreamZSState(ChainState):
    """DREAM(ZS) (ter Braak & Vrugt 2008; Vrugt 2016), as in Method notes §5.

    Proposals difference rows of an archive ``Z`` (``m0`` prior draws, then the chains'
    states every ``k`` generations): parallel-direction jumps with randomised subspace
    (crossover ``CR`` adapted during burn-in) and mode jumps (``gamma = 1``), or snooker
    jumps with their ``(|X_p - Z_c| / |X - Z_c|)^(d-1)`` correction. One generator
    (``default_rng(seed)``) drives every decision. The control space is unbounded, so no
    reflection or folding is needed and the proposal stays symmetric.

    ``p_CR`` is adapted (burn-in only) once every ``CR_m`` has had an accepted jump
    (PyDREAM's rule; adapting earlier sets the other ``p_m`` to 0 for good). With
    ``reset_archive`` (default) the archive is cut back at the end of burn-in to the states
    of burn-in's second half (at least the ``m0`` newest rows), so the draws come from
    DREAM(ZS) started with an archive of (near-)posterior states: DREAM-Suite and PyDREAM
    keep the prior draws and the early burn-in states in ``Z`` for good, and any difference
    of rows that includes one of them is a jump far too long (on HYMOD the acceptance rate
    after burn-in went from ~0.10 to ~0.24, ESS per run x2.7; d=10 Gaussian ESS x1.7).
    ``reset_archive=False`` gives the reference behaviour.
    """

    name = "dream-zs"

    def __init__(self, problem, x0=None, seed=0, n_samples=1000, n_chains=3, burn_in=1000,
                 rhat_max=1.01, delta=3, n_cr=3, c=0.05, c_star=1e-12, p_gamma1=0.2, k=10,
                 p_snooker=0.1, m0=None, adapt_cr=True, reset_archive=True):
        super().__init__(problem, x0, seed, n_samples, n_chains, burn_in, rhat_max)
        N, d = self.n_chains, self.d
        self.delta = check_int(delta, f"{self.name}: delta", 1, "pairs per jump")
        self.n_cr = check_int(n_cr, f"{self.name}: n_cr", 1, "crossover values")
        self.k = check_int(k, f"{self.name}: k", 1, "archive update interval")
        self.c, self.c_star = float(c), float(c_star)
        self.p_gamma1, self.p_snooker = float(p_gamma1), float(p_snooker)
        self.m0 = max(10 * d, 3 * N, 2 * self.delta * N) if m0 is None else int(m0)
        need = max(2 * self.delta, 3)
        if self.m0 < need:
            raise ConfigError(f"{self.name}: archive m0 = {self.m0}: at least {need} prior "
                              f"draws needed (2*delta for a jump, 3 for snooker)")
        self.rng = np.random.default_rng(self.seed)
        cap = self.m0 + N * (self.n_gen // self.k + 1)
        self.Z = np.empty((cap, d))
        theta = problem.prior.sample(self.m0, self.rng)
        self.Z[:self.m0] = [self.space.to_u(t) for t in theta]
        self.nz = self.m0
        self.cr_values = np.arange(1, self.n_cr + 1) / self.n_cr
        self.p_cr = np.full(self.n_cr, 1.0 / self.n_cr)
        self.cr_delta = np.zeros(self.n_cr)
        self.cr_count = np.zeros(self.n_cr)
        self.adapt_cr = bool(adapt_cr)
        self.reset_archive = bool(reset_archive)
        self._cr_used = None
        self.n_snooker = 0

    _chain_reason = "R-hat compares chains and CR adaptation needs their spread"

    def _initial_u(self):
        return _start_u(self.problem, self._x0, self.n_chains,
                        [self.rng] * self.n_chains, self.name)

    def _uniforms(self):
        return self.rng.random(self.n_chains)

    def _propose(self):
        N, d, rng, Z = self.n_chains, self.d, self.rng, self.Z[:self.nz]
        prop = self.u.copy()
        corr = np.zeros(N)
        used = np.full(N, -1)               # CR index per chain (-1: snooker or gamma = 1)
        for i in range(N):
            lam = rng.uniform(-self.c, self.c, d)
            zeta = self.c_star * rng.standard_normal(d)
            if rng.random() < self.p_snooker:
                self.n_snooker += 1
                a, b, cc = rng.choice(self.nz, 3, replace=False)
                F = self.u[i] - Z[cc]
                ff = float(F @ F)
                zp = F * (float((Z[a] - Z[b]) @ F) / ff) if ff > 0 else np.zeros(d)
                prop[i] = self.u[i] + (1 + lam) * rng.uniform(1.2, 2.2) * zp + zeta
                with np.errstate(divide="ignore"):
                    corr[i] = (d - 1) * (np.log(np.linalg.norm(prop[i] - Z[cc]))
                                         - np.log(np.sqrt(ff)))
                continue
            dl = int(rng.integers(1, self.delta + 1))
            rows = rng.choice(self.nz, 2 * dl, replace=False)
            diff = (Z[rows[:dl]] - Z[rows[dl:]]).sum(axis=0)
            m = int(rng.choice(self.n_cr, p=self.p_cr))
            A = rng.random(d) < self.cr_values[m]
            if not A.any():                              # never a null move
                A[rng.integers(d)] = True
            if rng.random() < self.p_gamma1:
                A[:], gamma = True, 1.0
            else:
                gamma = 2.38 / np.sqrt(2 * dl * A.sum())
                used[i] = m
            prop[i, A] = self.u[i, A] + (1 + lam[A]) * gamma * diff[A] + zeta[A]
        self._cr_used = used
        return prop, corr

    def _adapt(self, accepted, u_old):
        t = self.generation
        if self.adapt_cr and t < self.burn_in:
            sd = np.std(u_old, axis=0, ddof=1)
            if np.all(sd > 0):
                jump = (((self.u - u_old) / sd) ** 2).sum(axis=1)
                for i, m in enumerate(self._cr_used):
                    if m >= 0:
                        self.cr_delta[m] += jump[i]
                        self.cr_count[m] += 1
                # PyDREAM's rule: leave p_CR alone until every CR_m has had a successful
                # jump, else the first accepted move sets the others' p_m = 0 for good
                if np.all(self.cr_delta > 0):
                    rate = self.cr_delta / self.cr_count
                    self.p_cr = rate / rate.sum()
        if (t + 1) % self.k == 0:
            self.Z[self.nz:self.nz + self.n_chains] = self.u
            self.nz += self.n_chains
        if self.reset_archive and t + 1 == self.burn_in:
            # the sampling phase starts from an archive of the states of the second half of
            # burn-in (at least the m0 newest rows): the prior draws and the states from
            # before the chains converged would otherwise stay in Z for good, and a
            # difference of rows that includes one of them is a jump far too long
            keep = min(self.nz, max(self.m0, self.n_chains * (self.burn_in // (2 * self.k))))
            self.Z[:keep] = self.Z[self.nz - keep:self.nz].copy()
            self.nz = keep

    def _extra(self):
        return {"p_cr": self.p_cr.copy(), "archive_size": self.nz,
                "n_snooker": self.n_snooker}


# --- the method functions ------------------------------------------------------------------

def adaptive_metropolis(problem, x0=None, callback=None, executor=None, seed=0,
                        n_samples=2000, n_chains=4, burn_in=2000, **options) -> Result:
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
    n_samples, n_chains, burn_in : int
        Draws kept per chain, chains (at least 2), steps discarded first. Model runs:
        ``n_chains * (burn_in + n_samples + 1) + 1``.
    **options
        ``t0`` (``min(200, burn_in // 2)`` steps with ``C_0``), ``eps`` (1e-6, in u where the
        prior has unit scale), ``init_scale`` (0.1: ``C_0 = s_d init_scale^2 I``), ``cov0``
        (``C_0`` in u instead), ``sd`` (``2.4^2/d``), ``rhat_max`` (1.01).

    Returns
    -------
    Result
        ``x`` posterior mean (theta), ``fun`` ``J(x)``, ``samples`` ``(chain, draw, param)``
        in theta, ``samples_u`` in u, ``log_prob`` (``-J``), ``accepted``,
        ``acceptance_rate`` per chain, ``rhat``, ``ess_bulk``, ``ess_tail``,
        ``posterior_covariance`` (of the samples), ``map_x``/``map_fun`` (best draw),
        ``nfev``; ``success`` when every R-hat is below ``rhat_max``.
    """
    state = AMState(problem, x0=x0, seed=seed, n_samples=n_samples, n_chains=n_chains,
                    burn_in=burn_in, **options)
    return drive_chains(state, executor, callback)


def dream_zs(problem, x0=None, callback=None, executor=None, seed=0, n_samples=2000,
             n_chains=3, burn_in=2000, **options) -> Result:
    """DREAM(ZS) (ter Braak & Vrugt 2008) in the control space, chains in parallel.

    Parameters
    ----------
    problem, x0, callback, executor, seed, n_samples, burn_in
        As `adaptive_metropolis`; one generator ``default_rng(seed)`` here.
    n_chains : int
        Chains (default 3, at least 2).
    **options
        ``delta`` (3), ``n_cr`` (3), ``c`` (0.05), ``c_star`` (1e-12), ``p_gamma1`` (0.2),
        ``k`` (10), ``p_snooker`` (0.1), ``m0`` (``max(10d, 3N, 2 delta N)``),
        ``adapt_cr`` (True, burn-in only), ``reset_archive`` (True: at the end of burn-in
        the archive keeps only the states of burn-in's second half, at least ``m0`` rows;
        False keeps the prior draws and every state, as DREAM-Suite), ``rhat_max`` (1.01).

    Returns
    -------
    Result
        As `adaptive_metropolis`, plus ``p_cr``, ``archive_size``, ``n_snooker``.
    """
    state = DreamZSState(problem, x0=x0, seed=seed, n_samples=n_samples, n_chains=n_chains,
                         burn_in=burn_in, **options)
    return drive_chains(state, executor, callback)


class _Pool:
    """emcee's ``pool``: our executor's ``map`` (walker ``i`` runs as member ``i``,
    `pdaframe.parallel.with_members`), a failed member as ``(-inf, inf)``."""

    def __init__(self, executor, seed=None):
        self.executor = with_members(executor, seed)
        self.nfev = self.n_failed = 0
        self.first_failure = None

    def map(self, func, items):
        items = [np.array(x) for x in items]
        self.nfev += len(items)
        results = self.executor.map(func, items)
        self.n_failed += sum(isinstance(r, Failed) for r in results)
        self.first_failure = self.first_failure or first_failure(results)
        return [(-np.inf, np.inf) if isinstance(r, Failed) else r for r in results]


class EmceeCheckpoint:
    """What a checkpoint of `emcee_sampler` holds (`pdaframe.io.checkpoint`; no problem).

    Attributes
    ----------
    name : str
        "emcee" (the checkpoint header's method).
    iteration : int
        Steps done, burn-in included.
    chain, log_prob, blobs, accepted, random_state
        emcee's in-memory backend after ``iteration`` steps (arrays cut to them); its last
        row and ``random_state`` (after the last step) are the sampler's last `emcee.State`.
    nfev, n_failed : int
        The pool's counters.
    seed : int
        The run's seed (it may have been drawn).
    stopped, done : bool
        A callback stopped the run; the run ended (written at the end).
    """

    name = "emcee"
    _BACKEND = ("chain", "log_prob", "blobs", "accepted", "random_state")

    def __init__(self, seed=0):
        self.iteration, self.seed = 0, seed
        self.chain = self.log_prob = self.blobs = self.accepted = self.random_state = None
        self.nfev = self.n_failed = 0
        self.stopped = self.done = False

    def keep(self, backend, pool, stopped=False, done=False):
        """Copy ``backend`` (its filled rows) and ``pool``'s counters."""
        it = backend.iteration
        self.iteration, self.stopped, self.done = it, stopped, done
        self.nfev, self.n_failed = pool.nfev, pool.n_failed
        for key in self._BACKEND:
            value = getattr(backend, key)
            if key in ("chain", "log_prob", "blobs") and value is not None:
                value = value[:it]
            setattr(self, key, value.copy() if isinstance(value, np.ndarray) else value)

    def restore(self, backend, n_chains, d):
        """Fill an emcee `~emcee.backends.Backend` (and nothing else) with the kept rows."""
        backend.reset(n_chains, d)
        for key in self._BACKEND:
            value = getattr(self, key)
            setattr(backend, key, value.copy() if isinstance(value, np.ndarray) else value)
        backend.iteration = self.iteration


def emcee_sampler(problem, x0=None, callback=None, executor=None, seed=0, n_samples=2000,
                  n_chains=None, burn_in=2000, **options) -> Result:
    """emcee's affine-invariant ensemble sampler in the control space, walkers via ``executor``.

    Parameters
    ----------
    problem, x0, callback, executor, seed, n_samples, burn_in
        As `adaptive_metropolis` (``x0``: walkers start in a ball of radius 1e-3 in u around
        it); emcee's random state is seeded with ``seed``.
    n_chains : int
        Walkers, at least ``2 * n_param`` (emcee's stretch move); default ``max(4 d, 8)``.
    **options
        ``moves`` (emcee moves), ``rhat_max`` (1.01).

    Returns
    -------
    Result
        As `adaptive_metropolis`; chains are walkers (not independent: R-hat is indicative).

    Notes
    -----
    Inside a `pdaframe.io.checkpoint.use_checkpoint` block (``pdaframe run`` with
    ``checkpoint_every = N`` / ``--resume``) an `EmceeCheckpoint` (emcee's backend so far, its
    random state, the counters) is written every N steps and at the end, atomically and on
    MPI rank 0 only. A resumed run continues emcee from the last checkpointed step and gives
    the same chains, bit for bit, as an uninterrupted run.
    """
    import emcee

    from ..io import checkpoint as ckpt
    from ..parallel import is_root
    d = problem.n_param
    n_chains = max(4 * d, 8) if n_chains is None else n_chains
    n_chains = check_int(n_chains, "emcee: n_chains", 2 * d,
                          "emcee's stretch move needs 2 walkers per parameter")
    n_samples = check_int(n_samples, "emcee: n_samples", MIN_DRAWS,
                           "ArviZ's R-hat and ESS need 4 draws per chain")
    burn_in = check_int(burn_in, "emcee: burn_in", 0, "draws discarded")
    rhat_max = options.pop("rhat_max", 1.01)
    cp = ckpt.claim()
    saved = EmceeCheckpoint(_seed(seed))
    if cp is not None and cp.resume:
        ckpt.load_into(saved, cp)
    seed = saved.seed                               # the interrupted run's, when resumed
    rng = np.random.default_rng(seed)
    space = problem.space
    if x0 is not None:
        u0 = _start_u(problem, x0, n_chains, None, "emcee")
        u0 = u0 + 1e-3 * rng.standard_normal(u0.shape)
    else:
        u0 = _start_u(problem, None, n_chains, [rng] * n_chains, "emcee")
    pool = _Pool(executor, seed)
    pool.nfev, pool.n_failed = saved.nfev, saved.n_failed
    backend = emcee.backends.Backend()
    if saved.iteration:
        saved.restore(backend, n_chains, d)
    sampler = emcee.EnsembleSampler(n_chains, d, LogTargetU(problem), pool=pool,
                                    moves=options.pop("moves", None), backend=backend)
    if options:
        raise ConfigError(f"emcee: unknown options {sorted(options)}")
    stopped, nit, total = saved.stopped, saved.iteration, burn_in + n_samples
    if nit:     # the last State: coords, log_prob, blobs and random state of the last step
        start = backend.get_last_sample()
    else:
        start = u0
        sampler.random_state = np.random.RandomState(seed).get_state()

    def save(done=False):
        if cp is not None and is_root():
            saved.keep(backend, pool, stopped, done)
            ckpt.save(saved, cp)

    steps = () if saved.done else sampler.sample(start, iterations=total - nit,
                                                 skip_initial_state_check=nit > 0)
    for _ in steps:
        nit += 1
        if cp is not None and nit % cp.every == 0 and nit < total:
            save()
        if callback is not None:
            try:
                callback(Result(nit=nit, nfev=pool.nfev, burn_in=nit <= burn_in,
                                total=total))
            except StopIteration:
                stopped = True
                break
    save(done=True)
    keep = max(nit - burn_in, 0)
    chain = sampler.get_chain()                     # (step, walker, d)
    u = np.swapaxes(chain[burn_in:nit], 0, 1)
    J = np.swapaxes(sampler.get_blobs()[burn_in:nit], 0, 1).astype(float).reshape(
        n_chains, keep)
    prev = np.concatenate([chain[burn_in - 1:burn_in] if burn_in > 0 else u0[None],
                           chain[burn_in:nit - 1]]) if keep else chain[:0]
    accepted = np.swapaxes(np.any(chain[burn_in:nit] != prev, axis=2), 0, 1)
    theta = np.array([[space.to_theta(x) for x in c] for c in u]).reshape(n_chains, keep, d)
    result = sample_result(problem, "emcee", theta, u, J, accepted, nfev=pool.nfev,
                           n_failed=pool.n_failed, nit=nit, seed=seed, stopped=stopped,
                           rhat_max=rhat_max,
                           burn_in=burn_in,
                           acceptance_fraction_all=np.array(sampler.acceptance_fraction))
    if pool.first_failure:
        result["first_failure"] = pool.first_failure
    return result


# the further options each state declares, and emcee's (`pdaframe.methods.contract`)
adaptive_metropolis.option_sources = (AMState,)
dream_zs.option_sources = (DreamZSState,)
emcee_sampler.option_defaults = {"moves": None, "rhat_max": 1.01}
for _method in (adaptive_metropolis, dream_zs, emcee_sampler):
    _method.option_counts = {"n_samples": (MIN_DRAWS, "ArviZ's R-hat and ESS need 4 draws "
                                                      "per chain"),
                             "n_chains": (2, "chains"), "burn_in": (0, "draws discarded")}

METHODS = {"adaptive-metropolis": adaptive_metropolis, "dream-zs": dream_zs,
           "emcee": emcee_sampler}
