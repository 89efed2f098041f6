"""Gaussian likelihoods: the stream's own R (``gaussian``) and an AR(1) correlation (``ar1``).

``gaussian``: ``N(0, s^2 R / w)`` with R the stream's error covariance (std, full or
exponential) and ``s`` the ``sigma_scale``. With nothing estimated and ``s = 1`` it is
today's cost, ``0.5 w z.z`` (``z = L^-1 r``), bit for bit.

``ar1``: ``R_ij = sigma'_i sigma'_j rho^|k_i - k_j|`` with ``k`` the observation's step on
the stream's regular time grid (times ``t = t_0 + k dt``; missing values leave gaps, the
covariance stays the AR(1) process's at the observed steps). As in
`pdaframe.observations.error_models` (the same bidiagonal factor, with ``a_j = rho^(k_j -
k_{j-1})``, so ``rho`` may be negative), whitening, the log-determinant and their derivatives
in ``rho`` are O(n)::

    z_1 = x_1,   z_j = (x_j - a_j x_{j-1}) / sqrt(1 - a_j^2),   x = r / sigma' (time order)
    -log p = z.z / 2 + sum log sigma'_j + sum_j log(1 - a_j^2) / 2 + n log(2 pi) / 2
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import DataError
from .base import HALF_LOG_2PI, SIGMA_SCALE, Hyper, Likelihood, gaussian_log_density

RHO = Hyper("rho", 0.0, "rho", False, (0.0, 0.5, -1.0, 1.0), -1.0, 1.0,
            "an AR(1) correlation is stationary only for |rho| < 1")


class Gaussian(Likelihood):
    """``N(0, s^2 R / w)``: the stream's own error covariance, optionally scaled.

    Options: ``sigma_scale`` (default 1; estimated as ``log_sigma_scale``, default prior
    N(0, 1)).
    """

    name = "gaussian"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.gaussian = not self.estimated and self.options["sigma_scale"] == 1.0

    def _evaluate(self, r, v, gradient):
        z = self.error.whiten(r)
        data = 0.5 * self.weight * float(np.dot(z, z))
        s = v["sigma_scale"]
        cost = data if s == 1.0 else data / s ** 2
        if self._normalised():
            cost += self.n * math.log(s)
        if not gradient:
            return cost, None, None
        dr = self.weight * self.error.solve(r) / s ** 2
        return cost, dr, {"log_sigma_scale": -2.0 * data / s ** 2 + self.n}

    def _log_density(self, r, v):
        s = v["sigma_scale"]
        if s == 1.0:
            return gaussian_log_density(self.error, r, self.weight)
        return gaussian_log_density(self.error, r / s, self.weight) - math.log(s)

    def _sample(self, v, rng):
        return v["sigma_scale"] / math.sqrt(self.weight) * self.error.sample(rng)


def regular_steps(times, valid, what) -> np.ndarray:
    """Steps ``k`` of the valid ``times`` on the stream's regular grid, or a `DataError`.

    The grid step is the smallest positive difference of all the stream's times; every
    valid time must be a whole number of steps from the first.
    """
    t = np.asarray(times, dtype=float).reshape(-1)
    diffs = np.diff(np.unique(t))
    if diffs.size == 0:
        return np.zeros(int(np.sum(valid)))
    step = diffs.min()
    k = (t[valid] - t.min()) / step
    if np.any(np.abs(k - np.round(k)) > 1e-9 * np.maximum(1.0, np.abs(k))) or \
            np.unique(t[valid]).size != k.size:
        raise DataError(f"{what}: ar1 needs observation times on a regular step (every time a "
                        f"whole number of steps of {step:g} from the first, none repeated); "
                        f"for irregular times use correlation_length (exponential) with "
                        f"likelihood = \"gaussian\"")
    return np.round(k)


class AR1(Likelihood):
    """AR(1)-correlated Gaussian errors (see the module docstring), O(n).

    Options: ``rho`` (fixed, default 0; estimated: prior N(0, 0.5) on (-1, 1)),
    ``sigma_scale``. Needs independent ``std`` (no covariance or correlation length) and
    times on a regular step (a stream without times: one value per model step).
    """

    name = "ar1"
    HYPERS = (SIGMA_SCALE, RHO)

    def _bind(self, stream):
        self.std = self._diagonal_std(stream, "ar1 is the correlation")
        times = np.arange(stream.values.size) if stream.times is None else stream.times
        k = regular_steps(times, stream.mask, self.what)
        self.order = np.argsort(k, kind="stable")
        self.lag = np.diff(k[self.order]).astype(float)          # >= 1

    def _factor(self, r, v):
        """Sorted ``x``, ``a``, ``c = 1/sqrt(1 - a^2)`` and ``z`` (all length n)."""
        sig = v["sigma_scale"] * self.std[self.order] / math.sqrt(self.weight)
        x = r[self.order] / sig
        a = np.concatenate([[0.0], v["rho"] ** self.lag])
        c = 1.0 / np.sqrt(1.0 - a * a)
        z = x.copy()
        z[1:] -= a[1:] * x[:-1]
        return sig, x, a, c, c * z

    def _evaluate(self, r, v, gradient):
        sig, x, a, c, z = self._factor(r, v)
        data = 0.5 * float(z @ z)
        cost = data
        if self._normalised():
            cost += self.n * math.log(v["sigma_scale"]) - float(np.sum(np.log(c)))
        if not gradient:
            return cost, None, None
        g = c * z                                          # B^T z, B = bidiagonal factor
        g[:-1] -= c[1:] * a[1:] * z[1:]
        dr = np.empty_like(g)
        dr[self.order] = g / sig
        dv = {"log_sigma_scale": -2.0 * data + self.n}
        rho, lag = v["rho"], self.lag
        da = lag * rho ** (lag - 1.0)                      # d a_j / d rho, j >= 2
        dz = c[1:] ** 3 * (a[1:] * x[1:] - x[:-1])
        dv["rho"] = float(np.sum((z[1:] * dz - a[1:] * c[1:] ** 2) * da))
        return cost, dr, dv

    def _log_density(self, r, v):
        sig, _, _, c, z = self._factor(r, v)
        out = np.empty(self.n)
        out[self.order] = -0.5 * z * z - np.log(sig) + np.log(c) - HALF_LOG_2PI
        return out

    def _sample(self, v, rng):
        a = np.concatenate([[0.0], v["rho"] ** self.lag])
        e = rng.standard_normal(self.n) * np.sqrt(1.0 - a * a)
        x = np.empty(self.n)
        prev = 0.0
        for j in range(self.n):
            prev = x[j] = a[j] * prev + e[j]
        out = np.empty(self.n)
        out[self.order] = x * v["sigma_scale"] * self.std[self.order] / math.sqrt(self.weight)
        return out
