"""Spatial aggregation: area-weighted mean over sites or pixels.

Either one output with a site/pixel axis after time, shape ``(n_time, n_site)``, or several
outputs of shape ``(n_time,)`` (one per site). The mean is ``sum_s w_s x_s / sum_s w_s``
with non-negative weights (areas or area fractions), not all zero. The operator is linear.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError
from ...interfaces import ObservationOperator
from .times import time_indices


class SpatialMean(ObservationOperator):
    """Area-weighted mean over sites/pixels, optionally at given time indices.

    Parameters
    ----------
    variable : str or sequence of str
        One output ``(n_time, n_site)`` or several outputs ``(n_time,)``.
    weights : array_like, shape (n_site,)
        Areas (any units); finite, non-negative, not all zero.
    times : array_like of int, shape (n_obs,), optional
        Time indices of the observations (default every step).
    """

    def __init__(self, variable, weights, times=None):
        self.variables = (variable,) if isinstance(variable, str) else tuple(variable)
        if not self.variables:
            raise ConfigError("spatial mean: no model outputs given")
        self.inputs = self.variables
        self._what = f"spatial mean of {', '.join(map(repr, self.variables))}"
        w = np.asarray(weights, dtype=float)
        if w.ndim != 1 or w.size == 0:
            raise ConfigError(f"{self._what}: weights must be a 1-d sequence, got shape "
                              f"{w.shape}")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise ConfigError(f"{self._what}: weight {int(bad[0])} is {w[bad[0]]}; weights "
                              f"must be finite and non-negative")
        if not w.any():
            raise ConfigError(f"{self._what}: all weights are zero")
        if len(self.variables) > 1 and w.size != len(self.variables):
            raise ConfigError(f"{self._what}: {w.size} weights for {len(self.variables)} "
                              f"outputs")
        self.weights = w / w.sum()
        self.times = time_indices(times, self._what)

    def _stack(self, outputs):
        """Outputs as one ``(n_time, n_site)`` array."""
        if len(self.variables) == 1:
            x = np.asarray(outputs[self.variables[0]], dtype=float)
            if x.ndim != 2 or x.shape[1] != self.weights.size:
                raise DataError(f"{self._what}: output shape {x.shape}, expected (n_time, "
                                f"{self.weights.size}) with one column per weight")
            return x
        cols = [np.asarray(outputs[v], dtype=float) for v in self.variables]
        for v, c in zip(self.variables, cols):
            if c.shape != cols[0].shape or c.ndim != 1:
                raise DataError(f"{self._what}: output {v!r} has shape {c.shape}, expected "
                                f"({cols[0].shape[0]},) like {self.variables[0]!r}")
        return np.stack(cols, axis=1)

    def _rows(self, n_time):
        if self.times is None:
            return slice(None)
        if self.times.size and self.times.max() >= n_time:
            raise ConfigError(f"{self._what}: time index {int(self.times.max())} beyond the "
                              f"model's {n_time} steps")
        return self.times

    def apply(self, outputs):
        x = self._stack(outputs)
        return x[self._rows(x.shape[0])] @ self.weights

    def tangent(self, outputs, d_outputs):
        return self.apply(d_outputs)

    def adjoint(self, outputs, d_obs):
        x = self._stack(outputs)
        d = np.zeros(x.shape[0])
        rows = self._rows(x.shape[0])
        if self.times is None:
            d += np.asarray(d_obs, dtype=float)
        else:
            np.add.at(d, rows, np.asarray(d_obs, dtype=float))
        g = d[:, None] * self.weights[None, :]
        if len(self.variables) == 1:
            return {self.variables[0]: g}
        return {v: g[:, i].copy() for i, v in enumerate(self.variables)}
