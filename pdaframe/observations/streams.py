"""Observation data streams and their error covariances.

A `DataStream` holds one stream's values, times, errors and operator. Missing values (NaN or
a declared fill value) are masked out once, at construction, and counted; the error
covariance R is restricted to the valid values and Cholesky-factored once.
"""
from __future__ import annotations

import copy

import numpy as np

from .error_models import correlation_from
from ..errors import DataError
from ..interfaces import ObservationOperator
from .operators import Identity, Select
from ..prior.priors import cholesky_factor, solve_lower


_F8 = np.dtype(float)


class ErrorCovariance:
    """Observation-error covariance R of the valid observations of one stream.

    Parameters
    ----------
    std : array_like, shape (n,), optional
        Standard deviations (diagonal R).
    covariance : array_like, shape (n, n), optional
        Full R. Exactly one of ``std`` and ``covariance``.
    what : str
        Label for error messages.
    """

    def __init__(self, std=None, covariance=None, what="R"):
        if (std is None) == (covariance is None):
            raise DataError(f"{what}: give exactly one of std or covariance")
        if std is not None:
            self.std = np.asarray(std, dtype=float)
            bad = ~(np.isfinite(self.std) & (self.std > 0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(f"{what}: observation error std must be positive and finite; "
                                f"value {i} is {self.std[i]}")
            self._chol = None
            self._inv_std = 1.0 / self.std
            self._inv_var = self._inv_std ** 2
            # all std equal (the usual case): a vector is multiplied by scalars, the same
            # products without reading (n,) arrays on the cost function's hot path
            uniform = self.std.ndim == 1 and self.std.size and (self.std == self.std[0]).all()
            self._scalars = (self._inv_std[0], self._inv_var[0]) if uniform else None
        else:
            self._chol = cholesky_factor(covariance, what, DataError)
            self.std = np.sqrt(np.diag(np.asarray(covariance, dtype=float)))

    @property
    def size(self) -> int:
        return self.std.size

    def _factor(self, r, power):
        """What multiplies ``r`` (diagonal R): ``1/std`` (``power`` 0) or ``1/std**2`` (1),
        per row of a matrix; a scalar for a float vector of the right size and equal std."""
        if self._scalars is not None and type(r) is np.ndarray and r.dtype is _F8 and \
                r.ndim == 1 and r.size == self._inv_std.size:
            return self._scalars[power]
        factor = (self._inv_std, self._inv_var)[power]
        return factor if np.ndim(r) == 1 else factor[:, None]

    def whiten(self, r) -> np.ndarray:
        """``L^-1 r`` with ``R = L L^T``; works on vectors and on matrices (columns)."""
        if self._chol is None:
            return r * self._factor(r, 0)
        return solve_lower(self._chol, r)

    def solve(self, r) -> np.ndarray:
        """``R^-1 r``; works on vectors and on matrices (columns)."""
        if self._chol is None:
            return r * self._factor(r, 1)
        return solve_lower(self._chol, solve_lower(self._chol, r), transpose=True)

    def sample(self, rng) -> np.ndarray:
        """One draw of the error, ``N(0, R)``, from a `numpy.random.Generator`."""
        z = rng.standard_normal(self.size)
        return self.std * z if self._chol is None else self._chol @ z

    def log_scales(self) -> np.ndarray:
        """``log |L_ii|`` per observation (``R = L L^T``, lower ``L``); their sum is half of
        `logdet`. With `whiten`'s ``z``, ``-z_i^2/2 - log|L_ii| - log(2 pi)/2`` is the log
        density of observation ``i`` given the ones before it."""
        return np.log(self.std if self._chol is None else np.abs(np.diag(self._chol)))

    def logdet(self) -> float:
        """``log det R``."""
        return 2.0 * float(np.sum(self.log_scales()))

    def matrix(self) -> np.ndarray:
        """R as a dense matrix (for results and diagnostics only)."""
        return np.diag(self.std ** 2) if self._chol is None else self._chol @ self._chol.T


class DataStream:
    """One observation stream: values, times, errors, operator and weight.

    Parameters
    ----------
    name : str
        Stream name (used in results).
    variable : str
        Model output the stream observes (used to build the default operator).
    values : array_like, shape (n_obs,)
        Observed values; NaN or ``fill_value`` marks a missing value.
    times : array_like of int, shape (n_obs,), optional
        Index on the model's time axis of each value; ``None`` means one value per step.
    std : float or array_like, shape (n_obs,), optional
        Observation error standard deviations.
    covariance : array_like, shape (n_obs, n_obs), optional
        Full error covariance R (instead of ``std``); rows of missing values are dropped.
    correlation : dict or ExponentialCorrelation, optional
        Temporal error correlation with ``std``: ``{"kind": "exponential", "length": L}``
        gives ``R_ij = std_i std_j exp(-|t_i - t_j| / L)`` (``t`` = ``times``, or the
        position when ``times`` is None), handled in O(n) by
        `pdaframe.observations.error_models.ExponentialCovariance` (no ``n x n`` matrix).
    model_error_std : float or array_like, shape (n_obs,), optional
        Standard deviation of an independent model error: ``R = R_obs + diag(s^2)``. With
        ``std`` the variances add; with ``covariance`` the diagonal is inflated. Not allowed
        with ``correlation``: adding a diagonal term breaks the Markov structure that makes
        the exponential form O(n); give a full ``covariance`` instead (exact, dense), or
        inflate ``std`` yourself (model error then correlated like the observation error).
    fill_value : float, optional
        Value that marks missing data.
    weight : float
        Multiplies the stream's cost term (default 1): ``J_o,k`` is scaled by ``weight``,
        which is the same as dividing R by it.
    operator : ObservationOperator, optional
        Overrides the default `Identity`/`Select` operator.
    units : str
        Units of the values.
    """

    def __init__(self, name, variable, values, times=None, std=None, covariance=None,
                 fill_value=None, weight=1.0, operator=None, units="", correlation=None,
                 model_error_std=None):
        self.name, self.variable, self.units = name, variable, units
        values = np.asarray(values, dtype=float).reshape(-1)
        n = values.size
        if n == 0:
            raise DataError(f"stream {name!r}: no observation values")
        self.times = None if times is None else np.asarray(times).reshape(-1)
        if self.times is not None and self.times.size != n:
            raise DataError(f"stream {name!r}: {n} values but {self.times.size} times; "
                            f"the two axes must have the same length")
        if np.isinf(values).any():
            i = int(np.flatnonzero(np.isinf(values))[0])
            raise DataError(f"stream {name!r}: value {i} is {values[i]}; an infinite "
                            f"observation is not a missing value (give NaN or the fill value)")
        mask = np.isfinite(values)
        if fill_value is not None:
            mask &= values != fill_value
        self.mask = mask
        self.values = values
        self.n_missing = int(n - mask.sum())
        if not mask.any():
            raise DataError(f"stream {name!r}: all {n} values are missing")
        if not (np.isfinite(weight) and weight > 0):
            raise DataError(f"stream {name!r}: weight must be positive, got {weight}")
        self.weight = float(weight)
        self.error = _error_covariance(f"stream {name!r} error", n, mask, self.times, std,
                                       covariance, correlation, model_error_std)
        if operator is None:
            operator = Identity(variable) if self.times is None else Select(variable, self.times)
        if not isinstance(operator, ObservationOperator) and not callable(
                getattr(operator, "apply", None)):
            raise DataError(f"stream {name!r}: operator {operator!r} has no apply method")
        self.operator = operator

    @property
    def n_valid(self) -> int:
        return int(self.mask.sum())

    @property
    def values(self) -> np.ndarray:
        """All values, shape ``(n_obs,)``; NaN (or the fill value) where missing."""
        return self._values

    @values.setter
    def values(self, values):
        self._values = values
        # the valid values, and the index that picks them (None: all, no copy)
        self._valid = None if self.mask.all() else np.flatnonzero(self.mask)
        self.observed = values if self._valid is None else values[self._valid]

    def residual(self, equivalent) -> np.ndarray:
        """Model equivalent minus observation at the valid values, shape ``(n_valid,)``."""
        if self._valid is None:
            return equivalent - self.observed
        return equivalent[self._valid] - self.observed

    def on_all(self, valid) -> np.ndarray:
        """Values at the valid observations, shape ``(n_valid,)``, placed on all of them,
        shape ``(n_obs,)``, with zeros where missing (``valid`` itself when none is)."""
        if self._valid is None:
            return valid
        out = np.zeros(self._values.size)
        out[self._valid] = valid
        return out

    def with_values(self, values) -> "DataStream":
        """A copy with other values; mask, errors, times and operator are kept."""
        values = np.asarray(values, dtype=float).reshape(-1)
        if values.shape != self.values.shape:
            raise DataError(f"stream {self.name!r}: {values.size} new values for "
                            f"{self.values.size} observations")
        new = copy.copy(self)
        new.values = np.where(self.mask, values, np.nan)
        return new

    def __repr__(self):
        return (f"DataStream({self.name!r}, variable={self.variable!r}, n_obs={self.values.size},"
                f" n_missing={self.n_missing}, weight={self.weight})")


def _per_obs(value, n, what, field):
    """``value`` (scalar or ``(n,)``) as an ``(n,)`` float array."""
    arr = np.asarray(value, dtype=float)
    arr = np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr.reshape(-1)
    if arr.size != n:
        raise DataError(f"{what}: {arr.size} {field} values for {n} observations")
    return arr


def _error_covariance(what, n, mask, times, std, covariance, correlation, model_error_std):
    """The error covariance of a stream's valid values (see `DataStream`)."""
    if (std is None) == (covariance is None):
        raise DataError(f"{what}: give std or covariance" if std is None else
                        f"{what}: give std or covariance, not both")
    model_var = 0.0
    if model_error_std is not None:
        m = _per_obs(model_error_std, n, what, "model_error_std")
        bad = ~(np.isfinite(m) & (m >= 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{what}: model_error_std must be >= 0 and finite; value {i} is "
                            f"{m[i]}")
        if correlation is not None:
            raise DataError(f"{what}: model_error_std cannot be combined with an exponential "
                            f"correlation (R_obs + diag would not be Markov, so not O(n)); "
                            f"give a full covariance, or inflate std instead")
        model_var = m[mask] ** 2
    if covariance is not None:
        if correlation is not None:
            raise DataError(f"{what}: correlation needs std, not a full covariance")
        cov = np.asarray(covariance, dtype=float)
        if cov.shape != (n, n):
            raise DataError(f"{what}: covariance shape {cov.shape}, expected ({n}, {n})")
        cov = cov[np.ix_(mask, mask)]
        if model_error_std is not None:
            cov = cov + np.diag(model_var)
        return ErrorCovariance(covariance=cov, what=what)
    std = _per_obs(std, n, what, "std")[mask]
    if correlation is not None:
        t = np.arange(n) if times is None else times
        return correlation_from(correlation, what).covariance(std, t[mask], what=what)
    error = ErrorCovariance(std=std, what=what)            # checks std > 0
    return error if model_error_std is None else \
        ErrorCovariance(std=np.sqrt(std ** 2 + model_var), what=what)
