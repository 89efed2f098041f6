"""Prior distributions of the parameters: Gaussian (full or diagonal B) and uniform.

A prior owns the parameter bounds and the transform to the unbounded space that the
algorithms move in (see `pdaframe.prior.transforms`). The Gaussian prior factors B once
(``B = L L^T``) and applies ``B^-1`` only through triangular solves.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from ..errors import ConfigError
from .transforms import ParameterTransform


def _vector(value, n, name, field):
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy() if np.ndim(value) == 0 \
        else np.asarray(value, dtype=float)
    if arr.shape != (n,):
        raise ConfigError(f"{field}: expected {n} values (one per parameter {list(name)}), "
                          f"got shape {arr.shape}")
    return arr


def check_std(std, names, what="prior std"):
    """``std`` (one per parameter) as floats, or a `ConfigError` naming the first parameter
    whose std is not positive and finite (a negative std is not its absolute value)."""
    std = _vector(std, len(names), names, what)
    for name, s in zip(names, std):
        if not (np.isfinite(s) and s > 0):
            raise ConfigError(f"parameter {name!r}: {what} must be positive and finite, "
                              f"got {s}")
    return std


def solve_lower(chol, b, transpose=False) -> np.ndarray:
    """``L^-1 b`` (or ``L^-T b``) for lower-triangular ``L``: one LAPACK call, no checks.

    ``scipy.linalg.solve_triangular`` validates its inputs on every call; on the cost
    function's hot path that costs more than the solve itself for small systems.
    """
    x, info = lapack.dtrtrs(chol, b, lower=1, trans=1 if transpose else 0)
    if info != 0:
        raise linalg.LinAlgError(f"triangular solve failed (info={info})")
    return x


def cholesky_factor(matrix, what: str, error=ConfigError) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive-definite matrix, or a named error."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise error(f"{what}: expected a square matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise error(f"{what}: contains non-finite values")
    if not np.allclose(m, m.T, rtol=1e-10, atol=0.0):
        raise error(f"{what}: matrix is not symmetric")
    try:
        return linalg.cholesky(m, lower=True)
    except linalg.LinAlgError:
        w = np.linalg.eigvalsh(m)
        raise error(f"{what}: matrix is not positive definite (smallest eigenvalue "
                    f"{w.min():.3g})") from None


class Prior:
    """Common part of the priors: names, bounds, background, transform.

    Parameters
    ----------
    mean : array_like, shape (n_param,)
        Background ``theta_b`` (prior mean; for the uniform prior, the default start).
    lower, upper : array_like or float, optional
        Bounds (default unbounded).
    names : sequence of str, optional
        Parameter names.
    transforms : sequence of str, optional
        Transform per parameter (default from the bounds).
    """

    def __init__(self, mean, lower=-np.inf, upper=np.inf, names=None, transforms=None):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=float))
        n = self.mean.size
        self.named = names is not None
        self.names = list(names) if self.named else [f"theta[{i}]" for i in range(n)]
        if len(self.names) != n:
            raise ConfigError(f"prior: {len(self.names)} names for {n} parameters")
        self.lower = _vector(lower, n, self.names, "prior lower bounds")
        self.upper = _vector(upper, n, self.names, "prior upper bounds")
        for i, nm in enumerate(self.names):
            if not self.lower[i] < self.upper[i]:
                raise ConfigError(f"parameter {nm!r}: lower bound {self.lower[i]} must be "
                                  f"below upper bound {self.upper[i]}")
        self.transform = ParameterTransform(self.lower, self.upper, transforms, self.names)
        self.transform.check_inside(self.mean, "prior mean (background)")

    @property
    def n(self) -> int:
        return self.mean.size

    def inside(self, theta) -> bool:
        """Whether ``theta`` is within the bounds (False for NaN)."""
        theta = np.asarray(theta)
        ok = (theta >= self.lower) & (theta <= self.upper)
        return 0 not in ok.tobytes()          # ok.all() (no False byte), without its overhead

    def finite_bounds(self, what) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``, or a `ConfigError` saying that ``what`` (e.g. "method 'de'
        searches the parameter box") needs them finite, naming the parameters without."""
        bad = [n for n, lo, up in zip(self.names, self.lower, self.upper)
               if not (np.isfinite(lo) and np.isfinite(up))]
        if bad:
            raise ConfigError(f"{what} and needs finite lower and upper bounds; {bad} have "
                              f"none: set 'lower' and 'upper' for them in [parameters] (or "
                              f"the prior)")
        return self.lower.copy(), self.upper.copy()

    def cost(self, theta) -> float:
        """Prior term ``J_b(theta)``, minus log density up to a constant."""
        raise NotImplementedError

    def gradient(self, theta) -> np.ndarray:
        raise NotImplementedError

    @property
    def scale(self) -> np.ndarray:
        """Square-root ``S`` of the prior covariance (lower triangular), for preconditioning."""
        raise NotImplementedError

    def sample(self, n, rng) -> np.ndarray:
        """``n`` draws, shape ``(n, n_param)``, from ``rng`` (a `numpy.random.Generator`)."""
        raise NotImplementedError


