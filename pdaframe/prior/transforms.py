"""Elementwise maps between physical parameters ``theta`` and unbounded ``phi``.

Per parameter, chosen from its bounds: ``identity`` (no bounds), ``log`` (lower bound only:
``theta = lower + exp(phi)``), ``neglog`` (upper bound only: ``theta = upper - exp(phi)``) and
``logit`` (both: ``theta = lower + (upper - lower) * expit(phi)``). Optimisers moving in ``phi``
never leave the box. Densities in ``phi`` need ``log_det_jacobian``; minimising
``J(theta(phi))`` needs only the chain rule (``dtheta_dphi``), the minimiser is unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from ..errors import ConfigError

KINDS = ("identity", "log", "neglog", "logit")


def default_kind(lower: float, upper: float) -> str:
    """Transform implied by a parameter's bounds."""
    lo, up = np.isfinite(lower), np.isfinite(upper)
    return {(False, False): "identity", (True, False): "log",
            (False, True): "neglog", (True, True): "logit"}[(bool(lo), bool(up))]


class ParameterTransform:
    """Vector transform ``theta <-> phi`` for parameters with box bounds.

    Parameters
    ----------
    lower, upper : array_like, shape (n_param,)
        Bounds; ``-inf``/``inf`` for none.
    kinds : sequence of str, optional
        One of ``KINDS`` (or ``None``: from the bounds) per parameter. ``identity`` is allowed
        with bounds (the minimiser may then step outside them: only for tests and experts).
    names : sequence of str, optional
        Parameter names, for error messages.
    """

    def __init__(self, lower, upper, kinds=None, names=None):
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        n = self.lower.size
        self.names = list(names) if names is not None else [f"theta[{i}]" for i in range(n)]
        if kinds is None:
            kinds = [None] * n
        self.kinds = [k or default_kind(lo, up) for k, lo, up in zip(kinds, self.lower, self.upper)]
        for name, kind, lo, up in zip(self.names, self.kinds, self.lower, self.upper):
            if kind not in KINDS:
                raise ConfigError(f"parameter {name!r}: transform {kind!r} unknown; "
                                  f"expected one of {', '.join(KINDS)}")
            needs = {"log": np.isfinite(lo), "neglog": np.isfinite(up),
                     "logit": np.isfinite(lo) and np.isfinite(up), "identity": True}[kind]
            if not needs:
                raise ConfigError(f"parameter {name!r}: transform {kind!r} needs the "
                                  f"bound(s) it maps onto; got lower={lo}, upper={up}")
        k = np.array(self.kinds)
        self._id, self._log = k == "identity", k == "log"
        self._neg, self._logit = k == "neglog", k == "logit"

    def check_inside(self, theta, what="theta"):
        """Raise `ConfigError` unless ``theta`` lies strictly inside the transformed bounds."""
        theta = np.asarray(theta, dtype=float)
        bad = ~np.isfinite(theta)
        bad |= (self._log | self._logit) & (theta <= self.lower)
        bad |= (self._neg | self._logit) & (theta >= self.upper)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConfigError(f"{what}: parameter {self.names[i]!r} = {float(theta[i])!r} is not "
                              f"strictly inside its bounds ({self.lower[i]}, {self.upper[i]})")

    def to_phi(self, theta) -> np.ndarray:
        """Physical -> unbounded."""
        theta = np.asarray(theta, dtype=float)
        phi = theta.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            phi[self._log] = np.log(theta[self._log] - self.lower[self._log])
            phi[self._neg] = np.log(self.upper[self._neg] - theta[self._neg])
            s = self._logit
            phi[s] = logit((theta[s] - self.lower[s]) / (self.upper[s] - self.lower[s]))
        return phi

    def to_theta(self, phi) -> np.ndarray:
        """Unbounded -> physical."""
        phi = np.asarray(phi, dtype=float)
        theta = phi.copy()
        theta[self._log] = self.lower[self._log] + np.exp(phi[self._log])
        theta[self._neg] = self.upper[self._neg] - np.exp(phi[self._neg])
        s = self._logit
        theta[s] = self.lower[s] + (self.upper[s] - self.lower[s]) * expit(phi[s])
        return theta

    def dtheta_dphi(self, phi) -> np.ndarray:
        """Diagonal of the Jacobian ``d theta / d phi`` (shape ``(n_param,)``)."""
        phi = np.asarray(phi, dtype=float)
        d = np.ones_like(phi)
        d[self._log] = np.exp(phi[self._log])
        d[self._neg] = -np.exp(phi[self._neg])
        s = self._logit
        e = expit(phi[s])
        d[s] = (self.upper[s] - self.lower[s]) * e * (1.0 - e)
        return d

    def log_det_jacobian(self, phi) -> float:
        """``sum(log|d theta / d phi|)``: add to a log-density in theta to get one in phi.

        In log form, so it stays finite where ``d theta / d phi`` underflows (a sampler's
        far jump): ``log`` / ``-log``: ``phi``; logit: ``log(up - lo) - softplus(phi) -
        softplus(-phi)``.
        """
        phi = np.asarray(phi, dtype=float)
        s = self._logit
        return float(np.sum(phi[self._log | self._neg]) + np.sum(
            np.log(self.upper[s] - self.lower[s]) - np.logaddexp(0.0, phi[s])
            - np.logaddexp(0.0, -phi[s])))
