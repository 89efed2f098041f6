"""Adaptive tempered sequential Monte Carlo (SMC) with the model evidence (``method="smc"``).

The particles move in the Problem's control space ``u`` (as the MCMC samplers,
`pdaframe.methods.mcmc`), where the prior density is ``pi_0(u) = exp(-J_b(theta(u)))
|d theta / d u|``. With the normalised log-likelihood ``l(theta) = log p(y | theta)``
(`Problem.log_likelihood`, constants kept) the tempered targets are

    pi_beta(u) ∝ pi_0(u) exp(beta l(theta(u))),   0 = beta_0 < beta_1 < ... < beta_T = 1.

Stage 0 draws ``N`` particles from the prior (``prior.sample``, so a bounded prior is
truncated exactly as its density says). Stage ``t >= 1`` (Del Moral, Doucet & Jasra 2006;
Jasra et al. 2011; the design of pymc's and BayesianTools' SMC):

1. ``beta_t`` by bisection so that the effective sample size of the incremental weights
   ``w_i = exp((beta_t - beta_{t-1}) l_i)`` is ``ess_target`` times the number of particles
   with a finite likelihood (the particles carry equal weights after resampling, so this
   is the conditional ESS of Zhou, Johansen & Aston 2016); ``beta_t = 1`` once that ESS
   allows it.
2. ``log Z += log mean_i w_i`` (the evidence of the normalised likelihood:
   ``log Z = log ∫ p(theta) p(y | theta) d theta``).
3. Resampling by the normalised ``w``: ``multinomial`` (default: the evidence's standard
   error below needs it) or ``systematic`` (less resampling noise, but no standard error);
   each particle's "Eve" (its ancestor at stage 0) is kept.
4. Random-walk Metropolis moves targeting ``pi_beta_t``: ``u* = u + s L z`` with ``L L^T``
   the weighted covariance of the particles in ``u`` (before resampling) and the scale
   ``s`` starting at ``2.38 / sqrt(d)``. ``n_moves`` fixed, or (default) adaptive: at least
   2 and at most ``max_moves`` moves, stopping once the mean over parameters of
   ``|corr(u_start, u_now)|`` across particles is below ``corr_threshold`` (pymc's rule:
   the particles have decorrelated from where resampling put them). After each stage ``s``
   is adapted from its acceptance rate ``a``: ``s <- s exp(a - target_acceptance)`` (pymc's
   rule; 0.234 by default).

Standard error of ``log Z`` (``log_evidence_se``): the single-run estimator of Lee &
Whiteley (2018, Biometrika 105:609), as used for tempered SMC by Jacob et al.'s
``smcsamplers``: the relative variance of ``Z`` is estimated by
``1 - (N/(N-1))^(T+1) (1 - sum_k (n_k/N)^2)`` with ``n_k`` the number of final particles
whose Eve is ``k``, and ``SE(log Z)`` is its square root (delta method). It holds for
multinomial resampling (its theory; on a 4-parameter linear-Gaussian problem with 500
particles it gave 0.10-0.14 against a spread of 0.13 over seeds); with systematic
resampling it fell to 0.00-0.05 against a spread of 0.18, so ``resampling =
"systematic"`` reports no SE (NaN). It does not see the randomness of the adaptively
chosen temperatures, and it degenerates (towards 1) when all particles descend from few
Eves (too few particles or too many stages).

Determinism: every random draw of particle ``i`` in stage ``t`` (the prior draw at
``t = 0``; proposals and acceptance uniforms later) comes from
``SeedSequence(seed, spawn_key=(SMC_KEY, t, i))``, the resampling uniforms of stage ``t``
from ``(RESAMPLE_KEY, t)``; the model runs go through the executor (one member per
particle). A seed gives the same bits serially and under ``mpiexec -n 2`` or ``-n 3``, and
a run resumed from a checkpoint (after any move round) continues bit for bit.

A failed member (`pdaframe.parallel.Failed`, also any non-finite log-likelihood) has
likelihood 0: a prior particle with zero weight, a rejected proposal. When every prior
particle has it: `ModelError` ("no particle inside the support").
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.special import logsumexp

from ..errors import ConfigError, ModelError, check_int
from ..parallel import Failed
from ..result import Result, SampleResult
from .ensemble import EnsembleState, drive, failure_error
from .importance import effective_sample_size, weighted_moments
from .mcmc.chains import log_jacobian, metropolis_accept
from .search.shared import _seed
from .sequential import systematic_resample

log = logging.getLogger(__name__)

SMC_KEY = 2 ** 32 - 3          # spawn-key prefix of the particles' streams: (SMC_KEY, t, i)
RESAMPLE_KEY = 2 ** 32 - 4     # ... of each stage's resampling stream: (RESAMPLE_KEY, t)
RESAMPLING = ("multinomial", "systematic")
MIN_MOVES = 2                  # adaptive moves: at least this many per stage


def stage_rng(seed, stage, particle) -> np.random.Generator:
    """The random stream of ``particle`` in ``stage``: independent of ranks and executors."""
    return np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(SMC_KEY, int(stage), int(particle))))


def min_particles(d) -> int:
    """Fewest particles `SMCState` accepts for ``d`` parameters: ``2 (d + 1)``, so that
    about ``N/2`` distinct particles after resampling still span the ``d`` dimensions of
    the proposal covariance."""
    return 2 * (d + 1)


def next_temperature(loglik, beta, ess_target, tol=1e-12) -> tuple[float, float]:
    """The next inverse temperature and the ESS of its incremental weights.

    Parameters
    ----------
    loglik : ndarray, shape (N,)
        Log-likelihoods of equally weighted particles (``-inf``: zero weight).
    beta : float
        The current inverse temperature, in ``[0, 1)``.
    ess_target : float
        Wanted ESS as a fraction of the particles with a finite log-likelihood.

    Returns
    -------
    (beta_next, ess) : (float, float)
        ``1`` when its ESS is at least the target, else the ``beta_next`` whose ESS equals
        it, found by bisection on ``beta_next - beta`` to ``tol``.
    """
    finite = np.isfinite(loglik)
    ell = np.where(finite, loglik - np.max(loglik[finite]), -np.inf)
    target = ess_target * np.count_nonzero(finite)

    def ess(delta):
        lw = delta * ell
        lw = np.where(finite, lw, -np.inf)
        w = np.exp(lw - logsumexp(lw))
        return effective_sample_size(w / w.sum())

    if ess(1.0 - beta) >= target:
        return 1.0, ess(1.0 - beta)
    lo, hi = 0.0, 1.0 - beta
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ess(mid) >= target else (lo, mid)
    return beta + lo, ess(lo)


def lee_whiteley_se(eve, n_stages) -> float:
    """Standard error of ``log Z`` from the final particles' Eve indices (Lee & Whiteley
    2018): ``sqrt(1 - (N/(N-1))^(T+1) (1 - sum_k (n_k/N)^2))`` (clipped at 0), with ``T``
    resampling stages and ``n_k`` the particles descended from prior particle ``k``."""
    eve = np.asarray(eve)
    N = eve.size
    share = np.bincount(eve, minlength=N) / N
    rel_var = 1.0 - (N / (N - 1.0)) ** (n_stages + 1) * (1.0 - float(share @ share))
    return float(np.sqrt(max(rel_var, 0.0)))


class SMCState(EnsembleState):
    """Adaptive tempered SMC as an ask/tell state (see the module docstring).

    The first `ask` gives the prior particles; each later one a proposal per particle (one
    Metropolis move of the current stage). `tell` takes ``[log-likelihood, J]`` per member.

    Parameters
    ----------
    problem : Problem
        A Problem with `Problem.log_likelihood` (a `MultiSiteProblem` has none: refused).
    seed : int or None
        Seed of every random draw (None: drawn and recorded).
    n_particles : int
        Number of particles ``N`` (at least ``2 (n_param + 1)``; fewer than
        ``max(100, 10 n_param)`` logs a warning).
    ess_target : float
        Each stage's ESS as a fraction of the particles, in ``(0, 1)`` (0.5 as pymc's).
    n_moves : int, optional
        Metropolis moves per stage; default adaptive (``corr_threshold``, ``max_moves``).
    max_moves : int
        Most adaptive moves per stage.
    corr_threshold : float
        Adaptive moves stop when the mean ``|corr|`` between the particles at the start of
        the moves and now falls below this (pymc: 0.01; 0.05 here).
    target_acceptance : float
        Acceptance rate the proposal scale is adapted towards, stage by stage.
    resampling : {"multinomial", "systematic"}
        Resampling scheme; ``systematic`` gives no standard error of ``log Z`` (NaN).
    max_stages : int
        Most tempering stages; a run that has not reached ``beta = 1`` by then stops
        unsuccessfully (without an evidence).
    """

    name = "smc"

    def __init__(self, problem, seed=0, n_particles=1000, ess_target=0.5, n_moves=None,
                 max_moves=25, corr_threshold=0.05, target_acceptance=0.234,
                 resampling="multinomial", max_stages=200):
        super().__init__(problem)
        if not callable(getattr(problem, "log_likelihood", None)):
            raise ConfigError(f"smc: the {type(problem).__name__} has no log_likelihood "
                              f"(the normalised likelihood the evidence needs); SMC works "
                              f"on a single-site Problem")
        d = self.d = problem.n_param
        self.seed = _seed(seed)
        minimum = min_particles(d)
        self.n_particles = N = check_int(n_particles, "smc: n_particles", minimum,
                                         f"2 (n_param + 1) for {d} parameters: the "
                                         f"proposal covariance needs distinct particles "
                                         f"after resampling")
        if N < max(100, 10 * d):
            log.warning("smc: %d particles for %d parameters; at least %d are recommended "
                        "(the evidence's standard error grows as 1/sqrt(N))", N, d,
                        max(100, 10 * d))
        if not (isinstance(ess_target, (int, float)) and 0 < ess_target < 1):
            raise ConfigError(f"smc: ess_target must be a fraction in (0, 1) (of the "
                              f"particles kept effective per stage), got {ess_target!r}")
        if resampling not in RESAMPLING:
            raise ConfigError(f"smc: resampling {resampling!r} unknown; expected one of "
                              f"{', '.join(RESAMPLING)}")
        if not (isinstance(corr_threshold, (int, float)) and 0 < corr_threshold < 1):
            raise ConfigError(f"smc: corr_threshold must be in (0, 1), got "
                              f"{corr_threshold!r}")
        if not (isinstance(target_acceptance, (int, float)) and 0 < target_acceptance < 1):
            raise ConfigError(f"smc: target_acceptance must be in (0, 1), got "
                              f"{target_acceptance!r}")
        self.ess_target, self.resampling = float(ess_target), resampling
        self.n_moves = None if n_moves is None else check_int(n_moves, "smc: n_moves", 1,
                                                              "moves per stage")
        self.max_moves = check_int(max_moves, "smc: max_moves", MIN_MOVES, "moves per stage")
        self.max_stages = check_int(max_stages, "smc: max_stages", 1, "tempering stages")
        self.corr_threshold = float(corr_threshold)
        self.target_acceptance = float(target_acceptance)
        self.space = problem.space
        self.scale = 2.38 / np.sqrt(d)
        self.stage, self.beta, self.log_z = 0, 0.0, 0.0
        self.eve = np.arange(N)
        self.rngs = [stage_rng(self.seed, 0, i) for i in range(N)]
        theta = np.array([problem.prior.sample(1, r)[0] for r in self.rngs])
        self.u = np.array([self.space.to_u(t) for t in theta])
        self.theta = np.array([self.space.to_theta(x) for x in self.u])
        self.ell = self.J = self.lp0 = None
        self.root = self.u_start = self._pending = None
        self.move = 0                     # moves done in the current stage
        self.accepted = np.zeros(N, dtype=bool)
        self.n_acc_stage = 0
        self.stopped = False
        self.hist = {k: [] for k in ("beta", "log_z_increment", "ess", "acceptance",
                                     "n_moves", "scale", "correlation", "cost")}

    # --- the member ------------------------------------------------------------------------
    def evaluate(self, theta):
        """``[log p(y | theta), J(theta)]`` (one model run: the Problem caches it)."""
        return np.array([self.problem.log_likelihood(theta), self.problem.cost(theta)])

    def _values(self, results):
        """``(log-likelihoods, costs)`` of a round; a failed member as ``(-inf, inf)``."""
        ell = np.array([-np.inf if isinstance(r, Failed) else float(r[0]) for r in results])
        J = np.array([np.inf if isinstance(r, Failed) else float(r[1]) for r in results])
        return ell, J

    def _log_prior(self, u, theta) -> np.ndarray:
        """``log pi_0(u)`` (up to a constant) of each row."""
        return np.array([-self.problem.prior.cost(t) + log_jacobian(self.space, x)
                         for x, t in zip(u, theta)])

    # --- ask/tell --------------------------------------------------------------------------
    def ask(self) -> np.ndarray:
        if self.iteration == 0:
            return self.theta.copy()
        z = np.array([r.standard_normal(self.d) for r in self.rngs])
        u = self.u + z @ self.root.T
        self._pending = (u, np.array([self.space.to_theta(x) for x in u]))
        return self._pending[1].copy()

    def tell(self, results) -> None:
        results = self._receive(results, self.n_particles, self.name)
        ell, J = self._values(results)
        if self.iteration == 1:                       # the prior particles
            if not np.isfinite(ell).any():
                raise failure_error(
                    f"smc: no particle inside the support: the log-likelihood is -inf (or "
                    f"the run failed) at all {self.n_particles} prior particles", results)
            self.ell, self.J = ell, J
            self.lp0 = self._log_prior(self.u, self.theta)
            self._next_stage()
            return
        u, theta = self._pending
        lp0 = self._log_prior(u, theta)
        with np.errstate(invalid="ignore"):
            new, old = lp0 + self.beta * ell, self.lp0 + self.beta * self.ell
        acc = metropolis_accept(old, new, np.log([r.random() for r in self.rngs]))
        acc &= np.isfinite(ell)
        self.u = np.where(acc[:, None], u, self.u)
        self.theta = np.where(acc[:, None], theta, self.theta)
        self.ell, self.J, self.lp0 = (np.where(acc, a, b) for a, b in
                                      ((ell, self.ell), (J, self.J), (lp0, self.lp0)))
        self.accepted = acc
        self.n_acc_stage += int(acc.sum())
        self.move += 1
        if self._stage_done():
            self._end_stage()

    def _stage_done(self) -> bool:
        if self.n_moves is not None:
            return self.move >= self.n_moves
        if self.move >= self.max_moves:
            return True
        return self.move >= MIN_MOVES and self._correlation() < self.corr_threshold

    def _correlation(self) -> float:
        """Mean over parameters of ``|corr|`` between the particles at the start of the
        stage's moves and now (0 for a parameter that does not vary)."""
        a = self.u_start - self.u_start.mean(axis=0)
        b = self.u - self.u.mean(axis=0)
        den = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(den > 0, np.sum(a * b, axis=0) / den, 0.0)
        return float(np.mean(np.abs(r)))

    def _end_stage(self):
        rate = self.n_acc_stage / (self.move * self.n_particles)
        h = self.hist
        h["acceptance"].append(rate)
        h["n_moves"].append(self.move)
        h["scale"].append(self.scale)
        h["correlation"].append(self._correlation())
        h["cost"].append(float(np.min(self.J)))
        self.scale *= float(np.exp(rate - self.target_acceptance))
        if self.beta >= 1.0:
            self.done = True
        elif self.stage >= self.max_stages:
            log.warning("smc: beta = %.3g after max_stages = %d stages: stopped without the "
                        "evidence", self.beta, self.max_stages)
            self.stopped = self.done = True
        else:
            self._next_stage()

    def _next_stage(self):
        """Temperature, evidence increment, resampling and the proposal of a new stage."""
        self.stage += 1
        beta, ess = next_temperature(self.ell, self.beta, self.ess_target)
        finite = np.isfinite(self.ell)
        lw = np.where(finite, (beta - self.beta) * np.where(finite, self.ell, 0.0), -np.inf)
        self.log_z += float(logsumexp(lw) - np.log(self.n_particles))
        w = np.exp(lw - logsumexp(lw))
        w /= w.sum()
        self.hist["beta"].append(beta)
        self.hist["log_z_increment"].append(float(logsumexp(lw) - np.log(self.n_particles)))
        self.hist["ess"].append(ess)
        cov = weighted_moments(self.u, w)[1]
        lam, Q = np.linalg.eigh(np.atleast_2d(cov))
        floor = max(1e-12 * float(np.max(lam, initial=0.0)), 1e-12)
        self.root = self.scale * Q * np.sqrt(np.clip(lam, floor, None))
        rng = np.random.default_rng(np.random.SeedSequence(
            self.seed, spawn_key=(RESAMPLE_KEY, self.stage)))
        if self.resampling == "systematic":
            idx = systematic_resample(w, rng.random())
        else:
            idx = np.sort(rng.choice(self.n_particles, self.n_particles, p=w))
        self.beta = beta
        self.eve = self.eve[idx]
        for name in ("u", "theta", "ell", "J", "lp0"):
            setattr(self, name, getattr(self, name)[idx].copy())
        self.u_start = self.u.copy()
        self.rngs = [stage_rng(self.seed, self.stage, i) for i in range(self.n_particles)]
        self.move = self.n_acc_stage = 0

    def stop(self) -> None:
        self.stopped = True
        self.done = True

    # --- results ---------------------------------------------------------------------------
    def progress(self) -> Result:
        """Cheap intermediate result: stage, temperature and the evidence so far."""
        return Result(nit=self.stage, nfev=self.nfev, beta=self.beta, log_evidence=self.log_z,
                      x=self.theta.mean(axis=0), fun=float(np.min(self.J))
                      if self.J is not None else None)

    def result(self) -> Result:
        names = list(self.problem.parameter_names)
        N = self.n_particles
        complete = self.beta >= 1.0 and not self.stopped
        cov = np.atleast_2d(np.cov(self.theta, rowvar=False))
        log_z = self.log_z if complete else np.nan
        se = lee_whiteley_se(self.eve, self.stage) if complete and \
            self.resampling == "multinomial" else np.nan
        n_eve = int(np.unique(self.eve).size)
        stats = {k: np.asarray(v, dtype=float) for k, v in self.hist.items() if k != "cost"}
        n = min(len(v) for v in stats.values()) if stats else 0
        stats = {k: v[:n] for k, v in stats.items()}
        if complete:
            msg = (f"smc: {self.stage} stages, log Z = {log_z:.6g} ± {se:.2g} (Lee–Whiteley "
                   f"SE; {n_eve} of {N} Eves left)" if np.isfinite(se) else
                   f"smc: {self.stage} stages, log Z = {log_z:.6g} (no SE with {self.resampling} "
                   f"resampling)")
        else:
            msg = f"smc: stopped at beta = {self.beta:.4g} after {self.stage} stages; no evidence"
        res = SampleResult(
            method=self.name, parameter_names=names, seed=self.seed, nit=self.stage,
            nfev=self.nfev, njev=0, n_failed=self.n_failed, x0=self.problem.prior.mean.copy(),
            samples=self.theta[None].copy(), samples_u=self.u[None].copy(),
            log_prob=-self.J[None].copy(), accepted=self.accepted[None].copy(),
            acceptance_rate=np.array([stats["acceptance"][-1] if n else np.nan]),
            n_chains=1, n_samples=N, n_particles=N, x=self.theta.mean(axis=0),
            posterior_covariance=cov, posterior_std=np.sqrt(np.diag(cov)),
            log_evidence=log_z, log_evidence_se=se,
            log_evidence_se_method="lee-whiteley" if np.isfinite(se) else "none",
            n_stages=self.stage, n_eves=n_eve, beta=stats.get("beta", np.array([])),
            stage_stats=stats, resampling=self.resampling, success=complete,
            status=0 if complete else 3, message=msg,
            history={"cost": np.asarray(self.hist["cost"] or [np.nan], dtype=float)})
        i = int(np.argmin(self.J))
        res.map_x, res.map_fun = self.theta[i].copy(), float(self.J[i])
        res.attach_transform(self.problem.prior.transform)
        runs = self.problem.nrun
        try:                                  # J at the posterior mean (one more model run)
            res.fun = float(self.problem.cost(res.x))
        except ModelError as err:
            log.warning("smc: J at the posterior mean failed: %s", err)
            res.fun = np.nan
        res.nfev += self.problem.nrun - runs
        return res


