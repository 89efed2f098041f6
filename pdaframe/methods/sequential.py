"""Ensemble smoother with multiple data assimilation (ES-MDA), EnKF and particle filter for
parameters (ask/tell ensemble states; Method notes §7).

Members carry parameters only, in the Problem's control space ``u`` (unbounded,
prior-scaled: `pdaframe.problem.single.ControlSpace`), so every member ``theta = to_theta(u)``
respects the bounds without clipping. The initial members are ``u_i ~ N(0, I)`` drawn from
``member_rng(seed, i)`` (the Problem's Gaussian prior when it has no bounds; its image
through the log/logit transforms otherwise, as in 4DEnVar). Every later random draw of
member ``i`` (observation perturbations, jitter, redraws) comes from the same per-member
stream, and the resampling uniform from a stream keyed by ``(seed, cycle)``: a seed gives
the same bits whatever the executor or the number of MPI ranks.

Observations are whitened stream by stream (``R^-1/2``, with the stream weight; ``R`` is
never inverted), so every update below works with ``R = I`` in whitened space.

ES-MDA (``method="es-mda"``; Emerick & Reynolds 2013)
    For each ``alpha_i`` of ``alphas`` (``sum 1/alpha_i = 1`` is checked, to 1e-3): run all
    members, ``d_j = y + sqrt(alpha_i) R^1/2 z_j`` and
    ``u_j <- u_j + C_uG (C_GG + alpha_i R)^-1 (d_j - G(u_j))``. A single ``alphas=(1,)``
    is the ensemble smoother (one EnKF step).
EnKF (``method="enkf"``; Evensen 2003, Burgers et al. 1998, DAPPER ``EnKF_analysis``
    'PertObs')
    A sequential pass over ``n_cycles`` batches of observation times (the sorted distinct
    times of all valid observations, split into contiguous groups). Cycle ``k`` runs every
    member and updates ``u`` with the observations of batch ``k`` only (perturbed
    observations, centred over the members and rescaled to unit variance). With
    ``inflation = lambda`` the anomalies are multiplied by ``lambda`` before every cycle but
    the first (parameters have no model noise; 1.01–1.1 is usual).
Particle filter (``method="particle-filter"``; DAPPER ``particle.py``; Liu & West 2001)
    The same cycles: ``log w_i += log p(y_k | theta_i)``, normalised with log-sum-exp;
    when ``ESS = 1/sum w^2 < resample_threshold * N`` the particles are resampled
    systematically (`systematic_resample`, ``C_N := 1``), weights reset to ``1/N``, and
    jittered by the Liu–West kernel (`liu_west`; ``delta = 0.98``), which keeps the
    ensemble mean and covariance.

Limitation (what "EnKF on an augmented state" means here)
    The Model interface is ``run(theta)`` over the whole period: there is no restart from a
    saved model state. So each cycle reruns every member from the start over the whole
    run (``N x n_cycles`` model runs) and the model state ``x`` is recomputed, not updated:
    the augmented state ``s = [x; theta]`` is used only through its ``theta`` rows
    (``K_theta = C_theta,y (C_yy + R)^-1``). Parameters are therefore *static*: each run
    uses one ``theta`` for its whole period, and the filters estimate constant parameters
    from batches of observations (with ``inflation`` the estimate follows recent batches
    more, but there is no time-varying ``theta(t)`` within a run). Whitened observations of
    a stream with correlated errors are assigned the time of the raw value at the same
    position; with a lower-triangular whitening and increasing times this stays causal and
    exact.

Failed members (`pdaframe.parallel.Failed`)
    ES-MDA/EnKF update the members that ran and redraw the failed ones from the Gaussian
    fit (mean and covariance) of the updated good members (EKP's ``SampleSuccGauss``),
    counted in ``n_redrawn``; fewer than ``n_param + 1`` good members is a `ModelError`.
    The particle filter gives a failed particle zero weight (its likelihood is unknown);
    resampling then removes it. When every particle has zero weight: `ModelError`.

Each state ends with one run of the final mean (``Result.fun = J(x)``).

References
----------
Emerick, A. A. & Reynolds, A. C. (2013) Comput. Geosci. 55:3. Evensen, G. (2003) Ocean
Dyn. 53:343. Burgers, G. et al. (1998) MWR 126:1719. Liu, J. & West, M. (2001) in Doucet
et al., SMC Methods in Practice, ch. 10. ``nansencenter/DAPPER`` (da_methods/ensemble.py,
particle.py); ``CliMA/EnsembleKalmanProcesses.jl`` (failure handling).

Longer than 500 lines because the three filters share one member state (`_MemberState`:
the members, their runs, failures and whitening) and differ only in a short update each;
about 70 of its lines are this docstring, which specifies the three updates.
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import ConfigError
from ..parallel import Failed, member_rng
from ..result import EnsembleResult, Result
from .ensemble import MeanEnding, drive, failure_error, too_few_error
from .importance import (ObservationWhitener, effective_sample_size, normalise_log_weights,
                         weighted_moments, weighted_quantile)

log = logging.getLogger(__name__)

ROUND_KEY = 2 ** 32 - 1        # spawn-key prefix of per-cycle streams (members use (i,))
TRAJECTORY_QUANTILES = (0.05, 0.5, 0.95)    # of the parameter trajectory (history)


# --- building blocks ---------------------------------------------------------------------------
def check_alphas(alphas, tol=1e-3) -> np.ndarray:
    """ES-MDA inflation factors as an array; ``sum 1/alpha = 1`` (to ``tol``) or `ConfigError`.

    An integer ``N_a`` gives ``N_a`` factors equal to ``N_a``.
    """
    if np.isscalar(alphas) and float(alphas) == int(alphas) and int(alphas) >= 1:
        alphas = [float(int(alphas))] * int(alphas)
    a = np.atleast_1d(np.asarray(alphas, dtype=float))
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a) & (a > 0)):
        raise ConfigError(f"ES-MDA: alphas must be a non-empty list of positive numbers, "
                          f"got {alphas!r}")
    total = float(np.sum(1.0 / a))
    if abs(total - 1.0) > tol:
        raise ConfigError(f"ES-MDA: the inflation factors must satisfy sum(1/alpha) = 1; "
                          f"alphas={a.tolist()} give {total:.6g}. Use e.g. "
                          f"({a.size},)*{a.size} or (9.333, 7, 4, 2)")
    return a


def kalman_increment(U, G, D, alpha=1.0) -> np.ndarray:
    """Stochastic-EnKF increments ``K (D_j - G_j)`` for every member, shape ``(N, n)``.

    Parameters
    ----------
    U : ndarray, shape (N, n)
        Members (control space).
    G : ndarray, shape (N, m)
        Their whitened predictions ``R^-1/2 G(u_j)``.
    D : ndarray, shape (N, m)
        Whitened perturbed observations ``d_j``.
    alpha : float
        Observation-error inflation (``K = C_uG (C_GG + alpha I)^-1``).

    Notes
    -----
    With anomalies ``A = (U - mean)^T / sqrt(N-1)``, ``Y = (G - mean)^T / sqrt(N-1)`` and the
    thin SVD ``Y = W s V^T``: ``K = A Y^T (Y Y^T + alpha I)^-1 = A V diag(s/(s^2+alpha)) W^T``,
    valid for any ``N`` and ``m`` and never forming an ``m x m`` inverse.
    """
    N = U.shape[0]
    A = (U - U.mean(axis=0)).T / np.sqrt(N - 1)
    Y = (G - G.mean(axis=0)).T / np.sqrt(N - 1)
    W, s, Vt = np.linalg.svd(Y, full_matrices=False)
    coef = (s / (s ** 2 + alpha))[:, None] * (W.T @ (D - G).T)        # (r, N)
    return ((A @ Vt.T) @ coef).T


def systematic_resample(weights, u0) -> np.ndarray:
    """Indices of systematic resampling, shape ``(N,)``.

    ``u_k = (u0 + k) / N`` (``u0`` in ``[0, 1)``), ``idx_k = min{i : C_i >= u_k}`` with ``C``
    the cumulative weights and ``C_N := 1``. Particle ``i`` gets ``floor(N w_i)`` or
    ``ceil(N w_i)`` copies.
    """
    w = np.asarray(weights, dtype=float)
    N = w.size
    c = np.cumsum(w)
    c[-1] = 1.0
    return np.minimum(np.searchsorted(c, (u0 + np.arange(N)) / N, side="left"), N - 1)


def liu_west(U, weights, z, delta=0.98) -> np.ndarray:
    """Liu–West kernel: ``u_i ~ N(a u_i + (1 - a) mean, h^2 V)``, shape ``(N, n)``.

    ``a = (3 delta - 1) / (2 delta)``, ``h^2 = 1 - a^2``; ``mean``, ``V`` the weighted
    mean and covariance of ``U``; ``z`` ``(N, n)`` standard normal draws. Mean and
    covariance are preserved (in expectation).
    """
    if not 0 < delta <= 1:
        raise ConfigError(f"Liu–West: delta must be in (0, 1], got {delta}")
    a = (3.0 * delta - 1.0) / (2.0 * delta)
    h = np.sqrt(max(0.0, 1.0 - a * a))
    mean, V = weighted_moments(U, weights)
    lam, Q = np.linalg.eigh(V)
    root = Q * np.sqrt(np.clip(lam, 0.0, None))                      # V = root root^T
    return a * U + (1.0 - a) * mean + h * (z @ root.T)


def time_batches(times, n_cycles) -> list[np.ndarray]:
    """Split observation indices into ``n_cycles`` batches of contiguous distinct times."""
    uniq = np.unique(times)
    if not 1 <= int(n_cycles) <= uniq.size:
        raise ConfigError(f"n_cycles must be between 1 and the {uniq.size} distinct "
                          f"observation times, got {n_cycles}")
    groups = np.array_split(uniq, int(n_cycles))
    return [np.flatnonzero(np.isin(times, g)) for g in groups]


# --- the common state ------------------------------------------------------------------------
class _MemberState(MeanEnding):
    """N members in ``u``, rounds of runs, each followed by `_update`, then a run of the mean.

    What a subclass may change: ``recommended_members`` (fewer log a warning),
    `_initial_u` (the members' start), `_standard_normal` (where every later draw comes
    from) and ``centred_perturbations`` (the observation perturbations of `_kalman` centred
    over the members and rescaled to unit variance, or left as drawn).
    """

    label = "ensemble"
    method = "ensemble"
    mean_name = "final mean"
    recommended_members = 50
    centred_perturbations = True

    def __init__(self, problem, n_members=100, seed=0):
        super().__init__(problem)
        n = problem.n_param
        N = int(n_members)
        self.min_members = n + 1
        if N < self.min_members:
            raise ConfigError(f"{self.label}: n_members must be at least {self.min_members} "
                              f"(n_param + 1 = {n} + 1), got {n_members}; 50-100 or more "
                              f"are recommended")
        if N < self.recommended_members:
            log.warning("%s: %d members; %d-100 or more are recommended", self.label, N,
                        self.recommended_members)
        self.n_members, self.seed = N, seed
        self.space = problem.space
        self.obs = ObservationWhitener(problem)
        self.rngs = [member_rng(seed, i) for i in range(N)]
        self.U = self._initial_u()
        self.U0 = self.U.copy()
        self.log_w = np.zeros(N)
        self.cycle = 0
        self.n_redrawn = 0
        self.x = self.fun = None
        self.hist = {"cost": [], "spread": [], "time": [], "theta_mean": [],
                     "theta_quantiles": []}

    @property
    def n_rounds_planned(self) -> int:
        raise NotImplementedError

    def evaluate(self, theta):
        """Stacked valid equivalents ``G(theta)``, ``(n_obs,)``."""
        return self.problem.observation_vector(theta)

    def _initial_u(self) -> np.ndarray:
        """The members' start ``(N, n_param)`` in ``u``: ``N(0, I)`` draws."""
        return self._standard_normal(range(self.n_members), self.problem.n_param)

    def _standard_normal(self, members, size) -> np.ndarray:
        """Standard-normal draws ``(len(members), size)``, row ``k`` from the stream of
        member ``members[k]``."""
        return np.array([self.rngs[i].standard_normal(size) for i in members])

    def thetas(self, U=None) -> np.ndarray:
        U = self.U if U is None else U
        return np.array([self.space.to_theta(u) for u in U])

    def weights(self) -> np.ndarray:
        return normalise_log_weights(self.log_w)

    def _ask_members(self) -> np.ndarray:
        return self.thetas()

    def _obs_cost(self, result) -> float:
        return self.obs.obs_cost(result)

    def _tell_members(self, results) -> None:
        ok = [i for i, r in enumerate(results) if not isinstance(r, Failed)]
        G = np.full((self.n_members, self.obs.y.size), np.nan)
        for i in ok:
            G[i] = self.obs.whiten(np.asarray(results[i], dtype=float))
        self.hist["cost"].append(float(np.mean([0.5 * np.sum((G[i] - self.obs.y_white) ** 2)
                                                for i in ok])) if ok else np.inf)
        self._update(G, ok, results)
        self.hist["spread"].append(float(np.trace(np.atleast_2d(
            weighted_moments(self.U, self.weights())[1]))))
        thetas, w = self.thetas(), self.weights()       # the parameter trajectory
        self.hist["theta_mean"].append(w @ thetas)
        self.hist["theta_quantiles"].append(weighted_quantile(thetas, w, TRAJECTORY_QUANTILES))
        batches = getattr(self, "batches", None)
        rows = slice(None) if batches is None else batches[self.cycle]
        self.hist["time"].append(float(np.max(self.obs.times[rows])))
        self.cycle += 1
        if self.cycle >= self.n_rounds_planned:       # next round: the final mean
            self.x = weighted_moments(self.thetas(), self.weights())[0]

    def _kalman(self, G, ok, results, rows, alpha):
        """Perturbed-observation update of the good members with observations ``rows``;
        failed members redrawn from the Gaussian fit of the updated good ones."""
        if len(ok) < self.min_members:
            raise too_few_error(f"{self.label} round {self.cycle + 1}", len(ok),
                                self.n_members, self.min_members, results)
        m, k = rows.size, len(ok)
        Z = self._standard_normal(ok, m)
        if self.centred_perturbations:
            Z = (Z - Z.mean(axis=0)) * np.sqrt(k / (k - 1))
        D = self.obs.y_white[rows] + np.sqrt(alpha) * Z
        U = self.U[ok]
        self.U[ok] = U + kalman_increment(U, G[np.ix_(ok, rows)], D, alpha)
        good = set(ok)
        bad = [i for i in range(self.n_members) if i not in good]
        if bad:
            mean, cov = weighted_moments(self.U[ok], np.full(k, 1.0 / k))
            lam, Q = np.linalg.eigh(cov)
            root = Q * np.sqrt(np.clip(lam, 0.0, None))
            for i, z in zip(bad, self._standard_normal(bad, mean.size)):
                self.U[i] = mean + root @ z
            self.n_redrawn += len(bad)
            log.info("%s round %d: %d failed members redrawn from the good members' "
                     "Gaussian fit", self.label, self.cycle + 1, len(bad))

    def _status(self):
        if self.done:
            return 0, True, self._done_message()
        return 2, False, f"stopped after {self.cycle} of {self.n_rounds_planned} rounds"

    def _done_message(self):
        return f"{self.label}: {self.cycle} rounds of {self.n_members} members"

    def result(self) -> Result:
        """Mean, covariance and members of the current ensemble (physical space)."""
        thetas, w = self.thetas(), self.weights()
        mean, cov = weighted_moments(thetas, w)
        status, success, message = self._status()
        out = EnsembleResult(
            x=mean if self.x is None else self.x.copy(),
            fun=self.fun if self.fun is not None else np.nan, success=success,
            status=status, message=message, nit=self.cycle, nfev=self.nfev, njev=0,
            n_failed=self.n_failed, n_redrawn=self.n_redrawn, n_rounds=self.iteration,
            history={key: np.array(v) for key, v in self.hist.items()},
            x0=self.problem.prior.mean.copy(), parameter_names=list(self.problem.parameter_names),
            method=self.method, n_members=self.n_members, seed=self.seed,
            ensemble=self.thetas(self.U0), posterior_ensemble=thetas, weights=w,
            trajectory_quantiles=np.array(TRAJECTORY_QUANTILES),
            posterior_covariance=cov, posterior_std=np.sqrt(np.diag(cov)),
        )
        return out.attach_transform(self.problem.prior.transform)


