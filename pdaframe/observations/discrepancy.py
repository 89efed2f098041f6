"""Kennedy-O'Hagan model discrepancy on a stream: a Gaussian process in time, in O(n).

    y = h(M(theta)) + delta(t) + eps,   delta ~ GP(0, a^2 exp(-|dt| / l)),   eps ~ N(0, R / w)

With ``r = h - y`` (the residual) the discrepancy is marginalised: ``r ~ N(0, S)``,
``S = D + K``, ``D = R / w`` (the stream's diagonal error, divided by its weight as for the
Gaussian likelihood) and ``K_ij = a^2 exp(-|t_i - t_j| / l)``.

Why the exponential kernel: it is the covariance of an Ornstein-Uhlenbeck process, which is
Markov, so with the times sorted its precision ``P = K^-1`` is tridiagonal (the bidiagonal
factor of `pdaframe.observations.error_models`). Then ``A = P + D^-1`` is tridiagonal too and

    S^-1       = D^-1 - D^-1 A^-1 D^-1
    log det S  = log det D + log det K + log det A
    E[delta|r] = -K S^-1 r = -A^-1 D^-1 r,     Cov[delta|r] = K - K S^-1 K = A^-1

so cost, gradient, log density and the posterior of the discrepancy need one banded Cholesky
factor of ``A`` and, for the hyperparameter gradient, the tridiagonal part of ``A^-1``
(a backward recursion, Takahashi et al. 1973): O(n) time and memory, no ``n x n`` matrix.
With ``mu = A^-1 D^-1 r`` (``= K S^-1 r``) and ``dS = -K dP K``, the gradient of
``J = r^T S^-1 r / 2 + (log det S - log det D) / 2`` with respect to a hyperparameter is

    dJ = (mu^T dP mu + d log det K + tr(A^-1 dP)) / 2

where ``dP`` is tridiagonal, so only the tridiagonal part of ``A^-1`` enters.

The hyperparameters are estimated in log space, as ``<stream>:log_amplitude`` and
``<stream>:log_length`` (`DEFAULT_PRIORS` says how their default priors follow the stream);
either can be fixed instead (``amplitude=``, ``length=``, in the stream's units and time
steps).

References
----------
Kennedy, M. C. and O'Hagan, A. (2001), Bayesian calibration of computer models, JRSS B 63.
Rasmussen, C. E. and Williams, C. K. I. (2006), *Gaussian Processes for Machine Learning*,
section 4.2.1 (the Ornstein-Uhlenbeck process).
Takahashi, K., Fagan, J. and Chin, M.-S. (1973), Formation of a sparse bus impedance matrix
and its application to short circuit study (selected inversion).
"""
from __future__ import annotations

import copy
import math

import numpy as np
from scipy import linalg

from ..errors import ConfigError, DataError
from ..interfaces import Parameter

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
NAMES = ("amplitude", "length")
DEFAULT_PRIORS = {
    "amplitude": "log a ~ N(log sigma_med, 2^2) in [log sigma_med - 10, log sigma_med + 10], "
                 "sigma_med the median observation error std of the stream (as large as the "
                 "observation error, give or take a factor 7 at 1 sigma)",
    "length": "log l ~ N(log(span / 10), 1.5^2) in [log(dt_min / 10), log(10 span)], span the "
              "time from first to last valid observation, dt_min the smallest spacing "
              "(a smooth error over a tenth of the record, give or take a factor 4.5)",
}


