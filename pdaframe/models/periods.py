"""Time-varying parameters as per-period blocks: ``f_auto@2005``, ``f_auto@2006``, ...

`PerPeriodModel` wraps a model that exposes its state (`pdaframe.interfaces`, "A model
state") so that chosen parameters take one value per period of its time axis. Its parameter
vector has, in the model's order, one entry per period for each varying parameter (named
``"<name>@<label>"``) and the others once; ``run(theta)`` runs the model window by window
with `advance`, each period with its own values, the state carried across the boundaries.
Any method (4D-Var, MCMC, ensembles, the joint EnKF: the wrapper exposes a state too) then
estimates a value per year or season like any other parameter.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConfigError
from ..interfaces import STATE_CAPABILITIES, has_state


def period_parameter_name(name, label) -> str:
    """The name of parameter ``name`` in period ``label``: ``"name@label"``."""
    return f"{name}@{label}"


class PerPeriodModel:
    """A stateful model whose ``varying`` parameters have one value per period.

    Parameters
    ----------
    model : object
        Exposes a state (`pdaframe.interfaces.has_state`).
    varying : sequence of str
        Names of the model's parameters that vary by period.
    starts : sequence of int
        First step of each period on the model's time axis: ``starts[0] == 0``, strictly
        increasing, below ``model.n_steps`` (the last period runs to the end).
    labels : sequence, optional
        One label per period (years, ``"DJF-2005"``, ...; default ``0, 1, ...``).

    Attributes
    ----------
    parameter_names : tuple of str
        The model's names, each varying one replaced by its per-period names.
    parameters : tuple of Parameter
        The model's parameter table (when it has one), copied per period.
    """

    def __init__(self, model, varying, starts, labels=None):
        if not has_state(model):
            raise ConfigError(f"per-period parameters: the model {type(model).__name__} "
                              f"exposes no state (it needs {list(STATE_CAPABILITIES)}); see "
                              f"the README section \"Joint state–parameter estimation "
                              f"(EnKF)\"")
        names = list(model.parameter_names)
        varying = [varying] if isinstance(varying, str) else list(varying)
        unknown = [v for v in varying if v not in names]
        if unknown or not varying:
            raise ConfigError(f"per-period parameters: {unknown or 'none'} given; expected "
                              f"names among the model's parameters {names}")
        starts = np.asarray(starts)
        if starts.ndim != 1 or starts.size < 1 or starts[0] != 0 or \
                np.any(np.diff(starts) <= 0) or starts[-1] >= model.n_steps or \
                not np.all(starts == np.round(starts)):
            raise ConfigError(f"per-period parameters: starts must be whole step indices "
                              f"from 0, strictly increasing and below the model's "
                              f"{model.n_steps} steps; got {starts.tolist()}")
        labels = list(range(starts.size)) if labels is None else list(labels)
        if len(labels) != starts.size or len(set(map(str, labels))) != len(labels):
            raise ConfigError(f"per-period parameters: {len(labels)} labels for "
                              f"{starts.size} periods; one distinct label per period")
        self.model, self.varying, self.labels = model, tuple(varying), labels
        self.edges = np.append(starts.astype(int), model.n_steps)
        # column of each period's full model vector: index[p, j] into theta
        index, out_names, k = np.empty((starts.size, len(names)), dtype=int), [], 0
        for j, name in enumerate(names):
            if name in self.varying:
                index[:, j] = k + np.arange(starts.size)
                out_names += [period_parameter_name(name, lab) for lab in labels]
                k += starts.size
            else:
                index[:, j] = k
                out_names.append(name)
                k += 1
        self.index = index
        self.parameter_names = tuple(out_names)
        table = getattr(model, "parameters", None)
        if table:
            self.parameters = tuple(self._table(table))
        self.state_names, self.n_steps = model.state_names, model.n_steps
        for attr in ("output_names", "output_units", "state_distance"):
            if getattr(model, attr, None) is not None:
                setattr(self, attr, getattr(model, attr))

    def _table(self, table):
        """The model's `Parameter` entries, each varying one once per period."""
        for p in table:
            if p.name in self.varying:
                for lab in self.labels:
                    yield dataclasses.replace(p, name=period_parameter_name(p.name, lab))
            else:
                yield p

    def period_theta(self, theta, period) -> np.ndarray:
        """The model's parameter vector in period ``period`` (an index)."""
        return np.asarray(theta, dtype=float)[self.index[period]]

    def initial_state(self, theta):
        """The model's initial state at the first period's values."""
        return self.model.initial_state(self.period_theta(theta, 0))

    def advance(self, theta, x, start, stop):
        """`advance` of the model, split at the period boundaries inside ``[start, stop)``."""
        cuts = [int(e) for e in self.edges if start < e < stop]
        bounds = [int(start), *cuts, int(stop)]
        parts = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            p = int(np.searchsorted(self.edges, a, side="right")) - 1
            x, out = self.model.advance(self.period_theta(theta, p), x, a, b)
            parts.append(out)
        if len(parts) == 1:
            return x, parts[0]
        return x, {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}

    def run(self, theta):
        """The whole run: `advance` period by period from `initial_state`."""
        return self.advance(theta, self.initial_state(theta), 0, self.n_steps)[1]
