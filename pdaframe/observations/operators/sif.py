"""Solar-induced fluorescence: ``SIF = a GPP + b`` (MacBean et al. 2018, Sci. Rep. 8:1973).

``a`` (per plant functional type) and ``b`` are fixed, or estimated with the model
parameters. An operator with parameters declares them in ``parameters`` (a tuple of
`pdaframe.plugin.Parameter`: default, bounds, prior std) and takes their values, in that
order, as ``params`` in every method, plus ``param_tangent`` and ``param_adjoint`` for the
derivatives with respect to them (the protocol `Problem` uses to append operator parameters
to θ).
Overpass (instantaneous) versus daily timing is not converted here: scale ``a`` or the
observations accordingly.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import ConfigError
from ...interfaces import ObservationOperator, Parameter
from .times import time_indices


def resolve_params(operator, params) -> np.ndarray:
    """``params`` as an array of ``len(operator.parameters)`` (defaults when ``None``)."""
    defaults = np.array([p.default for p in operator.parameters], dtype=float)
    if params is None:
        return defaults
    p = np.asarray(params, dtype=float).reshape(-1)
    if p.size != defaults.size:
        names = [q.name for q in operator.parameters]
        raise ConfigError(f"{operator._what}: {p.size} parameter values for its "
                          f"{defaults.size} parameters {names}")
    return p


class SIF(ObservationOperator):
    """``SIF = a * GPP + b`` at every step or at given time indices.

    Parameters
    ----------
    variable : str
        GPP output, shape ``(n_time,)``.
    times : array_like of int, shape (n_obs,), optional
        Time index of each observation (default every step).
    a, b : float
        Slope and offset (fixed values, or prior means when estimated).
    estimate : bool or sequence of {"a", "b"}
        Which of ``a``, ``b`` are parameters (``True``: both).
    a_std, b_std : float
        Prior standard deviations of estimated ``a``/``b`` (required for those).
    a_bounds, b_bounds : (float, float)
        Bounds of ``a`` (default ``(0, inf)``) and ``b`` (unbounded).
    prefix : str
        Parameter names are ``<prefix>_a``, ``<prefix>_b``.
    """

    def __init__(self, variable, times=None, a=1.0, b=0.0, estimate=False, a_std=math.nan,
                 b_std=math.nan, a_bounds=(0.0, math.inf), b_bounds=(-math.inf, math.inf),
                 prefix="sif"):
        self.variable = variable
        self.inputs = (variable,)
        self._what = f"sif operator for {variable!r}"
        est = ("a", "b") if estimate is True else () if estimate is False else tuple(estimate)
        unknown = [e for e in est if e not in ("a", "b")]
        if unknown:
            raise ConfigError(f"{self._what}: estimate {unknown}, expected 'a' and/or 'b'")
        spec = {"a": (a, a_std, a_bounds, "SIF/GPP slope"), "b": (b, b_std, b_bounds,
                                                                 "SIF offset")}
        params = []
        for name in ("a", "b"):
            value, std, (lo, hi), long = spec[name]
            if not (np.isfinite(value) and lo <= value <= hi):
                raise ConfigError(f"{self._what}: {name} = {value} outside its bounds "
                                  f"[{lo}, {hi}]")
            if name in est:
                if not (np.isfinite(std) and std > 0):
                    raise ConfigError(f"{self._what}: estimated {name} needs a positive "
                                      f"{name}_std, got {std}")
                params.append(Parameter(f"{prefix}_{name}", float(value), float(lo), float(hi),
                                        float(std), long_name=long))
        self.parameters = tuple(params)
        self._estimated = tuple(n for n in ("a", "b") if n in est)
        self._fixed = {"a": float(a), "b": float(b)}
        self.times = time_indices(times, self._what)

    def _ab(self, params):
        vals = dict(self._fixed)
        vals.update(zip(self._estimated, resolve_params(self, params)))
        return vals["a"], vals["b"]

    def _take(self, x):
        x = np.asarray(x, dtype=float)
        if x.ndim != 1:
            raise ConfigError(f"{self._what}: output shape {x.shape}, expected (n_time,)")
        if self.times is None:
            return x
        if self.times.size and self.times.max() >= x.shape[0]:
            raise ConfigError(f"{self._what}: time index {int(self.times.max())} beyond the "
                              f"model's {x.shape[0]} steps")
        return x[self.times]

    def _scatter(self, outputs, d):
        out = np.zeros(np.shape(outputs[self.variable]))
        if self.times is None:
            out += d
        else:
            np.add.at(out, self.times, d)
        return out

    def apply(self, outputs, params=None):
        a, b = self._ab(params)
        return a * self._take(outputs[self.variable]) + b

    def tangent(self, outputs, d_outputs, params=None):
        a, _ = self._ab(params)
        return a * self._take(d_outputs[self.variable])

    def adjoint(self, outputs, d_obs, params=None):
        a, _ = self._ab(params)
        return {self.variable: self._scatter(outputs, a * np.asarray(d_obs, dtype=float))}

    def param_tangent(self, outputs, params, d_params) -> np.ndarray:
        """Derivative along ``d_params`` (shape ``(n_params,)``); shape ``(n_obs,)``."""
        x = self._take(outputs[self.variable])
        dp = dict(zip(self._estimated, resolve_params(self, d_params)))
        return dp.get("a", 0.0) * x + dp.get("b", 0.0)

    def param_adjoint(self, outputs, params, d_obs) -> np.ndarray:
        """Gradient with respect to the parameters of ``d_obs · apply``; ``(n_params,)``."""
        x = self._take(outputs[self.variable])
        d = np.asarray(d_obs, dtype=float)
        grads = {"a": float(x @ d), "b": float(d.sum())}
        return np.array([grads[n] for n in self._estimated])
