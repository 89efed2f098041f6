"""Observation bias: ``h~ = h + beta0`` (additive) or ``beta1 * h`` (multiplicative).

`Bias` wraps any operator and appends one parameter, with a prior centred on 0 (additive)
or 1 (multiplicative) (Cameron et al. 2022; Raoult et al. 2025 §3.2). It follows the
parameterised-operator protocol of `pdaframe.observations.operators.sif`: ``parameters``,
``params`` arguments, ``param_tangent`` and ``param_adjoint``; the wrapped operator's own
parameters (if any) come first.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import ConfigError
from ...interfaces import ObservationOperator, Parameter
from .sif import resolve_params


def _call(operator, method, *args, params=None):
    """Call ``operator.method``, passing ``params`` only to parameterised operators."""
    if getattr(operator, "parameters", ()):
        return getattr(operator, method)(*args, params=params)
    return getattr(operator, method)(*args)


class Bias(ObservationOperator):
    """Add an additive or multiplicative bias parameter to an operator.

    Parameters
    ----------
    operator : ObservationOperator
        The operator to correct.
    kind : {"additive", "multiplicative"}
    std : float
        Prior standard deviation of the bias parameter (default 1 for additive, 0.1 for
        multiplicative, in the observations' units / dimensionless).
    name : str, optional
        Parameter name (default ``bias_beta0`` / ``bias_beta1``).
    lower, upper : float
        Bounds (default unbounded for additive, ``(0, inf)`` for multiplicative).
    """

    def __init__(self, operator, kind="additive", std=None, name=None, lower=None, upper=None):
        if kind not in ("additive", "multiplicative"):
            raise ConfigError(f"bias operator: kind {kind!r}, expected 'additive' or "
                              f"'multiplicative'")
        if not callable(getattr(operator, "apply", None)):
            raise ConfigError(f"bias operator: {operator!r} is not an observation operator")
        self.operator, self.kind = operator, kind
        self.inputs = tuple(getattr(operator, "inputs", ()))
        additive = kind == "additive"
        std = (1.0 if additive else 0.1) if std is None else float(std)
        name = name or ("bias_beta0" if additive else "bias_beta1")
        self._what = f"{kind} bias {name!r} on {self.inputs}"
        if not (np.isfinite(std) and std > 0):
            raise ConfigError(f"{self._what}: std must be positive, got {std}")
        lower = (-math.inf if additive else 0.0) if lower is None else float(lower)
        upper = math.inf if upper is None else float(upper)
        default = 0.0 if additive else 1.0
        if not lower < default < upper:
            raise ConfigError(f"{self._what}: bounds [{lower}, {upper}] must contain the prior "
                              f"centre {default}")
        inner = tuple(getattr(operator, "parameters", ()))
        beta = Parameter(name, default, lower, upper, std,
                         long_name=f"{kind} observation bias")
        self.parameters = inner + (beta,)
        self._n_inner = len(inner)

    def _split(self, params):
        p = resolve_params(self, params)
        return (p[:self._n_inner] if self._n_inner else None), float(p[-1])

    def apply(self, outputs, params=None):
        inner, beta = self._split(params)
        h = np.asarray(_call(self.operator, "apply", outputs, params=inner), dtype=float)
        return h + beta if self.kind == "additive" else beta * h

    def tangent(self, outputs, d_outputs, params=None):
        inner, beta = self._split(params)
        d = np.asarray(_call(self.operator, "tangent", outputs, d_outputs, params=inner))
        return d if self.kind == "additive" else beta * d

    def adjoint(self, outputs, d_obs, params=None):
        inner, beta = self._split(params)
        d = np.asarray(d_obs, dtype=float)
        if self.kind == "multiplicative":
            d = beta * d
        return _call(self.operator, "adjoint", outputs, d, params=inner)

    def param_tangent(self, outputs, params, d_params) -> np.ndarray:
        """Derivative along ``d_params`` (shape ``(n_params,)``); shape ``(n_obs,)``."""
        inner, beta = self._split(params)
        dp = resolve_params(self, d_params)
        h = np.asarray(_call(self.operator, "apply", outputs, params=inner), dtype=float)
        h = np.where(np.isfinite(h), h, 0.0)      # dropped values (NaN) have no sensitivity
        out = dp[-1] * (np.ones_like(h) if self.kind == "additive" else h)
        if self._n_inner:
            d_in = self.operator.param_tangent(outputs, inner, dp[:-1])
            out = out + (d_in if self.kind == "additive" else beta * d_in)
        return out

    def param_adjoint(self, outputs, params, d_obs) -> np.ndarray:
        """Gradient with respect to the parameters of ``d_obs · apply``; ``(n_params,)``."""
        inner, beta = self._split(params)
        d = np.asarray(d_obs, dtype=float)
        if self.kind == "additive":
            g_beta = float(d.sum())
        else:
            h = np.asarray(_call(self.operator, "apply", outputs, params=inner), dtype=float)
            g_beta = float(np.where(np.isfinite(h), h, 0.0) @ d)
        if not self._n_inner:
            return np.array([g_beta])
        d_in = d if self.kind == "additive" else beta * d
        return np.r_[self.operator.param_adjoint(outputs, inner, d_in), g_beta]
