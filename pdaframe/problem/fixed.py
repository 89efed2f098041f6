"""Estimate a subset of a model's (or an operator's) parameters, holding the others fixed."""
from __future__ import annotations

import copy

import numpy as np

from ..errors import ConfigError
from ..interfaces import has_adjoint, has_tangent, selects_outputs


class FixedParameters:
    """A view of ``model`` whose parameters are ``free`` only; the rest keep ``values``.

    Parameters
    ----------
    model : object
        The full model.
    free : sequence of str
        Names of the parameters to estimate, in the order of the reduced ``theta``.
    values : array_like, shape (n_param_full,)
        Values of all parameters; the fixed ones are taken from here.
    """

    def __init__(self, model, free, values):
        names = list(model.parameter_names)
        unknown = [n for n in free if n not in names]
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown}; the model has {names}")
        self.model = model
        self.parameter_names = tuple(free)
        self.index = np.array([names.index(n) for n in free], dtype=np.intp)
        self.values = np.asarray(values, dtype=float).copy()
        self.fixed = {n: float(v) for n, v in zip(names, self.values) if n not in free}
        # pass `outputs` on to a model that selects them (`pdaframe.interfaces`)
        self._select = selects_outputs(model.run)
        self._select_tangent = selects_outputs(getattr(model, "tangent", None))
        if not has_tangent(model):
            self.tangent = None
        if not has_adjoint(model):
            self.adjoint = None

    def __getattr__(self, name):          # output_units, parameters, ... of the full model
        return getattr(self.model, name)

    def full(self, theta) -> np.ndarray:
        """The full parameter vector for reduced ``theta``."""
        out = self.values.copy()
        out[self.index] = theta
        return out

    def run(self, theta, outputs=None):
        if outputs is None or not self._select:
            return self.model.run(self.full(theta))
        return self.model.run(self.full(theta), outputs=outputs)

    def tangent(self, theta, dtheta, outputs=None):
        d = np.zeros_like(self.values)
        d[self.index] = dtheta
        if outputs is None or not self._select_tangent:
            return self.model.tangent(self.full(theta), d)
        return self.model.tangent(self.full(theta), d, outputs=outputs)

    def adjoint(self, theta, d_outputs):
        return np.asarray(self.model.adjoint(self.full(theta), d_outputs))[self.index]


def fix_operator_parameters(stream, sl, free, op_means, n_model):
    """``stream`` with its operator's non-estimated parameters fixed at their prior mean."""
    if sl is None:
        return stream
    names = [stream.name + ":" + getattr(p, "name", p) for p in stream.operator.parameters]
    keep = [i for i, n in enumerate(names) if n in free]
    if len(keep) == len(names):
        return stream
    values = np.array(op_means[sl.start - n_model:sl.stop - n_model], dtype=float)
    new = copy.copy(stream)
    new.operator = FixedOperatorParameters(stream.operator, keep, values)
    return new


class FixedOperatorParameters:
    """A parameterised operator with some parameters fixed; exposes the others only.

    Parameters
    ----------
    operator : object
        Follows the parameterised-operator protocol (see `pdaframe.problem.single`).
    keep : list of int
        Indices of the operator's parameters that stay free.
    values : array_like, shape (n_op_param,)
        Values of all of the operator's parameters (the free ones are overwritten).
    """

    def __init__(self, operator, keep, values):
        self.operator, self.keep = operator, list(keep)
        self.values = np.asarray(values, dtype=float)
        self.parameters = tuple(operator.parameters[i] for i in self.keep)
        self.inputs = tuple(getattr(operator, "inputs", ()))

    def _full(self, params):
        v = self.values.copy()
        if params is not None:
            v[self.keep] = params
        return v

    def apply(self, outputs, params=None):
        return self.operator.apply(outputs, params=self._full(params))

    def tangent(self, outputs, d_outputs, params=None):
        return self.operator.tangent(outputs, d_outputs, params=self._full(params))

    def adjoint(self, outputs, d_obs, params=None):
        return self.operator.adjoint(outputs, d_obs, params=self._full(params))

    def param_tangent(self, outputs, params, d_params):
        d = np.zeros(self.values.size)
        d[self.keep] = d_params
        return self.operator.param_tangent(outputs, self._full(params), d)

    def param_adjoint(self, outputs, params, d_obs):
        full = self.operator.param_adjoint(outputs, self._full(params), d_obs)
        return np.asarray(full, dtype=float)[self.keep]