class OUMarginal:
    """``r ~ N(0, D + K)``, ``K`` exponential (OU) in time, for sorted times; O(n).

    Parameters
    ----------
    dt : ndarray, shape (n - 1,)
        Positive spacings of the sorted times.
    noise_var : ndarray, shape (n,)
        Diagonal of ``D`` (sorted like the times).
    amplitude, length : float
        ``a`` and ``l`` of ``K_ij = a^2 exp(-|t_i - t_j| / l)``.
    """

    def __init__(self, dt, noise_var, amplitude, length):
        self.n, self.a2, self.noise_var = noise_var.size, amplitude ** 2, noise_var
        self.x = x = dt / length
        self.phi = phi = np.exp(-x)
        self.one_m = one_m = -np.expm1(-2.0 * x)              # 1 - phi^2
        self.g = g = phi * phi / one_m                         # phi^2 / (1 - phi^2)
        self.off = -phi / one_m                                 # Q_{k,k+1}
        q_diag = np.ones(self.n)                                # Q = C^-1, C the correlation
        q_diag[1:] += g
        q_diag[:-1] += g
        self.p_diag, self.p_off = q_diag / self.a2, self.off / self.a2
        band = np.zeros((2, self.n))
        band[0] = self.p_diag + 1.0 / noise_var
        band[1, :-1] = self.p_off
        try:
            self.chol = linalg.cholesky_banded(band, lower=True, check_finite=False)
        except linalg.LinAlgError as exc:                       # pragma: no cover (SPD)
            raise DataError(f"discrepancy: K^-1 + R^-1 is not positive definite ({exc})")
        self.logdet_k = self.n * math.log(self.a2) + float(np.sum(np.log(one_m)))
        self.logdet_a = 2.0 * float(np.sum(np.log(self.chol[0])))

    def solve_a(self, b) -> np.ndarray:
        """``A^-1 b``."""
        return linalg.cho_solve_banded((self.chol, True), b, check_finite=False)

    def smooth(self, r) -> np.ndarray:
        """``mu = A^-1 D^-1 r = K S^-1 r``."""
        return self.solve_a(r / self.noise_var)

    def quad_logdet(self, r):
        """``(r^T S^-1 r, log det S - log det D, S^-1 r, mu)``."""
        mu = self.smooth(r)
        alpha = (r - mu) / self.noise_var                      # S^-1 r
        return float(np.dot(r, alpha)), self.logdet_k + self.logdet_a, alpha, mu

    def inverse_band(self):
        """Diagonal and first off-diagonal of ``A^-1`` (Takahashi recursion on the banded
        Cholesky factor ``A = L L^T``)."""
        d, m = self.chol[0].tolist(), self.chol[1].tolist()
        n = self.n
        diag, off = [0.0] * n, [0.0] * max(n - 1, 0)
        diag[-1] = 1.0 / (d[-1] * d[-1])
        for k in range(n - 2, -1, -1):
            ratio = m[k] / d[k]
            off[k] = -ratio * diag[k + 1]
            diag[k] = 1.0 / (d[k] * d[k]) - ratio * off[k]
        return np.array(diag), np.array(off)

    def hyper_gradient(self, mu) -> np.ndarray:
        """``d J / d (log a, log l)`` with ``mu`` from `quad_logdet` (module docstring)."""
        s_diag, s_off = self.inverse_band()
        # log a: dP = -2 P, d log det K = 2 n
        quad_p = float(np.dot(self.p_diag * mu, mu) + 2.0 * np.dot(self.p_off * mu[:-1], mu[1:]))
        tr_p = float(np.dot(self.p_diag, s_diag) + 2.0 * np.dot(self.p_off, s_off))
        d_log_a = 0.5 * (-2.0 * quad_p + 2.0 * self.n - 2.0 * tr_p)
        # log l: x = dt / l, dx = -x; dg = 2 x phi^2/(1-phi^2)^2, d off = x off coth(x)
        x, phi, one_m = self.x, self.phi, self.one_m
        dg = 2.0 * x * phi * phi / (one_m * one_m)
        d_off = x * self.off * (1.0 + phi * phi) / one_m / self.a2
        d_diag = np.zeros(self.n)
        d_diag[1:] += dg
        d_diag[:-1] += dg
        d_diag /= self.a2
        d_logdet_k = float(np.sum(-2.0 * x * self.g))
        quad_l = float(np.dot(d_diag * mu, mu) + 2.0 * np.dot(d_off * mu[:-1], mu[1:]))
        tr_l = float(np.dot(d_diag, s_diag) + 2.0 * np.dot(d_off, s_off))
        return np.array([d_log_a, 0.5 * (quad_l + d_logdet_k + tr_l)])

    def innovations_log_density(self, r) -> np.ndarray:
        """Per observation (sorted), ``log p(r_k | r_1..r_{k-1})`` by a Kalman filter."""
        a2, var, phi = self.a2, self.noise_var.tolist(), self.phi.tolist()
        out = [0.0] * self.n
        m, p = 0.0, a2
        for k, rk in enumerate(r.tolist()):
            if k:
                f = phi[k - 1]
                m, p = f * m, f * f * p + a2 * (1.0 - f * f)
            s = p + var[k]
            v = rk - m
            out[k] = -0.5 * v * v / s - 0.5 * math.log(s) - HALF_LOG_2PI
            gain = p / s
            m, p = m + gain * v, p * var[k] / s
        return np.array(out)


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{what}: expected a positive finite number, got {value!r}")
    return float(value)


