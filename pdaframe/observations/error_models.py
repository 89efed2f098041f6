"""Compact observation-error covariances: exponential correlation in time, in O(n).

An exponential correlation ``rho_ij = exp(-|t_i - t_j| / L)`` on a 1-d time axis is the
correlation of a (non-uniformly sampled) AR(1) / Ornstein-Uhlenbeck process. With the
observations sorted by time, ``a_k = exp(-(t_k - t_{k-1}) / L)`` and ``x = D^-1 e``
(``D = diag(sigma)``)::

    x_1 = z_1,    x_k = a_k x_{k-1} + sqrt(1 - a_k^2) z_k,    z ~ N(0, I)

so the inverse Cholesky factor of the correlation matrix is lower *bidiagonal*. Whitening,
solving, sampling and the log-determinant are O(n) and no ``n x n`` matrix is ever built.

References
----------
Rasmussen, C. E. and Williams, C. K. I. (2006), *Gaussian Processes for Machine Learning*,
section 4.2.1 (the Ornstein-Uhlenbeck process is Markov).
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from ..errors import DataError

DENSE_LIMIT = 20_000
"""Largest ``n`` for which `ExponentialCovariance.matrix` builds the dense R."""


class ExponentialCorrelation:
    """Specification of an exponential temporal correlation ``exp(-|dt| / length)``.

    Give it to `pdaframe.DataStream` as ``correlation=`` (or the equivalent dict
    ``{"kind": "exponential", "length": L}``); the stream combines it with its standard
    deviations and times into an `ExponentialCovariance`.

    Parameters
    ----------
    length : float
        Correlation length ``L`` (> 0), in the units of the stream's times (model steps).
    """

    kind = "exponential"

    def __init__(self, length):
        self.length = length

    def covariance(self, std, times, what="R") -> "ExponentialCovariance":
        """The `ExponentialCovariance` of errors with ``std`` at ``times``."""
        return ExponentialCovariance(std, times, self.length, what=what)

    def __repr__(self):
        return f"ExponentialCorrelation(length={self.length!r})"


def correlation_from(spec, what="R"):
    """An `ExponentialCorrelation` (or other object with ``covariance``) from a spec.

    Parameters
    ----------
    spec : dict or object
        ``{"kind": "exponential", "length": L}`` or an object with a
        ``covariance(std, times, what)`` method.
    what : str
        Label for error messages (the stream).
    """
    if callable(getattr(spec, "covariance", None)):
        return spec
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"kind", "length"})
        kind = spec.get("kind", "exponential")
        if unknown or kind != "exponential" or "length" not in spec:
            raise DataError(f"{what}: correlation {spec!r}: expected "
                            f"{{'kind': 'exponential', 'length': L}}")
        return ExponentialCorrelation(spec["length"])
    raise DataError(f"{what}: correlation {spec!r}: expected a dict "
                    f"{{'kind': 'exponential', 'length': L}} or an ExponentialCorrelation")


class ExponentialCovariance:
    """``R_ij = sigma_i sigma_j exp(-|t_i - t_j| / L)``, factored in O(n).

    Same interface as `pdaframe.ErrorCovariance` (``whiten``, ``solve``, ``sample``,
    ``logdet``, ``matrix``, ``std``, ``size``). ``whiten`` returns ``W r`` with
    ``W^T W = R^-1``, in the observations' own order (``W = P^T L_s^-1 P`` with ``P`` the sort
    by time and ``L_s`` the Cholesky factor of the sorted R).

    Parameters
    ----------
    std : array_like, shape (n,)
        Error standard deviations (> 0).
    times : array_like, shape (n,)
        Observation times (any order; no two equal: equal times would be fully correlated
        and make R singular).
    length : float
        Correlation length ``L`` > 0, in the units of ``times``.
    what : str
        Label for error messages.
    """

    def __init__(self, std, times, length, what="R"):
        self.std = np.asarray(std, dtype=float).reshape(-1)
        times = np.asarray(times, dtype=float).reshape(-1)
        if not (isinstance(length, (int, float, np.floating, np.integer))
                and not isinstance(length, bool) and np.isfinite(length) and length > 0):
            raise DataError(f"{what}: correlation length must be a positive finite number "
                            f"(in model time steps), got {length!r}")
        bad = ~(np.isfinite(self.std) & (self.std > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{what}: observation error std must be positive and finite; "
                            f"value {i} is {self.std[i]}")
        if times.shape != self.std.shape or not np.all(np.isfinite(times)):
            raise DataError(f"{what}: exponential correlation needs {self.std.size} finite "
                            f"times, got {times.size}")
        self.length = float(length)
        self.order = np.argsort(times, kind="stable")
        dt = np.diff(times[self.order])
        if np.any(dt == 0):
            k = int(np.flatnonzero(dt == 0)[0])
            raise DataError(f"{what}: two observations at time {times[self.order][k]:g}; with "
                            f"an exponential correlation they are fully correlated (R singular)")
        self.times = times
        self.a = np.concatenate([[0.0], np.exp(-dt / self.length)])       # a_1 = 0
        one_minus_a2 = np.concatenate([[1.0], -np.expm1(-2.0 * dt / self.length)])
        self.c = 1.0 / np.sqrt(one_minus_a2)                              # diagonal of L^-1
        self._half_logdet = float(np.sum(np.log(self.std))) + 0.5 * float(
            np.sum(np.log(one_minus_a2)))

    @property
    def size(self) -> int:
        return self.std.size

    def _sorted(self, r):
        r = np.asarray(r, dtype=float)
        col = (slice(None),) + (None,) * (r.ndim - 1)
        return r[self.order] / self.std[self.order][col], col

    def _unsort(self, z):
        out = np.empty_like(z)
        out[self.order] = z
        return out

    def whiten(self, r) -> np.ndarray:
        """``W r`` with ``W^T W = R^-1``; vectors ``(n,)`` or matrices ``(n, k)`` (columns)."""
        x, col = self._sorted(r)
        z = x.copy()
        z[1:] -= self.a[1:][col] * x[:-1]
        return self._unsort(self.c[col] * z)

    def solve(self, r) -> np.ndarray:
        """``R^-1 r`` (``W^T W r``)."""
        z, col = self._sorted(r)                  # D^-1 P r
        y = z.copy()
        y[1:] -= self.a[1:][col] * z[:-1]
        y *= self.c[col] ** 2                      # (L^-1)^T ... : y_k = c_k (L^-1 x)_k
        out = y.copy()
        out[:-1] -= (self.a[1:])[col] * y[1:]      # B^T v: v_k - a_{k+1} v_{k+1} (c folded)
        return self._unsort(out / self.std[self.order][col])

    def _factor_times(self, z):
        """``L_s z`` for the sorted correlation factor (a banded solve, O(n))."""
        n = self.size
        band = np.zeros((2, n))
        band[0] = self.c
        band[1, :-1] = -self.c[1:] * self.a[1:]
        return linalg.solve_banded((1, 0), band, z, check_finite=False)

    def sample(self, rng) -> np.ndarray:
        """One draw of the error, ``N(0, R)``, from a `numpy.random.Generator`."""
        x = self._factor_times(rng.standard_normal(self.size))
        return self._unsort(x * self.std[self.order])

    def log_scales(self) -> np.ndarray:
        """``log |L_kk|`` per observation, in the observations' own order (``L`` the Cholesky
        factor of the time-sorted R: ``sigma_k / c_k``); their sum is half of `logdet`.
        With `whiten`'s ``z``, ``-z_k^2/2 - log|L_kk| - log(2 pi)/2`` is the log density of
        observation ``k`` given the earlier ones."""
        return self._unsort(np.log(self.std[self.order]) - np.log(self.c))

    def logdet(self) -> float:
        """``log det R`` = ``2 sum log sigma + sum log(1 - a_k^2)``."""
        return 2.0 * self._half_logdet

    def matrix(self) -> np.ndarray:
        """R as a dense matrix (diagnostics and small ``n`` only).

        Raises
        ------
        DataError
            If ``n`` exceeds `DENSE_LIMIT`.
        """
        if self.size > DENSE_LIMIT:
            raise DataError(f"exponential R of {self.size} observations: refusing to build a "
                            f"dense matrix (limit {DENSE_LIMIT})")
        dt = np.abs(self.times[:, None] - self.times[None, :])
        return self.std[:, None] * self.std[None, :] * np.exp(-dt / self.length)

    def __repr__(self):
        return f"ExponentialCovariance(n={self.size}, length={self.length})"