def smc(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
        **options) -> Result:
    """Adaptive tempered SMC: posterior particles and the log evidence (`SMCState`).

    ``x0`` is refused (the particles come from the prior). Options: ``n_particles``
    (1000), ``ess_target`` (0.5), ``n_moves`` (adaptive), ``max_moves`` (25),
    ``corr_threshold`` (0.05), ``target_acceptance`` (0.234), ``resampling``
    ("multinomial"), ``max_stages`` (200). Model runs: ``N`` per move round, plus ``N``
    prior runs and one run of the mean.

    Returns
    -------
    SampleResult
        ``samples`` ``(1, N, n_param)`` (the final, equally weighted particles as one
        chain), ``samples_u``, ``log_prob`` (``-J``), ``x`` (their mean),
        ``posterior_covariance``, ``posterior_std``, ``log_evidence`` (``log Z`` of the
        normalised likelihood) and ``log_evidence_se`` (Lee–Whiteley; NaN with
        systematic resampling), ``n_stages``,
        ``beta`` (the temperatures), ``stage_stats`` (per stage: ``beta``,
        ``log_z_increment``, ``ess``, ``acceptance``, ``n_moves``, ``scale``,
        ``correlation``), ``n_eves``; ``success`` once ``beta = 1`` is reached.
    """
    state = SMCState(problem, seed=seed, **options)
    return drive(state, executor, callback, checkpoint, report=lambda s: s.progress())


smc.option_sources = (SMCState,)
smc.uses_x0 = False                               # the particles come from the prior
smc.option_counts = {"n_particles": (4, "particles"), "max_moves": (MIN_MOVES, "moves"),
                     "max_stages": (1, "stages")}
smc.family = "mcmc"

METHODS = {"smc": smc}
