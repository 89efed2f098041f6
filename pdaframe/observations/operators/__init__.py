"""Observation operators: identity, selection by time index, and the operators of the
submodules (`aggregation`, `spatial`, `sif`, `seasonality`, `cdf`, `bias`, `mlp`) with their config
factories: ``identity`` and ``select`` in `BASIC_FACTORIES`, the others in `FACTORIES`.

Identity and Select are linear, so ``tangent`` is ``apply`` on the perturbation and ``adjoint`` scatters the
observation-space vector back onto the output's time axis. Outputs with extra axes beyond
time are flattened in C order after selecting times.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...interfaces import ObservationOperator

_F8 = np.dtype(float)


class Identity(ObservationOperator):
    """Observe output ``variable`` at every model time step.

    Parameters
    ----------
    variable : str
        Name of the model output.
    """

    def __init__(self, variable: str):
        self.variable = variable
        self.inputs = (variable,)

    def apply(self, outputs):
        x = outputs[self.variable]
        if type(x) is np.ndarray and x.dtype is _F8 and x.ndim == 1:
            return x                                  # as is (the usual case: no calls)
        return np.asarray(x, dtype=float).reshape(-1)

    def tangent(self, outputs, d_outputs):
        return self.apply(d_outputs)

    def adjoint(self, outputs, d_obs):
        shape = np.shape(outputs[self.variable])
        return {self.variable: np.asarray(d_obs, dtype=float).reshape(shape)}


class Select(ObservationOperator):
    """Observe output ``variable`` at the given time indices.

    Parameters
    ----------
    variable : str
        Name of the model output.
    index : array_like of int, shape (n_obs,)
        Index into the output's time axis of each observation (repeats allowed).
    """

    def __init__(self, variable: str, index):
        self.variable = variable
        self.inputs = (variable,)
        idx = np.asarray(index)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)
                             and not np.all(idx == np.round(idx))):
            raise ConfigError(f"select operator for {variable!r}: time indices must be a "
                              f"1-d sequence of integers")
        self.index = idx.astype(np.intp)
        if self.index.size and self.index.min() < 0:
            raise ConfigError(f"select operator for {variable!r}: negative time index "
                              f"{int(self.index.min())}")
        self._max = int(self.index.max()) if self.index.size else -1

    def _check(self, x):
        if self._max >= x.shape[0]:
            raise ConfigError(f"select operator for {self.variable!r}: time index "
                              f"{self._max} beyond the model's {x.shape[0]} steps")

    def apply(self, outputs):
        x = np.asarray(outputs[self.variable], dtype=float)
        self._check(x)
        return x[self.index].reshape(-1)

    def tangent(self, outputs, d_outputs):
        return self.apply(d_outputs)

    def adjoint(self, outputs, d_obs):
        x = np.asarray(outputs[self.variable])
        out = np.zeros(x.shape)
        d = np.asarray(d_obs, dtype=float).reshape((self.index.size,) + x.shape[1:])
        np.add.at(out, self.index, d)
        return {self.variable: out}


# --- operators of issue 6 and their config factories ------------------------------------------
from .aggregation import TemporalAggregation, mean_error_variance, window_edges  # noqa: E402
from .bias import Bias  # noqa: E402
from .cdf import CDFMatching, fit_cdf_matching  # noqa: E402
from .mlp import MLP, MLPOperator  # noqa: E402
from .mlp_train import mlp_operator, train_mlp  # noqa: E402
from .seasonality import NormalisedSeasonality  # noqa: E402
from .sif import SIF  # noqa: E402
from .spatial import SpatialMean  # noqa: E402


def _dates(name, variable, dates=None, start=None, n_steps=None):
    """Daily dates of the model steps from ``dates`` or ``start`` + ``n_steps``."""
    if dates is not None:
        return np.asarray(dates, dtype="datetime64[D]")
    if start is None or n_steps is None:
        return None
    try:
        first = np.datetime64(start, "D")
    except ValueError as err:
        raise ConfigError(f"{name} operator for {variable!r}: start {start!r} is not a date "
                          f"(YYYY-MM-DD)") from err
    return first + np.arange(int(n_steps))


def _aggregate(variable, times=None, statistic="mean", period=None, windows=None, dates=None,
               start=None, n_steps=None, valid=None, min_fraction=0.8, sums="rescale"):
    d = _dates("aggregate", variable, dates, start, n_steps)
    if (period is None) == (windows is None):
        raise ConfigError(f"aggregate operator for {variable!r}: give exactly one of period "
                          f"(8-day, monthly, annual) or windows")
    if period is not None:
        if d is None:
            raise ConfigError(f"aggregate operator for {variable!r}: period {period!r} needs "
                              f"the model dates ('dates', or 'start' and 'n_steps')")
        windows = window_edges(period, d)
    op = TemporalAggregation(variable, windows, statistic=statistic,
                             valid=None if valid is None else np.asarray(valid, dtype=bool),
                             min_fraction=min_fraction, sums=sums,
                             n_steps=None if d is None else d.size)
    if times is not None and len(times) != op.edges.size - 1:
        raise ConfigError(f"aggregate operator for {variable!r}: the stream has {len(times)} "
                          f"values, the operator {op.edges.size - 1} windows (one per value)")
    return op


def _spatial_mean(variable, times=None, weights=None, variables=None):
    if weights is None:
        raise ConfigError(f"spatial_mean operator for {variable!r}: needs 'weights'")
    return SpatialMean(variables or variable, weights, times=times)


def _seasonality(variable, times=None, years=None, dates=None, start=None, n_steps=None,
                 ties="first"):
    d = _dates("normalised_seasonality", variable, dates, start, n_steps)
    return NormalisedSeasonality(variable, times, years=years, dates=d, ties=ties)


def _identity(variable, times=None):
    if times is not None and not np.array_equal(np.asarray(times), np.arange(len(times))):
        raise ConfigError(f"identity operator for {variable!r} observes every model step; "
                          f"use the 'select' operator for observations at given times")
    return Identity(variable)


def _select(variable, times=None, index=None):
    idx = index if index is not None else times
    if idx is None:
        raise ConfigError(f"select operator for {variable!r} needs the stream's times or index")
    return Select(variable, idx)


#: Config factories of the two basic operators (registered before `FACTORIES`; kept apart
#: because a ``bias`` operator wraps them itself, see `_bias`).
BASIC_FACTORIES = {"identity": _identity, "select": _select}


def _bias(variable, times=None, kind="additive", std=None, name=None, lower=None, upper=None,
          operator=None, operator_options=None):
    if operator is None:
        inner = Identity(variable) if times is None else Select(variable, times)
    elif operator in ("identity", "select"):
        inner = Identity(variable) if operator == "identity" else Select(variable, times)
    elif operator in FACTORIES and operator != "bias":
        inner = FACTORIES[operator](variable, times=times, **(operator_options or {}))
    else:
        raise ConfigError(f"bias operator for {variable!r}: inner operator {operator!r}, "
                          f"expected identity, select or one of "
                          f"{sorted(k for k in FACTORIES if k != 'bias')}")
    return Bias(inner, kind=kind, std=std, name=name, lower=lower, upper=upper)


FACTORIES = {
    "aggregate": _aggregate,
    "spatial_mean": _spatial_mean,
    "sif": SIF,
    "normalised_seasonality": _seasonality,
    "cdf_matching": CDFMatching,
    "bias": _bias,
    "mlp": mlp_operator,
}
"""Config factories ``name -> factory(variable, times=None, **options)``.

