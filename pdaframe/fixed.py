"""Estimate a subset of a model's parameters, holding the others fixed."""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .interfaces import has_adjoint, has_tangent


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

    def run(self, theta):
        return self.model.run(self.full(theta))

    def tangent(self, theta, dtheta):
        d = np.zeros_like(self.values)
        d[self.index] = dtheta
        return self.model.tangent(self.full(theta), d)

    def adjoint(self, theta, d_outputs):
        return np.asarray(self.model.adjoint(self.full(theta), d_outputs))[self.index]
