"""Importance sampling and GLUE (ask/tell ensemble states).

Both draw ``N`` parameter vectors once, run them all (one ask/tell round, in parallel through
the executor), weight them, and run the weighted mean once more for ``Result.fun`` (a second
round of one member).

Importance sampling (``method="importance"``; Method notes §6)
    ``theta_i ~ q``: the prior (default; ``prior.sample`` with ``member_rng(seed, i)``, so
    truncated to the bounds) or a Gaussian proposal ``N(m, C)``. Log-weights
    ``log w_i = log p(y|theta_i) + log p(theta_i) - log q(theta_i)`` with the Gaussian
    likelihood of the Problem, ``log p(y|theta) = -J_o(theta)`` (constants drop out), and
    ``log p(theta) = -J_b(theta)`` (``-inf`` outside the bounds). Weights are normalised
    with log-sum-exp (no underflow), ``ESS = 1 / sum w_i^2`` (Kong 1992). Self-normalised
    estimates are biased ``O(1/N)``; the covariance uses the reliability-weights correction
    ``sum w (theta - mean)(...)^T / (1 - sum w^2)``. ``ESS/N < 0.01`` is flagged in the
    message: prior-proposal IS degenerates as the number of observations or parameters
    grows (Raoult et al. 2025 §2.2); use MCMC/SMC then.
GLUE (``method="glue"``; Beven & Binley 1992; Beven & Freer 2001)
    Prior samples, an *informal* likelihood per stream from the residual variance
    ``s_e^2`` and the observations' variance ``s_o^2`` (valid values), shape ``N_s``:
    ``"nse"`` (default) ``NSE^N_s`` with ``NSE = 1 - s_e^2/s_o^2`` (zero when
    ``NSE <= 0``), ``"inverse_variance"`` ``(s_e^2)^-N_s``, ``"exponential"``
    ``exp(-N_s s_e^2)``, and ``"gaussian"`` (the formal ``exp(-J_o)``: GLUE without a
    threshold then equals importance sampling). Several streams multiply. Behavioural
    runs: every stream's ``NSE >= threshold`` and/or the ``top_fraction`` best likelihoods;
    the others get weight 0, the behavioural ones their normalised likelihood. Prediction
    bounds per stream and time: the weighted quantiles (default 5 % and 95 %) of the
    behavioural runs' equivalents, ``F_t(z) = sum_{yhat_ti <= z} w_i`` interpolated
    (`weighted_quantile`). GLUE bands are not calibrated predictive intervals.

Failed members (`pdaframe.parallel.Failed`) get weight zero and are counted in
``n_failed`` (their likelihood is unknown: the estimate is then conditional on the model
running). When no member keeps a positive weight a `ModelError` is raised (importance
sampling) or a `ConfigError` naming the best NSE (GLUE), never a NaN result.

Determinism: member ``i`` is drawn from ``member_rng(seed, i)``; the result does not
depend on the executor or the number of MPI ranks.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..errors import ConfigError
from ..parallel import Failed, member_rng
from ..prior.priors import cholesky_factor
from ..result import EnsembleResult, Result
from .ensemble import MeanEnding, drive, failure_error, filled

LIKELIHOODS = ("nse", "inverse_variance", "exponential", "gaussian")


# --- weights and weighted statistics ----------------------------------------------------------
def normalise_log_weights(log_w) -> np.ndarray:
    """Normalised weights ``exp(log_w - logsumexp(log_w))``, shape ``(N,)``.

    ``-inf`` (and NaN, treated as ``-inf``) give weight 0. Raises `ValueError` when no
    log-weight is finite.
    """
    log_w = np.asarray(log_w, dtype=float)
    log_w = np.where(np.isnan(log_w) | (log_w == np.inf), -np.inf, log_w)
    if not np.isfinite(log_w).any():
        raise ValueError("no finite log-weight: every weight is zero")
    w = np.exp(log_w - logsumexp(log_w))
    return w / w.sum()


def effective_sample_size(weights) -> float:
    """Kong's ``ESS = 1 / sum w_i^2`` of normalised weights, in ``[1, N]``."""
    w = np.asarray(weights, dtype=float)
    return float(1.0 / np.sum(w ** 2))