class ESMDAState(_MemberState):
    """ES-MDA as an ask/tell state (see the module docstring).

    Parameters
    ----------
    problem : Problem
    n_members : int
        Ensemble size ``N`` (at least ``n_param + 1``; default 100).
    seed : int
    alphas : sequence of float or int
        Inflation factors with ``sum 1/alpha = 1`` (default ``(4, 4, 4, 4)``); an integer
        ``N_a`` means ``N_a`` factors ``N_a``.
    """

    label = "ES-MDA"
    method = "es-mda"

    def __init__(self, problem, n_members=100, seed=0, alphas=(4.0, 4.0, 4.0, 4.0)):
        self.alphas = check_alphas(alphas)
        super().__init__(problem, n_members, seed)
        self._rows = np.arange(self.obs.y.size)

    @property
    def n_rounds_planned(self):
        return self.alphas.size

    def _update(self, G, ok, results):
        self._kalman(G, ok, results, self._rows, self.alphas[self.cycle])


class EnKFState(_MemberState):
    """EnKF for static parameters over batches of observation times (module docstring).

    Parameters
    ----------
    problem : Problem
    n_members : int
        Ensemble size (at least ``n_param + 1``; default 100).
    seed : int
    n_cycles : int
        Number of batches of observation times (default 1: one update with all data).
    inflation : float
        Multiplicative anomaly inflation before every cycle but the first (default 1).
    """

    label = "EnKF"
    method = "enkf"

    def __init__(self, problem, n_members=100, seed=0, n_cycles=1, inflation=1.0):
        super().__init__(problem, n_members, seed)
        if not (np.isfinite(inflation) and inflation >= 1.0):
            raise ConfigError(f"EnKF: inflation must be >= 1, got {inflation}")
        self.inflation = float(inflation)
        self.batches = time_batches(self.obs.times, n_cycles)

    @property
    def n_rounds_planned(self):
        return len(self.batches)

    def _update(self, G, ok, results):
        self._kalman(G, ok, results, self.batches[self.cycle], 1.0)
        if self.inflation != 1.0 and self.cycle + 1 < len(self.batches):
            mean = self.U.mean(axis=0)          # inflate the next cycle's forecast
            self.U = mean + self.inflation * (self.U - mean)