class DiscrepancyLikelihood:
    """``likelihood = "discrepancy"``: Gaussian errors plus an OU discrepancy in time.

    Follows the interface of `pdaframe.observations.likelihoods.Likelihood` (``name``,
    ``parameters``, ``gaussian``, ``bind``, ``cost``, ``cost_gradient``, ``log_density``,
    ``sample``) without subclassing it: its default priors follow the stream, so its
    ``parameters`` are known only once bound. ``posterior`` adds the discrepancy's posterior
    (`pdaframe.prediction.discrepancy`).

    Parameters
    ----------
    amplitude, length : float, optional
        Fixed ``a`` (units of the stream) and ``l`` (model time steps, the units of the
        stream's ``times``). Not given: estimated (unless ``estimate`` says otherwise).
    estimate : sequence of {"amplitude", "length"}, optional
        The hyperparameters estimated with theta (default: those not fixed).
    priors : dict, optional
        ``{"amplitude" | "length": {"mean", "std", "lower", "upper"}}`` of ``log a`` /
        ``log l``; missing keys take the defaults of `DEFAULT_PRIORS`.

    Notes
    -----
    `bind` checks the stream: explicit ``times`` (no two equal among the valid values) and
    a diagonal R (``std``, no ``correlation`` or full ``covariance``): each a `DataError`
    naming the stream. The estimated hyperparameters (`parameters`) are
    known once bound, as their default priors follow the stream.
    """

    name = "discrepancy"
    gaussian = False

    def __init__(self, amplitude=None, length=None, estimate=None, priors=None,
                 what="likelihood 'discrepancy'"):
        self.fixed = {k: _positive(v, f"discrepancy: {k}") for k, v in
                      (("amplitude", amplitude), ("length", length)) if v is not None}
        estimate = [k for k in NAMES if k not in self.fixed] if estimate is None \
            else list(estimate)
        bad = [k for k in estimate if k not in NAMES]
        if bad:
            raise ConfigError(f"discrepancy: cannot estimate {bad}; expected some of {NAMES}")
        both = [k for k in estimate if k in self.fixed]
        if both:
            raise ConfigError(f"discrepancy: {both} both fixed and estimated; give a value "
                              f"or list it in estimate, not both")
        missing = [k for k in NAMES if k not in estimate and k not in self.fixed]
        if missing:
            raise ConfigError(f"discrepancy: {missing} neither fixed nor estimated")
        self.estimate = tuple(k for k in NAMES if k in estimate)
        self.priors = dict(priors or {})
        for k, spec in self.priors.items():
            if k not in NAMES or not isinstance(spec, dict) or \
                    set(spec) - {"mean", "std", "lower", "upper"}:
                raise ConfigError(f"discrepancy: prior {k!r} = {spec!r}: expected {NAMES} "
                                  f"with a table of mean, std, lower, upper (of the log)")
        self.parameters = ()
        self.stream_name = None

    # --- binding -------------------------------------------------------------------------
    def bind(self, stream) -> "DiscrepancyLikelihood":
        """A copy bound to ``stream``: its valid times sorted, ``D = R / w``, the default
        priors; named errors for a stream without times, equal times or a correlated R."""
        what = f"stream {stream.name!r}: likelihood 'discrepancy'"
        if stream.times is None:
            raise DataError(f"{what} needs the stream's times (the model step of each "
                            f"value): give `times` (a GP in time needs them)")
        error = stream.error
        if getattr(error, "_chol", None) is not None or not hasattr(error, "_inv_var"):
            raise DataError(f"{what} needs a diagonal observation error (std only), found "
                            f"{type(error).__name__} with correlations; the discrepancy "
                            f"is the correlated part: drop `correlation`/`covariance`")
        times = np.asarray(stream.times, dtype=float)[stream.mask]
        order = np.argsort(times, kind="stable")
        dt = np.diff(times[order])
        if np.any(dt == 0):
            t = times[order][int(np.flatnonzero(dt == 0)[0])]
            raise DataError(f"{what}: two valid observations at time {t:g}; the discrepancy "
                            f"is the same for both (K singular): average them first")
        new = copy.copy(self)
        new.stream_name, new.order, new.dt = stream.name, order, dt
        new.noise_var = (error.std[order] ** 2) / stream.weight
        new.logdet_d = float(np.sum(np.log(new.noise_var)))
        span = float(times[order[-1]] - times[order[0]]) if times.size > 1 else 1.0
        dt_min = float(dt.min()) if dt.size else 1.0
        sigma = float(np.median(error.std))
        defaults = {"amplitude": dict(mean=math.log(sigma), std=2.0, lower=math.log(sigma) - 10,
                                      upper=math.log(sigma) + 10),
                    "length": dict(mean=math.log(max(span, dt_min) / 10.0), std=1.5,
                                   lower=math.log(dt_min / 10.0),
                                   upper=math.log(10.0 * max(span, dt_min)))}
        params = []
        for k in self.estimate:
            p = {**defaults[k], **self.priors.get(k, {})}
            if not (p["std"] > 0 and p["lower"] < p["mean"] < p["upper"]):
                raise ConfigError(f"{what}: prior of log {k} {p}: needs std > 0 and "
                                  f"lower < mean < upper")
            params.append(Parameter(f"log_{k}", p["mean"], p["lower"], p["upper"], p["std"],
                                    units="1", long_name=f"log of the discrepancy {k}"))
        new.parameters = tuple(params)
        new._cache = (None, None)
        return new

    def _check_bound(self):
        if self.stream_name is None:
            raise ConfigError("discrepancy likelihood: bind it to a stream first")

    def values(self, h) -> tuple[float, float]:
        """``(a, l)`` from the estimated log values ``h`` and the fixed ones."""
        h = np.asarray(h, dtype=float).reshape(-1)
        if h.size != len(self.estimate):
            raise ConfigError(f"discrepancy on {self.stream_name!r}: {h.size} hyperparameter "
                              f"values for {list(self.estimate)}")
        est = dict(zip(self.estimate, np.exp(h)))
        return tuple(float(est[k]) if k in est else self.fixed[k] for k in NAMES)

    def marginal(self, h) -> OUMarginal:
        """The `OUMarginal` at ``h`` (the last one is cached)."""
        self._check_bound()
        key = np.asarray(h, dtype=float).tobytes()
        if self._cache[0] != key:
            a, ell = self.values(h)
            self._cache = (key, OUMarginal(self.dt, self.noise_var, a, ell))
        return self._cache[1]

    # --- the likelihood interface --------------------------------------------------------
    def cost(self, r, h) -> float:
        """``r^T S^-1 r / 2 + (log det S - log det D) / 2`` (``-log p(r)`` up to a
        constant; reduces to the Gaussian ``w/2 r^T R^-1 r`` as ``a -> 0``)."""
        quad, logdet, _, _ = self.marginal(h).quad_logdet(np.asarray(r, float)[self.order])
        return 0.5 * (quad + logdet)

    def cost_gradient(self, r, h) -> tuple[np.ndarray, np.ndarray]:
        """``(dJ/dr, dJ/dh)``: ``S^-1 r`` and the gradient in the estimated log values."""
        m = self.marginal(h)
        _, _, alpha, mu = m.quad_logdet(np.asarray(r, float)[self.order])
        grad_h = m.hyper_gradient(mu)[[NAMES.index(k) for k in self.estimate]]
        return self._unsort(alpha), grad_h

    def log_density(self, r, h) -> np.ndarray:
        """Normalised log density per valid observation, in their own order: observation
        ``k`` given the earlier ones in time (a Kalman filter); sums to ``log N(r; 0, S)``."""
        return self._unsort(self.marginal(h).innovations_log_density(
            np.asarray(r, float)[self.order]))

    def posterior(self, r, h) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the discrepancy ``delta`` at the valid observations
        (their own order), given the residuals ``r = h(M) - y``: ``-A^-1 D^-1 r`` and
        ``sqrt(diag A^-1)`` (``y = h(M) + delta + eps``, so the sign flips)."""
        m = self.marginal(h)
        mu = m.smooth(np.asarray(r, float)[self.order])
        return self._unsort(-mu), self._unsort(np.sqrt(m.inverse_band()[0]))

    def sample(self, h, rng) -> np.ndarray:
        """One draw of ``delta + eps`` at the valid observations (their own order), from a
        `numpy.random.Generator` (the OU recursion, O(n))."""
        m = self.marginal(h)
        e = rng.standard_normal((2, m.n))
        innov = np.sqrt(np.concatenate([[1.0], m.one_m]) * m.a2) * e[0]
        delta = np.empty(m.n)
        prev = 0.0
        for k, (f, z) in enumerate(zip(np.concatenate([[0.0], m.phi]).tolist(), innov.tolist())):
            prev = delta[k] = f * prev + z
        return self._unsort(delta + np.sqrt(m.noise_var) * e[1])

    def _unsort(self, v):
        out = np.empty_like(v)
        out[self.order] = v
        return out

    def __repr__(self):
        return (f"DiscrepancyLikelihood(estimate={list(self.estimate)}, fixed={self.fixed}"
                + (f", stream={self.stream_name!r})" if self.stream_name else ")"))
