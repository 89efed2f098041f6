"""A linear model ``G(theta) = H theta + c``: closed-form test problems and a minimal example."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


class LinearModel:
    """Linear model with one output ``y = H theta + offset`` (time axis = rows of ``H``).

    Parameters
    ----------
    matrix : array_like, shape (n_time, n_param)
        ``H``.
    offset : array_like, shape (n_time,), optional
        ``c`` (default zero).
    names : sequence of str, optional
        Parameter names (default ``theta_0, theta_1, ...``).
    output : str
        Name of the single output (default ``"y"``).
    """

    def __init__(self, matrix, offset=None, names=None, output="y"):
        try:
            self.matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        except (ValueError, TypeError) as err:
            lengths = [len(r) if hasattr(r, "__len__") else 1 for r in matrix] \
                if hasattr(matrix, "__iter__") else []
            raise ConfigError(f"linear model: matrix must be a 2-d array of numbers with "
                              f"rows of equal length, got row lengths {lengths}"
                              if len(set(lengths)) > 1 else
                              f"linear model: matrix must be a 2-d array of numbers ({err})"
                              ) from None
        if self.matrix.ndim != 2 or not np.all(np.isfinite(self.matrix)):
            raise ConfigError("linear model: matrix must be a finite 2-d array")
        m, n = self.matrix.shape
        self.offset = np.zeros(m) if offset is None else np.asarray(offset, dtype=float)
        if self.offset.shape != (m,):
            raise ConfigError(f"linear model: offset needs {m} values, got {self.offset.shape}")
        self.parameter_names = tuple(names) if names is not None else \
            tuple(f"theta_{i}" for i in range(n))
        if len(self.parameter_names) != n:
            raise ConfigError(f"linear model: {len(self.parameter_names)} names for {n} columns")
        self.output = output

    @property
    def output_names(self) -> tuple[str]:
        """The one output (see `pdaframe.interfaces.declared_outputs`)."""
        return (self.output,)

    def run(self, theta):
        return {self.output: self.matrix @ theta + self.offset}

    def tangent(self, theta, dtheta):
        return {self.output: self.matrix @ dtheta}

    def adjoint(self, theta, d_outputs):
        d = d_outputs.get(self.output)
        return np.zeros(self.matrix.shape[1]) if d is None else self.matrix.T @ d