class ParticleFilterState(_MemberState):
    """Particle filter for static parameters with systematic resampling and Liu–West jitter.

    Parameters
    ----------
    problem : Problem
    n_members : int
        Number of particles (at least ``n_param + 1``; default 1000).
    seed : int
    n_cycles : int
        Number of batches of observation times (default: one per distinct time).
    resample_threshold : float
        Resample when ``ESS < resample_threshold * N`` (default 0.5; 1 = always).
    delta : float
        Liu–West discount factor in ``(0, 1]`` (default 0.98).
    """

    label = "particle filter"
    method = "particle-filter"

    def __init__(self, problem, n_members=1000, seed=0, n_cycles=None,
                 resample_threshold=0.5, delta=0.98):
        super().__init__(problem, n_members, seed)
        if not 0 <= resample_threshold <= 1:
            raise ConfigError(f"particle filter: resample_threshold must be in [0, 1], "
                              f"got {resample_threshold}")
        if not 0 < delta <= 1:
            raise ConfigError(f"particle filter: delta must be in (0, 1], got {delta}")
        n_cycles = np.unique(self.obs.times).size if n_cycles is None else n_cycles
        self.batches = time_batches(self.obs.times, n_cycles)
        self.resample_threshold, self.delta = float(resample_threshold), float(delta)
        self.n_resampled = 0
        self.hist["ess"] = []

    @property
    def n_rounds_planned(self):
        return len(self.batches)

    def _update(self, G, ok, results):
        rows = self.batches[self.cycle]
        log_lik = np.full(self.n_members, -np.inf)
        for i in ok:
            r = G[i, rows] - self.obs.y_white[rows]
            log_lik[i] = -0.5 * float(r @ r)
        self.log_w = self.log_w + log_lik
        try:
            w = normalise_log_weights(self.log_w)
        except ValueError:
            raise failure_error(f"particle filter cycle {self.cycle + 1}: every particle "
                                f"has zero weight ({self.n_members - len(ok)} failed runs)",
                                results) from None
        ess = effective_sample_size(w)
        self.hist["ess"].append(ess)
        if ess < self.resample_threshold * self.n_members or self.resample_threshold == 1:
            rng = np.random.default_rng(np.random.SeedSequence(self.seed,
                                                               spawn_key=(ROUND_KEY,
                                                                          self.cycle)))
            idx = systematic_resample(w, rng.random())
            U = self.U[idx]
            z = self._standard_normal(range(self.n_members), U.shape[1])
            self.U = liu_west(U, np.full(self.n_members, 1.0 / self.n_members), z,
                              self.delta)
            self.log_w = np.zeros(self.n_members)
            self.n_resampled += 1
        else:
            self.log_w = np.log(w)

    def _done_message(self):
        return (f"particle filter: {self.cycle} cycles, {self.n_resampled} resamplings, "
                f"final ESS {effective_sample_size(self.weights()):.1f} of {self.n_members}")

    def result(self) -> Result:
        out = super().result()
        out.n_resampled = self.n_resampled
        out.ess = effective_sample_size(self.weights())
        return out


