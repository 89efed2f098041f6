"""DALEC2 with its six carbon pools as the model state (pdaframe's optional state interface).

`Dalec2Pools` wraps a `Dalec2` run so that the joint state–parameter EnKF (``joint-enkf``)
and per-period parameters (`pdaframe.models.periods.PerPeriodModel`) can restart it from
saved pools: ``state_names`` are the pools ``c_lab .. c_som``, ``initial_state(theta)`` the
initial pools ``theta[17:23]``, and ``advance(theta, x, start, stop)`` runs DALEC2 over the
drivers of steps ``start .. stop - 1`` from pools ``x`` (a `Dalec2` on those drivers, kept
per window, at ``theta[:17]`` and ``x``) and returns its `Dalec2.end_state` and outputs.
`Dalec2.end_state` continues a run bit for bit, so chaining ``advance`` gives ``run``.
The parameter vector is DALEC2's (23 values, the initial pools included).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .model import POOL_OUTPUTS, Dalec2

N_PROCESS = 17                        # theta[:17]: process parameters; theta[17:]: pools


class Dalec2Pools:
    """A `Dalec2` model that exposes its six pools as its state.

    Parameters
    ----------
    model : Dalec2
        The whole run (drivers, variant and switches are kept for every window).
    """

    def __init__(self, model: Dalec2):
        self.model = model
        self.parameters = model.parameters
        self.parameter_names = model.parameter_names
        self.output_units = model.output_units
        self.state_names = tuple(POOL_OUTPUTS)
        self.n_steps = model.n
        self.time = model.time
        self._windows = {}

    def _window(self, start, stop) -> Dalec2:
        """DALEC2 on the drivers of steps ``start .. stop - 1`` (built once per window)."""
        key = (start, stop)
        if key not in self._windows:
            d = self.model.drivers
            sliced = {f.name: getattr(d, f.name)[start:stop]
                      for f in dataclasses.fields(d)
                      if isinstance(getattr(d, f.name), np.ndarray)}
            self._windows[key] = Dalec2(dataclasses.replace(d, **sliced),
                                        self.model.variant, **self.model.switches)
        return self._windows[key]

    def initial_state(self, theta) -> np.ndarray:
        """The initial pools ``theta[17:23]`` (g m-2)."""
        return np.array(theta[N_PROCESS:], dtype=float)

    def advance(self, theta, x, start, stop):
        """From pools ``x`` before step ``start`` through step ``stop - 1``: the pools
        after it and the outputs of those steps (as `Dalec2.run`)."""
        window = self._window(int(start), int(stop))
        theta_w = np.r_[np.asarray(theta, dtype=float)[:N_PROCESS], np.asarray(x, float)]
        outputs = window.run(theta_w)
        return window.end_state(theta_w), outputs

    def run(self, theta, outputs=None):
        """The whole run (`Dalec2.run`)."""
        return self.model.run(theta) if outputs is None else \
            self.model.run(theta, outputs=outputs)