def weighted_moments(samples, weights) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean ``(n,)`` and covariance ``(n, n)`` of ``samples`` ``(N, n)``.

    The covariance is ``sum w (x - m)(x - m)^T / (1 - sum w^2)`` (unbiased for reliability
    weights; equal weights give the usual ``N - 1`` normalisation).
    """
    x = np.asarray(samples, dtype=float)
    w = np.asarray(weights, dtype=float)
    mean = w @ x
    d = x - mean
    denom = 1.0 - float(w @ w)
    cov = (d * w[:, None]).T @ d / (denom if denom > 0 else 1.0)
    return mean, 0.5 * (cov + cov.T)


def weighted_quantile(values, weights, q) -> np.ndarray:
    """Weighted quantiles of ``values`` ``(N, ...)`` along axis 0, by interpolation.

    With ``values`` sorted and ``F(z) = sum_{v_i <= z} w_i`` the cumulative weights
    ``c_k``, the ``q`` quantile is ``z`` with ``F(z) = q`` interpolated linearly between
    the points ``(c_k, v_k)`` (clamped to the smallest/largest value outside
    ``[c_1, 1]``). Zero weights are ignored. Returns shape ``(len(q), ...)``.
    """
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    q = np.atleast_1d(np.asarray(q, dtype=float))
    keep = w > 0
    v, w = v[keep], w[keep] / w[keep].sum()
    flat = v.reshape(v.shape[0], -1)
    out = np.empty((q.size, flat.shape[1]))
    for j in range(flat.shape[1]):
        order = np.argsort(flat[:, j], kind="stable")
        c = np.cumsum(w[order])
        c[-1] = 1.0
        out[:, j] = np.interp(q, c, flat[order, j])
    return out.reshape((q.size,) + v.shape[1:])


class ObservationWhitener:
    """Stacked valid observations of a Problem and their whitening ``R^-1/2`` (per stream,
    with its weight: ``sqrt(w_k) L_k^-1``). ``R`` is never inverted.

    Attributes
    ----------
    y : ndarray, shape (n_obs,)
        Stacked valid observations.
    times : ndarray of int, shape (n_obs,)
        Time index of each (the stream's ``times``, else the position in the stream).
    slices : dict
        Stream name -> slice of its valid observations in ``y``.
    """

    def __init__(self, problem):
        self.y = np.concatenate([s.observed for s in problem.streams]).astype(float)
        self.blocks, self.slices, times, i = [], {}, [], 0
        for s in problem.streams:
            sl = slice(i, i + s.n_valid)
            self.blocks.append((s.error, sl, np.sqrt(s.weight)))
            self.slices[s.name] = sl
            t = np.arange(s.values.size) if s.times is None else np.asarray(s.times)
            times.append(np.asarray(t)[s.mask].astype(float))
            i += s.n_valid
        self.times = np.concatenate(times)
        self.y_white = self.whiten(self.y)

    def whiten(self, v) -> np.ndarray:
        """``R^-1/2 v`` for a vector ``(n_obs,)`` or the columns of ``(n_obs, k)``."""
        v = np.asarray(v, dtype=float)
        out = np.empty_like(v)
        for error, sl, sw in self.blocks:
            out[sl] = sw * error.whiten(v[sl])
        return out

    def obs_cost(self, G) -> float:
        """``J_o = 1/2 |R^-1/2 (G - y)|^2`` for stacked equivalents ``G``."""
        r = self.whiten(np.asarray(G, dtype=float) - self.y)
        return 0.5 * float(r @ r)


# --- importance sampling ------------------------------------------------------------------------
class _WeightedState(MeanEnding):
    """Draw N members, run them, weight them, then run the weighted mean for ``fun``."""

    label = "weighted"
    mean_name = "weighted mean"

    def __init__(self, problem, n_members, seed, min_members=2):
        super().__init__(problem)
        N = int(n_members)
        if N < min_members:
            raise ConfigError(f"{self.label}: n_members must be at least {min_members}, "
                              f"got {n_members}")
        self.n_members, self.seed = N, seed
        self.obs = ObservationWhitener(problem)
        self.samples = None
        self.weights = self.x = self.fun = None

    def _ask_members(self) -> np.ndarray:
        """The ``N`` samples (first round; then `MeanEnding` runs the weighted mean)."""
        return self.samples.copy()

    def _tell_members(self, results) -> None:
        self._weigh(results)              # sets x: the next round is the weighted mean

    def _obs_cost(self, result) -> float:
        return self.obs.obs_cost(result)

    def _base_result(self, method, status, success, message):
        names = list(self.problem.parameter_names)
        mean, cov = weighted_moments(self.samples, self.weights)
        ess = effective_sample_size(self.weights)
        return EnsembleResult(
            x=mean, fun=self.fun if self.fun is not None else np.nan, success=success,
            status=status, message=message, nit=1, nfev=self.nfev, njev=0,
            n_failed=self.n_failed, n_rounds=self.iteration,
            history={"cost": np.array([] if self.fun is None else [self.fun])},
            x0=self.problem.prior.mean.copy(), parameter_names=names, method=method,
            n_members=self.n_members, seed=self.seed, samples=self.samples.copy(),
            weights=self.weights.copy(), ess=ess, ess_fraction=ess / self.n_members,
            posterior_covariance=cov, posterior_std=np.sqrt(np.diag(cov)),
        ).attach_transform(self.problem.prior.transform)


class ImportanceState(_WeightedState):
    """Importance sampling as an ask/tell state (see the module docstring).

    Parameters
    ----------
    problem : Problem
    n_members : int
        Number of samples ``N`` (at least 2).
    seed : int
        Sample ``i`` comes from ``member_rng(seed, i)``.
    proposal : tuple (mean, covariance), optional
        Gaussian proposal ``N(m, C)`` in physical space; default the prior.
    """

    label = "importance sampling"

    def __init__(self, problem, n_members=1000, seed=0, proposal=None):
        super().__init__(problem, n_members, seed)
        n, N = problem.n_param, self.n_members
        self.proposal = None
        if proposal is None:
            self.samples = np.array([problem.prior.sample(1, member_rng(seed, i))[0]
                                     for i in range(N)])
            self._log_ratio = np.zeros(N)
        else:
            try:
                m, C = proposal
            except (TypeError, ValueError):
                raise ConfigError("importance sampling: proposal must be (mean, covariance)"
                                  ) from None
            m = np.asarray(m, dtype=float).reshape(-1)
            C = np.asarray(C, dtype=float)
            C = np.diag(C) if C.ndim == 1 else C
            if m.size != n or C.shape != (n, n):
                raise ConfigError(f"importance sampling: proposal mean/covariance must have "
                                  f"shapes ({n},) and ({n}, {n}); got {m.shape}, {C.shape}")
            L = cholesky_factor(C, "importance sampling proposal covariance")
            Z = np.array([member_rng(seed, i).standard_normal(n) for i in range(N)])
            self.samples = m + Z @ L.T
            # log p(theta) - log q(theta), both up to constants that cancel on normalising
            log_q = -0.5 * np.sum(Z ** 2, axis=1)
            log_p = np.array([-problem.prior.cost(t) if problem.prior.inside(t) else -np.inf
                              for t in self.samples])
            self._log_ratio = log_p - log_q
            self.proposal = (m, C)

    def evaluate(self, theta):
        """Stacked valid equivalents ``G(theta)``, ``(n_obs,)``."""
        return self.problem.observation_vector(theta)

    def _weigh(self, results):
        log_lik = np.array(filled(results, -np.inf, lambda r: -self.obs.obs_cost(r)))
        self.log_weights = log_lik + self._log_ratio
        try:
            self.weights = normalise_log_weights(self.log_weights)
        except ValueError:
            n_fail = sum(isinstance(r, Failed) for r in results)
            raise failure_error(f"importance sampling: no sample has a positive weight "
                                f"({n_fail} of {self.n_members} runs failed; the others "
                                f"lie outside the prior support or have a zero "
                                f"likelihood)", results) from None
        self.x = weighted_moments(self.samples, self.weights)[0]

    def result(self) -> Result:
        if self.weights is None:
            raise RuntimeError("importance sampling: result() before the first tell()")
        ess = effective_sample_size(self.weights)
        msg = f"importance sampling: ESS = {ess:.1f} of {self.n_members}"
        if ess / self.n_members < 0.01:
            msg += (" (ESS/N < 1 %: the weights are degenerate; use MCMC/SMC or a better "
                    "proposal)")
        status, success = (0, True) if self.done else (2, False)
        out = self._base_result("importance", status, success, msg)
        out.log_weights = self.log_weights.copy()
        return out


def _log_informal(kind, s_e2, s_o2, shape):
    """Log of one stream's informal likelihood (``-inf`` for a zero likelihood)."""
    if kind == "nse":
        nse = 1.0 - s_e2 / s_o2
        return shape * np.log(nse) if nse > 0 else -np.inf
    if kind == "inverse_variance":
        return -shape * np.log(s_e2) if s_e2 > 0 else np.inf
    if kind == "exponential":
        return -shape * s_e2
    raise ConfigError(f"GLUE: likelihood {kind!r} unknown; expected one of "
                      f"{', '.join(LIKELIHOODS)}")


class GLUEState(_WeightedState):
    """GLUE as an ask/tell state (see the module docstring).

    Parameters
    ----------
    problem : Problem
    n_members : int
        Number of prior samples (at least 2).
    seed : int
        Sample ``i`` comes from ``member_rng(seed, i)``.
    likelihood : {"nse", "inverse_variance", "exponential", "gaussian"}
        Informal likelihood (default ``NSE^N_s``).
    shape : float
        Shape factor ``N_s`` of the informal likelihoods (``NSE^N_s``, ...): larger
        concentrates the weights on the best samples (default 1; DREAM-Suite uses 10).
    threshold : float, optional
        Behavioural when every stream's NSE is at least this.
    top_fraction : float, optional
        Behavioural when among the best ``top_fraction`` (in ``(0, 1]``) likelihoods.
    quantiles : sequence of float
        Prediction-bound quantiles (default 0.05, 0.95).
    """

    label = "GLUE"

    def __init__(self, problem, n_members=1000, seed=0, likelihood="nse", shape=1.0,
                 threshold=None, top_fraction=None, quantiles=(0.05, 0.95)):
        super().__init__(problem, n_members, seed)
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"GLUE: likelihood {likelihood!r} unknown; expected one of "
                              f"{', '.join(LIKELIHOODS)}")
        if not (np.isfinite(shape) and shape > 0):
            raise ConfigError(f"GLUE: shape N_s must be positive, got {shape}")
        if top_fraction is not None and not 0 < top_fraction <= 1:
            raise ConfigError(f"GLUE: top_fraction must be in (0, 1], got {top_fraction}")
        q = np.asarray(quantiles, dtype=float)
        if q.ndim != 1 or np.any((q < 0) | (q > 1)):
            raise ConfigError(f"GLUE: quantiles must lie in [0, 1], got {quantiles}")
        self.likelihood, self.shape = likelihood, float(shape)
        self.threshold, self.top_fraction, self.quantiles = threshold, top_fraction, q
        self.samples = np.array([problem.prior.sample(1, member_rng(seed, i))[0]
                                 for i in range(self.n_members)])

    def evaluate(self, theta):
        """Every stream's equivalents, all values (masked ones too): ``{name: (n_obs_k,)}``."""
        return self.problem.equivalents(theta)

    def _obs_cost(self, result) -> float:
        return self.obs.obs_cost(np.concatenate([result[s.name][s.mask]
                                                 for s in self.problem.streams]))

    def _weigh(self, results):
        streams = self.problem.streams
        N = self.n_members
        nse = np.full((N, len(streams)), -np.inf)
        log_l = np.full(N, -np.inf)
        for i, r in enumerate(results):
            if isinstance(r, Failed):
                continue
            if self.likelihood == "gaussian":
                log_l[i] = -self._obs_cost(r)
            else:
                log_l[i] = 0.0
            for k, s in enumerate(streams):
                e = r[s.name][s.mask] - s.observed
                s_e2, s_o2 = float(np.var(e)), float(np.var(s.observed))
                nse[i, k] = 1.0 - s_e2 / s_o2 if s_o2 > 0 else -np.inf
                if self.likelihood != "gaussian":
                    log_l[i] += _log_informal(self.likelihood, s_e2, s_o2, self.shape)
        behavioural = np.isfinite(log_l) | (log_l == np.inf)
        if self.threshold is not None:
            behavioural &= np.all(nse >= self.threshold, axis=1)
        if self.top_fraction is not None:
            k = max(1, int(np.ceil(self.top_fraction * N)))
            order = np.argsort(-np.where(behavioural, log_l, -np.inf), kind="stable")
            top = np.zeros(N, dtype=bool)
            top[order[:k]] = True
            behavioural &= top
        self.nse, self.log_likelihood, self.behavioural = nse, log_l, behavioural
        if not behavioural.any():
            best = float(np.max(np.min(nse, axis=1))) if N else np.nan
            crit = f"NSE >= {self.threshold}" if self.threshold is not None else \
                "a positive likelihood"
            raise ConfigError(f"GLUE: no behavioural run among {N} ({self.n_failed} "
                              f"failed): none has {crit}; the best run's worst-stream NSE "
                              f"is {best:.4g}. Lower the threshold, use another likelihood "
                              f"or more samples")
        if np.any(log_l[behavioural] == np.inf):       # a perfect fit: equal weights on them
            lw = np.where(behavioural & (log_l == np.inf), 0.0, -np.inf)
        else:
            lw = np.where(behavioural, log_l, -np.inf)
        self.weights = normalise_log_weights(lw)
        self.x = weighted_moments(self.samples, self.weights)[0]
        ok = [i for i in range(N) if behavioural[i]]
        w = self.weights[ok]
        self.bounds = {s.name: weighted_quantile(np.array([results[i][s.name] for i in ok]),
                                                 w, self.quantiles) for s in streams}

    def result(self) -> Result:
        if self.weights is None:
            raise RuntimeError("GLUE: result() before the first tell()")
        n_b = int(self.behavioural.sum())
        status, success = (0, True) if self.done else (2, False)
        msg = (f"GLUE: {n_b} behavioural runs of {self.n_members}, ESS = "
               f"{effective_sample_size(self.weights):.1f}")
        out = self._base_result("glue", status, success, msg)
        out.update(behavioural=self.behavioural.copy(), n_behavioural=n_b,
                   nse=self.nse.copy(), log_likelihood=self.log_likelihood.copy(),
                   prediction_bounds=dict(self.bounds), quantiles=self.quantiles.copy(),
                   likelihood=self.likelihood, shape=self.shape)
        return out


