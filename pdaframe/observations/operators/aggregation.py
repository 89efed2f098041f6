"""Temporal aggregation: model steps -> windows (mean or sum) with a missing-data rule.

Windows are contiguous runs of model time steps ``[start, end)`` that tile a period with no
gap or overlap; the observation vector has one value per window. Each model step is *valid*
or not (e.g. the days on which a daily stream has an observation: mask the model like the
observations before averaging, Method notes §10). A window with ``n_v`` valid steps out of
``n_W`` is kept if ``n_v / n_W >= min_fraction`` (default 0.8, a rule of thumb); its mean is
taken over the valid steps, its sum is rescaled by ``n_W / n_v`` (``sums="rescale"``) or the
window is dropped unless complete (``sums="drop"``). Dropped windows give NaN in `apply`, so
the stream's observation there must be missing too (`TemporalAggregation.aggregate` builds
such observations from daily data).
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError
from ...interfaces import ObservationOperator

PERIODS = ("8-day", "monthly", "annual")


def window_edges(period, dates) -> np.ndarray:
    """Edges of calendar windows over consecutive daily ``dates``.

    Parameters
    ----------
    period : {"8-day", "monthly", "annual"}
        ``8-day`` windows restart on 1 January of each year (MODIS composites), so the last
        window of a year has 5 or 6 days.
    dates : array_like of datetime64 or str, shape (n_steps,)
        Date of each model step, consecutive days. Windows cut by the first or last date
        are kept as shorter windows.

    Returns
    -------
    ndarray of int, shape (n_window + 1,)
        Window ``k`` is the steps ``edges[k]:edges[k+1]``; ``edges[0] = 0``,
        ``edges[-1] = n_steps``.
    """
    d = np.asarray(dates, dtype="datetime64[D]").reshape(-1)
    if d.size == 0:
        raise ConfigError("temporal aggregation: no dates given")
    gaps = np.flatnonzero(np.diff(d) != np.timedelta64(1, "D"))
    if gaps.size:
        i = int(gaps[0])
        raise ConfigError(f"temporal aggregation: dates must be consecutive days; step {i + 1} "
                          f"is {d[i + 1]} after {d[i]}")
    years = d.astype("datetime64[Y]")
    if period == "annual":
        key = years.astype(np.int64)
    elif period == "monthly":
        key = d.astype("datetime64[M]").astype(np.int64)
    elif period == "8-day":
        doy = (d - years.astype("datetime64[D]")).astype(np.int64)
        key = years.astype(np.int64) * 100 + doy // 8
    else:
        raise ConfigError(f"temporal aggregation: period {period!r}, expected one of "
                          f"{PERIODS} or explicit window edges")
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return np.r_[starts, d.size].astype(np.intp)


def check_windows(windows, period=None, what="temporal aggregation") -> np.ndarray:
    """Validate windows that must tile a period; return their edges.

    Parameters
    ----------
    windows : array_like of int, shape (n_window + 1,) or (n_window, 2)
        Edges (time indices) or ``[start, end)`` pairs.
    period : (int, int), optional
        ``[start, stop)`` the windows must tile exactly.
    what : str
        Operator label for error messages.

    Raises
    ------
    ConfigError
        Naming the first bad window: empty or reversed, a gap or overlap with the previous
        one, or not covering the period.
    """
    w = np.asarray(windows)
    if w.ndim == 1 and w.size >= 2:
        pairs = np.stack([w[:-1], w[1:]], axis=1)
    elif w.ndim == 2 and w.shape[1] == 2 and w.shape[0] >= 1:
        pairs = w
    else:
        raise ConfigError(f"{what}: windows must be at least two edges or [start, end) pairs, "
                          f"got shape {w.shape}")
    if not (np.issubdtype(pairs.dtype, np.integer) or np.all(pairs == np.round(pairs))):
        raise ConfigError(f"{what}: window edges must be integer time indices")
    pairs = pairs.astype(np.intp)
    bad = np.flatnonzero(pairs[:, 1] <= pairs[:, 0])
    if bad.size:
        k = int(bad[0])
        raise ConfigError(f"{what}: window {k} [{pairs[k, 0]}, {pairs[k, 1]}) is empty or "
                          f"reversed; windows must tile the period")
    bad = np.flatnonzero(pairs[1:, 0] != pairs[:-1, 1])
    if bad.size:
        k = int(bad[0]) + 1
        kind = "a gap after" if pairs[k, 0] > pairs[k - 1, 1] else "an overlap with"
        raise ConfigError(f"{what}: window {k} [{pairs[k, 0]}, {pairs[k, 1]}) leaves {kind} "
                          f"window {k - 1} ending at {pairs[k - 1, 1]}; windows must tile the "
                          f"period")
    if pairs[0, 0] < 0:
        raise ConfigError(f"{what}: window 0 starts at negative time index {pairs[0, 0]}")
    if period is not None:
        start, stop = (int(p) for p in period)
        if pairs[0, 0] != start:
            raise ConfigError(f"{what}: window 0 starts at {pairs[0, 0]}, the period at "
                              f"{start}; windows must tile the period")
        if pairs[-1, 1] != stop:
            k = pairs.shape[0] - 1
            raise ConfigError(f"{what}: window {k} (the last) ends at {pairs[k, 1]}, the "
                              f"period at {stop}; windows must tile the period")
    return np.r_[pairs[:, 0], pairs[-1, 1]]


def mean_error_variance(covariance) -> float:
    """Error variance of the mean of ``n`` values with error covariance ``R_W``: 1ᵀR_W1/n².

    Parameters
    ----------
    covariance : array_like, shape (n, n)

    Returns
    -------
    float
        ``σ²`` for fully correlated equal errors, ``σ²/n`` for independent ones.
    """
    r = np.asarray(covariance, dtype=float)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise DataError(f"aggregated error: covariance must be a non-empty square matrix, "
                        f"got shape {r.shape}")
    return float(r.sum()) / r.shape[0] ** 2


class TemporalAggregation(ObservationOperator):
    """Window means or sums of a model output (one observation per window).

    Parameters
    ----------
    variable : str
        Model output, time first; extra axes are flattened in C order per window.
    windows : array_like of int
        Edges ``(n_window + 1,)`` or ``[start, end)`` pairs ``(n_window, 2)`` of time
        indices (see `window_edges` for calendar windows).
    statistic : {"mean", "sum"}
    valid : array_like of bool, shape (n_steps,), optional
        Valid model steps (default all); ``n_steps`` is the last window's end.
    min_fraction : float
        Keep a window if at least this fraction of its steps is valid (default 0.8).
    sums : {"rescale", "drop"}
        For sums: rescale a window's sum of valid steps by ``n_W / n_v``, or drop every
        incomplete window.
    n_steps : int, optional
        Length of the model's time axis, checked here; the windows must tile
        ``[0, n_steps)``. Outputs of another length are refused at `apply`.

    Attributes
    ----------
    kept : ndarray of bool, shape (n_window,)
        Windows that give a value (the others are NaN in `apply`).
    """

    def __init__(self, variable, windows, statistic="mean", valid=None, min_fraction=0.8,
                 sums="rescale", n_steps=None):
        self.variable = variable
        self.inputs = (variable,)
        what = f"temporal aggregation of {variable!r}"
        self._what = what
        if statistic not in ("mean", "sum"):
            raise ConfigError(f"{what}: statistic {statistic!r}, expected 'mean' or 'sum'")
        if sums not in ("rescale", "drop"):
            raise ConfigError(f"{what}: sums {sums!r}, expected 'rescale' or 'drop'")
        if not (0.0 < float(min_fraction) <= 1.0):
            raise ConfigError(f"{what}: min_fraction must be in (0, 1], got {min_fraction}")
        self.edges = check_windows(windows, None if n_steps is None else (0, n_steps), what)
        self.n_steps = n_steps
        stop = int(self.edges[-1])
        if valid is None:
            valid = np.ones(stop, dtype=bool)
        valid = np.asarray(valid)
        if valid.dtype != bool or valid.shape != (stop,):
            raise DataError(f"{what}: valid must be a boolean mask of the {stop} model steps "
                            f"the windows cover, got dtype {valid.dtype} shape {valid.shape}")
        self.valid = valid
        self.statistic, self.sums, self.min_fraction = statistic, sums, float(min_fraction)
        starts = self.edges[:-1]
        n_w = np.diff(self.edges)
        n_v = np.add.reduceat(valid[:stop].astype(np.intp), starts)
        kept = n_v >= self.min_fraction * n_w - 1e-12 * n_w
        kept &= n_v > 0
        if statistic == "sum" and sums == "drop":
            kept &= n_v == n_w
        self.kept, self.n_window, self.n_valid_steps = kept, n_w, n_v
        scale = np.where(kept, 1.0 / np.maximum(n_v, 1), 0.0)
        if statistic == "sum":
            scale = scale * n_w
        # weight of each step in its window's value
        self.weights = np.repeat(scale, n_w) * valid

    def _check(self, x):
        stop = int(self.edges[-1])
        if x.shape[0] != stop:
            k = self.edges.size - 2
            raise ConfigError(f"{self._what}: window {k} (the last) ends at {stop}, the model "
                              f"has {x.shape[0]} steps; windows must tile the period")

    def _reduce(self, x):
        x = np.asarray(x, dtype=float)
        self._check(x)
        stop = int(self.edges[-1])
        x = x[:stop].reshape(stop, -1)
        w = self.weights[:, None]
        y = np.add.reduceat(np.where(w != 0, w * x, 0.0), self.edges[:-1], axis=0)
        return y, x.shape[1]

    def apply(self, outputs):
        y, _ = self._reduce(outputs[self.variable])
        y[~self.kept] = np.nan
        return y.reshape(-1)

    def tangent(self, outputs, d_outputs):
        y, _ = self._reduce(d_outputs[self.variable])
        return y.reshape(-1)

    def adjoint(self, outputs, d_obs):
        x = np.asarray(outputs[self.variable])
        stop = int(self.edges[-1])
        d = np.asarray(d_obs, dtype=float).reshape(self.edges.size - 1, -1)
        d = np.where(self.kept[:, None], d, 0.0)
        out = np.zeros((x.shape[0], d.shape[1]))
        out[:stop] = np.repeat(d, self.n_window, axis=0) * self.weights[:, None]
        return {self.variable: out.reshape(x.shape)}

    def aggregate(self, values) -> np.ndarray:
        """Aggregate observed step values by the same rule (NaN for dropped windows).

        Parameters
        ----------
        values : array_like, shape (n_steps,)
            Observations on the model's steps, finite at every valid step.

        Returns
        -------
        ndarray, shape (n_window,)
        """
        v = np.asarray(values, dtype=float).reshape(-1)
        stop = int(self.edges[-1])
        if v.size != stop:
            raise DataError(f"{self._what}: {v.size} values to aggregate, expected {stop}")
        bad = np.flatnonzero(self.valid & ~np.isfinite(v))
        if bad.size:
            raise DataError(f"{self._what}: value at valid step {int(bad[0])} is {v[bad[0]]}; "
                            f"mark it invalid in 'valid'")
        y = np.add.reduceat(np.where(self.weights != 0, self.weights * v, 0.0), self.edges[:-1])
        return np.where(self.kept, y, np.nan)

    def error_std(self, std=None, covariance=None) -> np.ndarray:
        """Error std of each window's value from the step errors (NaN for dropped windows).

        The variance is ``wᵀ R_W w`` over the window's valid steps: ``1ᵀR_W1/n_v²`` for a
        mean, times ``n_W²`` for a rescaled sum (see `mean_error_variance`).

        Parameters
        ----------
        std : float or array_like, shape (n_steps,), optional
            Independent step errors.
        covariance : array_like, shape (n_steps, n_steps), optional
            Full step error covariance. Exactly one of ``std`` and ``covariance``.
        """
        stop = int(self.edges[-1])
        if (std is None) == (covariance is None):
            raise DataError(f"{self._what}: give exactly one of std or covariance")
        if std is not None:
            s = np.broadcast_to(np.asarray(std, dtype=float), (stop,))
            cov = None
        else:
            cov = np.asarray(covariance, dtype=float)
            if cov.shape != (stop, stop):
                raise DataError(f"{self._what}: covariance shape {cov.shape}, expected "
                                f"({stop}, {stop})")
        out = np.full(self.edges.size - 1, np.nan)
        for k in np.flatnonzero(self.kept):
            a, b = self.edges[k], self.edges[k + 1]
            w = self.weights[a:b]
            if cov is None:
                out[k] = np.sqrt(np.sum((w * s[a:b]) ** 2))
            else:
                out[k] = np.sqrt(w @ cov[a:b, a:b] @ w)
        return out
