"""CDF matching: quantile mapping of model output onto the observed distribution.

``y* = F_obs^-1(F_model(x))`` (Reichle & Koster 2004), estimated as in pytesmo's
``CDFMatching`` (``TUW-GEO/pytesmo:src/pytesmo/cdf_matching.py``): percentiles of the
co-located model and observed series (only where both are valid) at ``nbins`` bins
(default 100; fewer when a bin would hold less than ``minobs = 20`` values, one bin being
a linear regression), Matlab-style percentiles, the outer knots of the observed side set by
linear regression on the lowest/highest bin (``linear_edge_scaling``), and a piecewise-linear
map through the knots, extended linearly beyond them.

The map is fitted **once** (on the prior or a reference run, `CDFMatching.fit`) and then
fixed: refitting inside the minimisation would absorb the parameters' effect on mean and
variance. The fixed map is piecewise linear, so the tangent is its slope at ``x``; at a knot
it is the slope of the segment on the right (a one-sided derivative; the last knot uses the
left segment).
"""
from __future__ import annotations

import logging

import numpy as np

from ...errors import ConfigError, DataError
from ...interfaces import ObservationOperator
from .times import time_indices

log = logging.getLogger(__name__)


def _percentiles_sorted(data, percentiles):
    """Matlab/IDL percentiles of sorted ``data``; repeated values are re-interpolated."""
    rank = 100.0 * (np.arange(data.size) + 0.5) / data.size
    perc = np.interp(percentiles, rank, data, left=data[0], right=data[-1])
    _, first = np.unique(perc, return_index=True)
    if 1 < first.size < perc.size:
        perc = _pw_linear(percentiles[first], perc[first], percentiles)[0]
    return perc


def _resample(sorted_x, n):
    return _percentiles_sorted(sorted_x, np.arange(n, dtype=float) / (n - 1) * 100.0)


def _slope(x, y):
    a, *_ = np.linalg.lstsq(x.reshape(-1, 1), y, rcond=None)
    return float(a[0])


def _pw_linear(xk, yk, x):
    """Piecewise-linear map through knots ``(xk, yk)``, extended linearly; value and slope."""
    x = np.asarray(x, dtype=float)
    seg = np.clip(np.searchsorted(xk, x, side="right") - 1, 0, xk.size - 2)
    slope = (yk[seg + 1] - yk[seg]) / (xk[seg + 1] - xk[seg])
    return yk[seg] + slope * (x - xk[seg]), slope


