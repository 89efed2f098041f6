"""Likelihoods of independent errors: ``student-t``, ``laplace``, ``heteroscedastic``.

Each needs independent errors (``std``; no full covariance or correlation length). With
``sigma'_i = s sigma_i / sqrt(w)`` (base std, ``sigma_scale``, weight) and ``q_i = r_i /
sigma'_i``:

* ``student-t`` (``nu`` > 2): a t error with standard deviation ``sigma'_i`` (scale
  ``tau_i = sigma'_i sqrt((nu - 2) / nu)``, which is why ``nu`` must exceed 2; ``nu`` and
  the scale then stay apart)::

      -log p_i = (nu + 1)/2 log(1 + q_i^2 / (nu - 2)) + log tau_i
                 - log G((nu + 1)/2) + log G(nu/2) + log(nu pi)/2

* ``laplace``: a double-exponential error with standard deviation ``sigma'_i`` (scale
  ``b_i = sigma'_i / sqrt 2``): ``-log p_i = sqrt2 |q_i| + log(2 b_i)``.
* ``heteroscedastic``: Gaussian with ``sigma_i = sigma_a + sigma_r |y_i|`` and ``y_i`` the
  *observed* value (BayesianTools' VSEM example and PEcAn use the same linear form; we take
  the observation, not the model's prediction, so the error model does not move with theta
  and the cost's derivative in theta stays the adjoint's). ``sigma_a`` defaults to the
  stream's std, ``sigma_r`` to 0; estimated, they are ``log_sigma_a``, ``log_sigma_r``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

from .base import HALF_LOG_2PI, SIGMA_SCALE, Hyper, Likelihood

NU = Hyper("nu", 10.0, "nu", False, (10.0, 10.0, 2.0, math.inf), 2.0, math.inf,
           "the error's standard deviation is finite only for nu > 2")
SIGMA_A = Hyper("sigma_a", None, "log_sigma_a", True, None)
SIGMA_R = Hyper("sigma_r", 0.0, "log_sigma_r", True, (math.log(0.1), 1.0, -math.inf, math.inf))
SQRT2 = math.sqrt(2.0)


class _Independent(Likelihood):
    """Independent errors: keeps the valid observations' std and values."""

    def _bind(self, stream):
        self.std = self._diagonal_std(stream, f"{self.name} errors are independent")
        self.abs_y = np.abs(stream.observed)

    def _sigma(self, v) -> np.ndarray:
        return v["sigma_scale"] / math.sqrt(self.weight) * self.std

    def _log_scale_cost(self, v) -> float:
        """The part of ``sum log sigma'_i`` that varies with the hyperparameters."""
        return self.n * math.log(v["sigma_scale"])


class StudentT(_Independent):
    """Student-t errors with standard deviation ``sigma'`` and ``nu`` degrees of freedom.

    Options: ``nu`` (fixed, default 10; estimated: prior N(10, 10) on (2, inf)),
    ``sigma_scale``.
    """

    name = "student-t"
    HYPERS = (SIGMA_SCALE, NU)

    def _evaluate(self, r, v, gradient):
        nu, sig = v["nu"], self._sigma(v)
        q = r / sig
        q2 = q * q
        log1p = np.log1p(q2 / (nu - 2.0))
        cost = 0.5 * (nu + 1.0) * float(np.sum(log1p))
        if self._normalised():
            cost += self._log_scale_cost(v) + self.n * (
                0.5 * math.log((nu - 2.0) / nu) - gammaln(0.5 * (nu + 1.0))
                + gammaln(0.5 * nu) + 0.5 * math.log(nu * math.pi))
        if not gradient:
            return cost, None, None
        ratio = q2 / (nu - 2.0 + q2)
        dr = (nu + 1.0) * q / (nu - 2.0 + q2) / sig
        dv = {"log_sigma_scale": -(nu + 1.0) * float(np.sum(ratio)) + self.n,
              "nu": 0.5 * float(np.sum(log1p)) - 0.5 * (nu + 1.0) / (nu - 2.0) * float(
                  np.sum(ratio)) + self.n * (0.5 / (nu - 2.0) - 0.5 * digamma(0.5 * (nu + 1.0))
                                             + 0.5 * digamma(0.5 * nu))}
        return cost, dr, dv

    def _log_density(self, r, v):
        nu, sig = v["nu"], self._sigma(v)
        tau = sig * math.sqrt((nu - 2.0) / nu)
        q2 = (r / sig) ** 2
        return (gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * math.log(nu * math.pi)
                - np.log(tau) - 0.5 * (nu + 1.0) * np.log1p(q2 / (nu - 2.0)))

    def _sample(self, v, rng):
        nu = v["nu"]
        return self._sigma(v) * math.sqrt((nu - 2.0) / nu) * rng.standard_t(nu, self.n)


class Laplace(_Independent):
    """Laplace (double-exponential) errors with standard deviation ``sigma'``.

    Options: ``sigma_scale``. The cost is not differentiable at a zero residual (its
    gradient there is taken as 0).
    """

    name = "laplace"

    def _evaluate(self, r, v, gradient):
        sig = self._sigma(v)
        absq = np.abs(r) / sig
        data = SQRT2 * float(np.sum(absq))
        cost = data + (self._log_scale_cost(v) if self._normalised() else 0.0)
        if not gradient:
            return cost, None, None
        return cost, SQRT2 * np.sign(r) / sig, {"log_sigma_scale": -data + self.n}

    def _log_density(self, r, v):
        b = self._sigma(v) / SQRT2
        return -np.log(2.0 * b) - np.abs(r) / b

    def _sample(self, v, rng):
        return rng.laplace(0.0, self._sigma(v) / SQRT2, self.n)


class Heteroscedastic(_Independent):
    """Gaussian errors with ``sigma_i = sigma_a + sigma_r |y_i|`` (observed ``y``).

    Options: ``sigma_a`` (default: the stream's std; estimating it needs a prior, of
    ``log sigma_a``, in the observations' units), ``sigma_r`` (default 0; estimated:
    prior N(log 0.1, 1) of ``log sigma_r``), ``sigma_scale``.
    """

    name = "heteroscedastic"
    HYPERS = (SIGMA_SCALE, SIGMA_A, SIGMA_R)

    def _base(self, v):
        a = self.std if v["sigma_a"] is None else v["sigma_a"]
        return a, a + v["sigma_r"] * self.abs_y

    def _sigma(self, v):
        return v["sigma_scale"] / math.sqrt(self.weight) * self._base(v)[1]

    def _evaluate(self, r, v, gradient):
        a, base = self._base(v)
        sig = v["sigma_scale"] / math.sqrt(self.weight) * base
        q2 = (r / sig) ** 2
        cost = 0.5 * float(np.sum(q2))
        if self._normalised():
            cost += self._log_scale_cost(v) + float(np.sum(np.log(base)))
        if not gradient:
            return cost, None, None
        dbase = (1.0 - q2) / base                         # d cost / d base_i (normalised)
        dv = {"log_sigma_scale": float(np.sum(1.0 - q2)),
              "log_sigma_a": float(np.sum(dbase * a)),
              "log_sigma_r": float(np.sum(dbase * v["sigma_r"] * self.abs_y))}
        return cost, r / sig ** 2, dv

    def _log_density(self, r, v):
        sig = self._sigma(v)
        return -0.5 * (r / sig) ** 2 - np.log(sig) - HALF_LOG_2PI

    def _sample(self, v, rng):
        return self._sigma(v) * rng.standard_normal(self.n)
