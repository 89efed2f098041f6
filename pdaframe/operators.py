"""Built-in observation operators: identity and selection by time index.

Both are linear, so ``tangent`` is ``apply`` on the perturbation and ``adjoint`` scatters the
observation-space vector back onto the output's time axis. Outputs with extra axes beyond
time are flattened in C order after selecting times.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .interfaces import ObservationOperator


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
        return np.asarray(outputs[self.variable], dtype=float).reshape(-1)

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

    def _check(self, x):
        if self.index.size and self.index.max() >= x.shape[0]:
            raise ConfigError(f"select operator for {self.variable!r}: time index "
                              f"{int(self.index.max())} beyond the model's {x.shape[0]} steps")

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