def fit_cdf_matching(model, observed, nbins=100, minobs=20, linear_edge_scaling=True):
    """Knots of the CDF-matching map of ``model`` values onto ``observed`` ones.

    Parameters
    ----------
    model, observed : array_like, shape (n,)
        Co-located series; pairs with a non-finite value on either side are dropped.
    nbins : int
        Number of percentile bins (knots ``nbins + 1``).
    minobs : int
        Minimum values per bin; the bins are reduced when there are fewer.
    linear_edge_scaling : bool
        Set the outer observed knots by regression on the edge bins.

    Returns
    -------
    xk, yk : ndarray, shape (n_knot,)
        Model and observed knots, ``xk`` strictly increasing.

    Raises
    ------
    DataError
        Fewer than ``minobs`` valid pairs, or a model series too concentrated to give
        increasing knots.
    """
    x = np.asarray(model, dtype=float).reshape(-1)
    y = np.asarray(observed, dtype=float).reshape(-1)
    if x.size != y.size:
        raise DataError(f"cdf matching: {x.size} model values but {y.size} observations; "
                        f"the series must be co-located")
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if nbins < 1 or (minobs is not None and minobs < 1):
        raise ConfigError(f"cdf matching: nbins and minobs must be positive, got {nbins}, "
                          f"{minobs}")
    if minobs is not None and n < minobs:
        raise DataError(f"cdf matching: {n} valid co-located values, at least minobs = "
                        f"{minobs} needed")
    xs, ys = np.sort(x[ok]), np.sort(y[ok])
    if not np.ptp(xs) > 0:
        raise DataError(f"cdf matching: the model values are all equal ({xs[0]}); no map")
    bins = nbins
    if minobs is not None and n / nbins < minobs:
        bins = max(1, min(nbins, n // minobs))
        log.info("cdf matching: %d bins reduced to %d for %d values (minobs %d)",
                 nbins, bins, n, minobs)
    if bins == 1 and linear_edge_scaling:
        xc = x[ok] - x[ok].mean()
        slope = _slope(xc, y[ok] - y[ok].mean())
        icpt = y[ok].mean() - x[ok].mean() * slope
        return np.array([0.0, 1.0]), np.array([icpt, icpt + slope])
    pct = np.linspace(0.0, 100.0, bins + 1)
    xk, yk = _percentiles_sorted(xs, pct), _percentiles_sorted(ys, pct)
    if linear_edge_scaling:
        for lo, inner, outer in ((True, 1, 0), (False, -2, -1)):
            sel_x = xs <= xk[inner] if lo else xs >= xk[inner]
            sel_y = ys <= yk[inner] if lo else ys >= yk[inner]
            xe, ye = xs[sel_x] - xk[inner], ys[sel_y] - yk[inner]
            if xe.size != ye.size:
                xe = _resample(xe, ye.size) if ye.size > 1 else xe[:1]
            yk[outer] = yk[inner] + _slope(xe, ye) * (xk[outer] - xk[inner])
    if np.any(np.diff(xk) <= 0):
        raise DataError("cdf matching: model percentiles are not strictly increasing "
                        "(too many equal values); use fewer bins")
    return xk, yk


class CDFMatching(ObservationOperator):
    """Fixed CDF-matching map of a model output at the observation times.

    Parameters
    ----------
    variable : str
        Model output (e.g. surface soil moisture), shape ``(n_time,)``.
    times : array_like of int, shape (n_obs,), optional
        Time index of each observation (default every step).
    knots : (array_like, array_like), optional
        Model and observed knots of an already fitted map; otherwise call `fit` once.
    nbins, minobs, linear_edge_scaling
        Fitting options (see `fit_cdf_matching`).
    """

    def __init__(self, variable, times=None, knots=None, nbins=100, minobs=20,
                 linear_edge_scaling=True):
        self.variable = variable
        self.inputs = (variable,)
        self._what = f"cdf matching of {variable!r}"
        self.options = {"nbins": int(nbins), "minobs": minobs,
                        "linear_edge_scaling": bool(linear_edge_scaling)}
        self.times = time_indices(times, self._what)
        self.knots = None
        if knots is not None:
            xk, yk = (np.asarray(k, dtype=float).reshape(-1) for k in knots)
            if xk.size < 2 or xk.size != yk.size or np.any(np.diff(xk) <= 0) or \
                    not np.all(np.isfinite(yk)):
                raise ConfigError(f"{self._what}: knots must be two equal-length sequences "
                                  f"(at least 2) with strictly increasing model knots")
            self.knots = (xk, yk)

    def _take(self, x):
        x = np.asarray(x, dtype=float)
        if x.ndim != 1:
            raise DataError(f"{self._what}: output shape {x.shape}, expected (n_time,)")
        if self.times is None:
            return x
        if self.times.size and self.times.max() >= x.size:
            raise ConfigError(f"{self._what}: time index {int(self.times.max())} beyond the "
                              f"model's {x.size} steps")
        return x[self.times]

    @property
    def needs_fit(self) -> bool:
        """True until the map is fitted (`pdaframe.Problem.fit_operators` does it)."""
        return self.knots is None

    def fit(self, outputs, observed) -> "CDFMatching":
        """Fit the map once on a reference run's ``outputs`` and the observed values."""
        self.knots = fit_cdf_matching(self._take(outputs[self.variable]), observed,
                                      **self.options)
        return self

    def _map(self, x):
        if self.knots is None:
            raise ConfigError(f"{self._what}: not fitted; call fit(outputs, observed) once "
                              f"on a reference run or give knots")
        return _pw_linear(*self.knots, x)

    def apply(self, outputs):
        return self._map(self._take(outputs[self.variable]))[0]

    def tangent(self, outputs, d_outputs):
        slope = self._map(self._take(outputs[self.variable]))[1]
        return slope * self._take(d_outputs[self.variable])

    def adjoint(self, outputs, d_obs):
        x = np.asarray(outputs[self.variable], dtype=float)
        slope = self._map(self._take(x))[1]
        d = slope * np.asarray(d_obs, dtype=float)
        out = np.zeros(x.shape)
        if self.times is None:
            out += d
        else:
            np.add.at(out, self.times, d)
        return {self.variable: out}