def importance(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
               **options) -> Result:
    """Importance sampling of the posterior of ``problem`` (prior or Gaussian proposal).

    ``x0`` is ignored (the samples come from the proposal). Options: ``n_members`` (1000),
    ``proposal`` ((mean, covariance), default the prior).

    Returns
    -------
    Result
        ``x`` (weighted mean), ``posterior_covariance``, ``posterior_std``, ``samples``
        ``(n_member, n_param)``, ``weights``, ``log_weights``, ``ess``, ``ess_fraction``,
        ``fun`` (``J(x)``, from a run of ``x``), ``n_failed``.
    """
    return drive(ImportanceState(problem, seed=seed, **options), executor, callback,
                 checkpoint)


def glue(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
         **options) -> Result:
    """GLUE: informal-likelihood weighting of prior samples and prediction bounds.

    Options: ``n_members`` (1000), ``likelihood`` ("nse"), ``shape`` (1), ``threshold``,
    ``top_fraction``, ``quantiles`` ((0.05, 0.95)); see `GLUEState`.

    Returns
    -------
    Result
        As `importance`, plus ``behavioural`` (mask), ``n_behavioural``, ``nse``
        ``(n_member, n_stream)``, ``log_likelihood``, ``prediction_bounds``
        (``{stream: (n_quantile, n_obs)}``), ``quantiles``.
    """
    return drive(GLUEState(problem, seed=seed, **options), executor, callback,
                 checkpoint)


# the options each state class declares (`pdaframe.methods.contract`)
importance.option_sources = (ImportanceState,)
glue.option_sources = (GLUEState,)
importance.uses_x0 = glue.uses_x0 = False    # the samples come from the proposal / prior
importance.option_counts = glue.option_counts = {"n_members": (2, "a sample")}
importance.family = glue.family = "weighting"

METHODS = {"importance": importance, "glue": glue}