class GaussianPrior(Prior):
    """Gaussian prior ``N(mean, B)``, optionally truncated to bounds.

    Parameters
    ----------
    mean : array_like, shape (n_param,)
        Background ``theta_b``.
    covariance : array_like, shape (n_param,) or (n_param, n_param), optional
        Variances (diagonal B) or the full B.
    std : array_like, shape (n_param,), optional
        Standard deviations; alternative to a diagonal ``covariance``.
    lower, upper, names, transforms
        See `Prior`.

    Examples
    --------
    >>> p = GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]])
    >>> float(p.cost([2.0, 2.0]))
    0.5333333333333333
    """

    def __init__(self, mean, covariance=None, std=None, lower=-np.inf, upper=np.inf,
                 names=None, transforms=None):
        super().__init__(mean, lower, upper, names, transforms)
        if (covariance is None) == (std is None):
            raise ConfigError("GaussianPrior: give exactly one of covariance or std")
        if std is not None:
            covariance = check_std(std, self.names) ** 2
        cov = np.asarray(covariance, dtype=float)
        if cov.ndim == 1:
            cov = _vector(cov, self.n, self.names, "prior variances")
            for i, v in enumerate(cov):
                if not (np.isfinite(v) and v > 0):
                    raise ConfigError(f"parameter {self.names[i]!r}: prior variance must be "
                                      f"positive and finite, got {v}")
            cov = np.diag(cov)
        elif cov.shape != (self.n, self.n):
            raise ConfigError(f"prior covariance: expected shape ({self.n}, {self.n}), "
                              f"got {cov.shape}")
        self.covariance = cov
        self._chol = cholesky_factor(cov, "prior covariance B")
        # diagonal B: L^-1 d is d / diag(L), bit for bit what the triangular solve gives
        # for finite values (tests/unit/test_cost_fast_paths.py), without its call overhead
        self._sd = np.diag(self._chol).copy() if np.count_nonzero(self._chol) == self.n \
            else None

    @classmethod
    def from_model(cls, model, names=None):
        """The model's default prior from its parameter table (``model.parameters``).

        Parameters
        ----------
        model : Model
            Has ``parameters`` with ``default``, ``std``, ``lower``, ``upper``.
        names : sequence of str, optional
            Subset of parameters, in this order (default all).
        """
        table = {p.name: p for p in getattr(model, "parameters", ())}
        names = list(table) if names is None else list(names)
        missing = [n for n in names if n not in table]
        if missing:
            raise ConfigError(f"{model!r} has no parameter table entry for {missing}")
        ps = [table[n] for n in names]
        return cls([p.default for p in ps], std=[p.std for p in ps],
                   lower=[p.lower for p in ps], upper=[p.upper for p in ps], names=names)

    @property
    def scale(self):
        return self._chol

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    def _white(self, theta) -> tuple[np.ndarray, float]:
        """``z = L^-1 (theta - mean)`` and ``z @ z``.

        For a diagonal B, ``z`` is a division by the standard deviations when ``z @ z`` is
        finite (then every ``z`` is, and the solve gives the same bits); otherwise (an
        overflow or an infinite theta, where the solve spreads NaNs) the triangular solve.
        A division that overflows warns as numpy does.
        """
        d = np.asarray(theta, dtype=float) - self.mean
        if self._sd is not None and d.ndim == 1:
            z = d / self._sd
            zz = np.dot(z, z)
            if math.isfinite(zz):
                return z, zz
        z = solve_lower(self._chol, d)
        return z, np.dot(z, z)

    def whiten(self, theta) -> np.ndarray:
        """``L^-1 (theta - mean)``."""
        return self._white(theta)[0]

    def cost(self, theta):
        return 0.5 * float(self._white(theta)[1])

    def gradient(self, theta):
        z, zz = self._white(theta)
        if self._sd is not None and z.ndim == 1 and math.isfinite(zz):
            g = z / self._sd                      # L^-T z, diagonal L (as in `_white`)
            if math.isfinite(np.add.reduce(g)):
                return g
        return solve_lower(self._chol, z, transpose=True)

    def sample(self, n, rng, max_tries=1000):
        """Draws from ``N(mean, B)``; out-of-bounds draws are redrawn (truncated Gaussian)."""
        out = self.mean + rng.standard_normal((n, self.n)) @ self._chol.T
        for _ in range(max_tries):
            bad = ~np.all((out > self.lower) & (out < self.upper), axis=1)
            if not bad.any():
                return out
            out[bad] = self.mean + rng.standard_normal((int(bad.sum()), self.n)) @ self._chol.T
        raise ConfigError("GaussianPrior.sample: bounds reject almost every draw; "
                          "check the prior mean, covariance and bounds")


class UniformPrior(Prior):
    """Uniform prior on the box ``[lower, upper]`` (both bounds required).

    Parameters
    ----------
    lower, upper : array_like, shape (n_param,)
        Finite bounds.
    mean : array_like, optional
        Default start ``theta_b``; the box centre by default.
    names, transforms
        See `Prior`.
    """

    def __init__(self, lower, upper, mean=None, names=None, transforms=None):
        lower = np.atleast_1d(np.asarray(lower, dtype=float))
        upper = np.atleast_1d(np.asarray(upper, dtype=float))
        if lower.shape != upper.shape:
            raise ConfigError(f"UniformPrior: lower {lower.shape} and upper {upper.shape} differ")
        for i in range(lower.size):
            if not (np.isfinite(lower[i]) and np.isfinite(upper[i])):
                nm = names[i] if names is not None else f"theta[{i}]"
                raise ConfigError(f"parameter {nm!r}: a uniform prior needs finite lower "
                                  f"and upper bounds, got ({lower[i]}, {upper[i]})")
        if mean is None:
            mean = 0.5 * (lower + upper)
        super().__init__(mean, lower, upper, names, transforms)

    @property
    def scale(self):
        return np.diag((self.upper - self.lower) / np.sqrt(12.0))

    @property
    def std(self):
        return (self.upper - self.lower) / np.sqrt(12.0)

    def cost(self, theta):
        return 0.0 if self.inside(theta) else np.inf

    def gradient(self, theta):
        return np.zeros(self.n)

    def sample(self, n, rng):
        return self.lower + (self.upper - self.lower) * rng.random((n, self.n))
