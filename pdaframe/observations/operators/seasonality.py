"""Normalised seasonality: per-year min-max normalisation of LAI/FAPAR (MacBean et al. 2015).

For the observations of year ``Y`` at model steps ``t``::

    u_t = (x_t - x_a) / (x_b - x_a),    a = argmin, b = argmax of x over Y's observation dates
    du_t/dx_s = [delta_ts - (1 - u_t) delta_sa - u_t delta_sb] / (x_b - x_a)

(Method notes §10). The derivative is undefined where the extreme is tied between two dates:
``ties="first"`` uses the first of the tied dates (a one-sided derivative, exact ties in
model output are rare), ``ties="raise"`` refuses with a `DataError`. A flat year
(``x_b = x_a``) is always a `DataError`. Observations are normalised the same way
(`NormalisedSeasonality.normalise`), with ``sigma_u = sigma_x / (x_b^obs - x_a^obs)``.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError
from ...interfaces import ObservationOperator


class NormalisedSeasonality(ObservationOperator):
    """Per-year min-max normalised output at the observation dates.

    Parameters
    ----------
    variable : str
        Model output, shape ``(n_time,)``.
    times : array_like of int, shape (n_obs,)
        Time index of each observation.
    years : array_like of int, shape (n_time,), optional
        Year (or any group label) of every model step.
    dates : array_like of datetime64 or str, shape (n_time,), optional
        Date of every model step (instead of ``years``).
    ties : {"first", "raise"}
        Handling of a tied minimum or maximum (see module docstring).
    """

    def __init__(self, variable, times, years=None, dates=None, ties="first"):
        self.variable = variable
        self.inputs = (variable,)
        what = self._what = f"normalised seasonality of {variable!r}"
        if (years is None) == (dates is None):
            raise ConfigError(f"{what}: give exactly one of years (one per model step) or "
                              f"dates")
        if dates is not None:
            years = np.asarray(dates, dtype="datetime64[D]").astype("datetime64[Y]")
            years = years.astype(np.int64) + 1970
        years = np.asarray(years).reshape(-1)
        if ties not in ("first", "raise"):
            raise ConfigError(f"{what}: ties {ties!r}, expected 'first' or 'raise'")
        self.ties = ties
        if times is None:
            raise ConfigError(f"{what}: needs the observations' time indices")
        idx = np.asarray(times)
        if idx.ndim != 1 or idx.size == 0 or not np.all(idx == np.round(idx)):
            raise ConfigError(f"{what}: times must be a non-empty 1-d sequence of integers")
        idx = idx.astype(np.intp)
        if idx.min() < 0 or idx.max() >= years.size:
            bad = int(idx[(idx < 0) | (idx >= years.size)][0])
            raise ConfigError(f"{what}: time index {bad} outside the {years.size} model steps "
                              f"given by years/dates")
        self.times, self.years = idx, years
        obs_years = years[idx]
        self.groups = []            # (year, obs positions, distinct model steps)
        for y in np.unique(obs_years):
            pos = np.flatnonzero(obs_years == y)
            steps = np.unique(idx[pos])
            if steps.size < 2:
                raise DataError(f"{what}: year {y} has observations on {steps.size} date; "
                                f"min-max normalisation needs at least two")
            self.groups.append((y, pos, steps))

    def _extremes(self, x):
        """Per observation: argmin step, argmax step and range of its year."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 1 or x.size != self.years.size:
            raise DataError(f"{self._what}: output shape {x.shape}, expected "
                            f"({self.years.size},) like years/dates")
        a = np.empty(self.times.size, dtype=np.intp)
        b = np.empty_like(a)
        for y, pos, steps in self.groups:
            v = x[steps]
            lo, hi = v.min(), v.max()
            if not hi > lo:
                raise DataError(f"{self._what}: year {y} is flat (min = max = {lo}) over its "
                                f"observation dates; it cannot be normalised")
            if self.ties == "raise":
                for label, ext in (("minimum", lo), ("maximum", hi)):
                    tied = steps[v == ext]
                    if tied.size > 1:
                        raise DataError(f"{self._what}: year {y}: {label} {ext} tied at "
                                        f"steps {tied.tolist()}; the derivative is undefined")
            a[pos], b[pos] = steps[np.argmin(v)], steps[np.argmax(v)]
        return x, a, b, x[b] - x[a]

    def apply(self, outputs):
        x, a, b, r = self._extremes(outputs[self.variable])
        return (x[self.times] - x[a]) / r

    def tangent(self, outputs, d_outputs):
        x, a, b, r = self._extremes(outputs[self.variable])
        u = (x[self.times] - x[a]) / r
        dx = np.asarray(d_outputs[self.variable], dtype=float)
        return (dx[self.times] - (1 - u) * dx[a] - u * dx[b]) / r

    def adjoint(self, outputs, d_obs):
        x, a, b, r = self._extremes(outputs[self.variable])
        u = (x[self.times] - x[a]) / r
        d = np.asarray(d_obs, dtype=float) / r
        out = np.zeros(x.size)
        np.add.at(out, self.times, d)
        np.add.at(out, a, -(1 - u) * d)
        np.add.at(out, b, -u * d)
        return {self.variable: out}

    def normalise(self, values, std=None):
        """Normalise observations per year over their valid values.

        Parameters
        ----------
        values : array_like, shape (n_obs,)
            Observations at ``times``; NaN where missing.
        std : float or array_like, optional
            Their error std.

        Returns
        -------
        u : ndarray, shape (n_obs,)
        std_u : ndarray, shape (n_obs,) or None
            ``std / (max - min)`` of the year's valid observations.
        """
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.size != self.times.size:
            raise DataError(f"{self._what}: {v.size} values for {self.times.size} times")
        u = np.full(v.size, np.nan)
        s = None if std is None else np.broadcast_to(np.asarray(std, float), v.shape) + 0.0
        for y, pos, _ in self.groups:
            ok = pos[np.isfinite(v[pos])]
            if ok.size < 2 or not np.ptp(v[ok]) > 0:
                raise DataError(f"{self._what}: year {y} has {ok.size} valid observations "
                                f"with range {np.ptp(v[ok]) if ok.size else 0}; need two "
                                f"distinct values to normalise")
            lo, rng = v[ok].min(), np.ptp(v[ok])
            u[pos] = (v[pos] - lo) / rng
            if s is not None:
                s[pos] = s[pos] / rng
        return u, s