def _run(cls, problem, callback, executor, seed, checkpoint, options):
    return drive(cls(problem, seed=seed, **options), executor, callback, checkpoint)


def es_mda(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
           **options) -> Result:
    """ES-MDA estimate and posterior ensemble of ``problem`` (`ESMDAState`).

    Options: ``n_members`` (100), ``alphas`` ((4, 4, 4, 4)). ``x0`` is ignored (the
    ensemble is drawn from the prior).

    Returns
    -------
    Result
        ``x`` (ensemble mean), ``fun`` (``J(x)``, one extra run), ``posterior_covariance``,
        ``posterior_std``, ``ensemble`` (prior members) and ``posterior_ensemble``
        ``(n_member, n_param)``, ``weights`` (uniform), ``n_failed``, ``n_redrawn``,
        ``history`` (``cost``: mean ``J_o`` of the members per round; ``spread``: trace of
        the u-space covariance after each update).
    """
    return _run(ESMDAState, problem, callback, executor, seed, checkpoint, options)


def enkf(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
         **options) -> Result:
    """EnKF for parameters over ``n_cycles`` batches of observations (`EnKFState`).

    Options: ``n_members`` (100), ``n_cycles`` (1), ``inflation`` (1.0). Returns as
    `es_mda`.
    """
    return _run(EnKFState, problem, callback, executor, seed, checkpoint, options)


def particle_filter(problem, x0=None, callback=None, executor=None, seed=0,
                    checkpoint=None, **options) -> Result:
    """Particle filter for static parameters (`ParticleFilterState`).

    Options: ``n_members`` (1000), ``n_cycles`` (one per observation time),
    ``resample_threshold`` (0.5), ``delta`` (0.98). Returns as `es_mda` with weighted
    moments, plus ``weights``, ``ess``, ``n_resampled`` and ``history["ess"]``.
    """
    return _run(ParticleFilterState, problem, callback, executor, seed, checkpoint, options)


# the options each state class declares (`pdaframe.methods.contract`)
for _method, _state in ((es_mda, ESMDAState), (enkf, EnKFState),
                        (particle_filter, ParticleFilterState)):
    _method.option_sources = (_state,)
    _method.uses_x0 = False                    # the ensemble is drawn from the prior
    _method.option_counts = {"n_members": (2, "an ensemble"), "n_cycles": (1, "cycles")}
es_mda.option_counts = {"n_members": (2, "an ensemble")}
es_mda.family = enkf.family = "kalman"
particle_filter.family = "weighting"

METHODS = {"es-mda": es_mda, "enkf": enkf, "particle-filter": particle_filter}