``options`` are a stream's ``operator_options``:

- ``aggregate``: ``statistic`` (mean/sum), ``period`` (8-day/monthly/annual, with ``dates``
  or ``start`` + ``n_steps``) or ``windows`` (edges or ``[start, end)`` pairs of time
  indices), ``valid`` (mask of model steps), ``min_fraction`` (0.8), ``sums``
  (rescale/drop). The stream has one value per window.
- ``spatial_mean``: ``weights`` (one per site), optional ``variables`` (one output per site).
- ``sif``: ``a``, ``b``, ``estimate`` (bool or ["a", "b"]), ``a_std``, ``b_std``,
  ``a_bounds``, ``b_bounds``, ``prefix``.
- ``normalised_seasonality``: ``years`` (per model step) or ``dates`` / ``start`` +
  ``n_steps``; ``ties`` (first/raise).
- ``cdf_matching``: ``knots`` ([model knots, observed knots]) or fit later with ``fit``;
  ``nbins`` (100), ``minobs`` (20), ``linear_edge_scaling`` (true).
- ``bias``: ``kind`` (additive/multiplicative), ``std``, ``name``, ``lower``, ``upper``,
  ``operator`` (inner operator name, default select/identity) and its ``operator_options``.
- ``mlp``: ``file`` (a trained .npz) or ``train`` (a CSV of pairs) with ``inputs``,
  ``target``, ``hidden``, ``weight_decay``, ``validation``, ``seed``, ``max_iter``, ``save``
  (`pdaframe.observations.operators.mlp`).
"""
