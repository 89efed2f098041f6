"""Initial pools of DALEC2: spin-up by cycling the drivers, or pool scalars as parameters.

- `SpinUp` (``spinup = "cycle"``): before every run the drivers are run again and again,
  each cycle starting from the pools the previous one ended with (one extra step of the
  kernel gives the end-of-run pools), until every pool changes by less than ``spinup_tol``
  (relative) per cycle; the run then starts from these pools. The initial-pool parameters
  are only the first guess of the spin-up. Not converging in ``spinup_max_cycles`` is a
  `ModelError` (a rejected point inside minimisers). ``cycles`` holds the cycles used by
  the last run (also logged).

  Derivatives: the spun-up pools depend on theta. ``spinup_derivatives = "fd"`` (default)
  gives the model no tangent/adjoint, so pdaframe differentiates the whole spin-up plus run
  by finite differences. ``"fixed"`` uses the kernel's tangent/adjoint from the spun-up
  pools, **treating those pools as constants**: the dependence of the equilibrium on theta
  is ignored (an approximate gradient) and the initial-pool components are zero.
- `PoolScalars` (``pool_scalars = true``): the six initial pools are ``scale_c_lab0 ...
  scale_c_som0`` times their default (prior mean), the scalars being parameters (default 1,
  bounds and std those of the pool divided by its default); derivatives by the chain rule.
- EDC rejection (``edc = "reject"``, `pdaframe_dalec2.edc`) applies to either and to the
  plain model, via `EdcReject`.

Each wrapper's ``run`` (and ``tangent``) takes ``outputs`` like `Dalec2.run` and passes it on
(`EdcReject` adds what the EDCs read); a spin-up cycle asks for the pools only. Each has
``end_state(theta)``, the pools after the last step (`Dalec2.end_state`) of the run that
``run(theta)`` makes: from the spun-up pools, the scaled pools, or (`EdcReject`) after the
EDC checks of that run.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from pdaframe.plugin import ConfigError, Model, ModelError, Parameter

from .edc import ALL_EDCS, EDC_OUTPUTS, reject

log = logging.getLogger(__name__)

POOL_PARAMS = ("c_lab0", "c_fol0", "c_roo0", "c_woo0", "c_lit0", "c_som0")
POOL_OUTPUTS = ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som")
N_RATES = 17                                     # theta[:17] rates, theta[17:] initial pools


def _extended(drivers):
    """The drivers plus one step (a copy of the first, elapsed continued), so that the
    last output row holds the pools at the end of the original run."""
    def add(arr, value):
        return np.append(np.asarray(arr), value)
    fields = {name: add(getattr(drivers, name), getattr(drivers, name)[0])
              for name in ("time", "doy", "t_min", "t_max", "t_mean", "sw", "dt")}
    fields["elapsed"] = add(drivers.elapsed, drivers.elapsed[-1] + drivers.dt[-1])
    if drivers.co2 is not None:
        fields["co2"] = add(drivers.co2, drivers.co2[0])
    return dataclasses.replace(drivers, **fields)


class _Wrapper(Model):
    """Shares the wrapped model's outputs, units, time axis and drivers."""

    def __init__(self, model):
        self.model = model
        self.output_units = model.output_units
        self.drivers = model.drivers

    @property
    def time(self):
        return self.model.time

    def end_state(self, theta) -> np.ndarray:
        """The pools after the last step of the run at ``theta``, shape (6,)
        (`pdaframe_dalec2.Dalec2.end_state`)."""
        return self.model.end_state(self.model_theta(theta))

    def model_theta(self, theta):
        """The wrapped model's theta for ``theta`` (the same unless a wrapper maps it)."""
        return theta


class SpinUp(_Wrapper):
    """DALEC2 started from pools spun up over its own drivers (see the module docstring).

    Parameters
    ----------
    model : Dalec2
    tol : float
        Relative change per cycle below which every pool counts as spun up.
    max_cycles : int
    derivatives : {"fd", "fixed"}
    """

    def __init__(self, model, tol=1e-4, max_cycles=2000, derivatives="fd"):
        super().__init__(model)
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise ConfigError(f"dalec2: spinup_tol={tol!r} must be a number in (0, 1)")
        if not (isinstance(max_cycles, int) and max_cycles >= 1):
            raise ConfigError(f"dalec2: spinup_max_cycles={max_cycles!r} must be a positive "
                              f"integer")
        if derivatives not in ("fd", "fixed"):
            raise ConfigError(f"dalec2: spinup_derivatives={derivatives!r}: expected 'fd' "
                              f"(finite differences through the spin-up) or 'fixed' (the "
                              f"spun-up pools treated as constants)")
        self.parameters = model.parameters
        self.tol, self.max_cycles, self.derivatives = float(tol), max_cycles, derivatives
        self._cycle = type(model)(_extended(model.drivers), variant=model.variant,
                                  **model.switches)
        self.cycles = 0
        if derivatives == "fixed":
            self.tangent = self._tangent
            self.adjoint = self._adjoint

    def spun_up(self, theta) -> np.ndarray:
        """``theta`` with its initial pools replaced by the spun-up pools."""
        theta = np.array(theta, dtype=float)
        for cycle in range(1, self.max_cycles + 1):
            out = self._cycle.run(theta, outputs=POOL_OUTPUTS)
            end = np.array([out[k][-1] for k in POOL_OUTPUTS])
            change = np.abs(end - theta[N_RATES:]) / np.maximum(np.abs(theta[N_RATES:]), 1e-12)
            theta[N_RATES:] = end
            if np.all(change < self.tol):
                self.cycles = cycle
                log.info("dalec2 spin-up: converged in %d cycles of %d steps", cycle,
                         self.model.n)
                return theta
        worst = POOL_PARAMS[int(np.argmax(change))]
        raise ModelError(f"dalec2 spin-up: pools not steady after {self.max_cycles} cycles "
                         f"(spinup_max_cycles); {worst} still changes by "
                         f"{change.max():.3g} per cycle > spinup_tol {self.tol}", theta=theta)

    def model_theta(self, theta):
        return self.spun_up(theta)

    def run(self, theta, outputs=None):
        return self.model.run(self.spun_up(theta), outputs=outputs)

    def _tangent(self, theta, dtheta, outputs=None):
        dtheta = np.array(dtheta, dtype=float)
        dtheta[N_RATES:] = 0.0
        return self.model.tangent(self.spun_up(theta), dtheta, outputs=outputs)

    def _adjoint(self, theta, d_outputs):
        grad = np.array(self.model.adjoint(self.spun_up(theta), d_outputs), dtype=float)
        grad[N_RATES:] = 0.0
        return grad


class PoolScalars(_Wrapper):
    """DALEC2 with the initial pools as scalars times their defaults (module docstring)."""

    def __init__(self, model):
        super().__init__(model)
        table = list(model.parameters)
        self.base = np.array([p.default for p in table[N_RATES:]])
        scalars = tuple(Parameter(f"scale_{p.name}", 1.0, p.lower / p.default,
                                  p.upper / p.default, p.std / p.default, "1",
                                  f"scalar of the default {p.name} ({p.default:g} {p.units})")
                        for p in table[N_RATES:])
        self.parameters = tuple(table[:N_RATES]) + scalars

    def full(self, theta) -> np.ndarray:
        """The wrapped model's theta: rates, then scalars times the default pools."""
        theta = np.array(theta, dtype=float)
        if theta.shape != (len(self.parameters),):
            raise ModelError(f"dalec2: theta needs {len(self.parameters)} values "
                             f"{list(self.parameter_names)}, got shape {theta.shape}",
                             theta=theta)
        theta[N_RATES:] *= self.base
        return theta

    def model_theta(self, theta):
        return self.full(theta)

    def run(self, theta, outputs=None):
        return self.model.run(self.full(theta), outputs=outputs)

    def tangent(self, theta, dtheta, outputs=None):
        d = np.array(dtheta, dtype=float)
        d[N_RATES:] *= self.base
        return self.model.tangent(self.full(theta), d, outputs=outputs)

    def adjoint(self, theta, d_outputs):
        grad = np.array(self.model.adjoint(self.full(theta), d_outputs), dtype=float)
        grad[N_RATES:] *= self.base
        return grad


class EdcReject(_Wrapper):
    """Raise `ModelError` naming the failing EDC after each run (`pdaframe_dalec2.edc`).

    Parameters
    ----------
    model : Dalec2, SpinUp or PoolScalars
    edcs : sequence of int
        The EDCs checked (default 1-13).
    eqf : float
        Steady-state factor of EDCs 7-12.
    """

    def __init__(self, model, edcs=ALL_EDCS, eqf=2.0):
        super().__init__(model)
        bad = [k for k in edcs if k not in ALL_EDCS]
        if bad or not edcs:
            raise ConfigError(f"dalec2: edc_checks={list(edcs)!r}: expected EDC numbers "
                              f"1-{ALL_EDCS[-1]}")
        self.parameters, self.edcs, self.eqf = model.parameters, tuple(edcs), float(eqf)
        for name in ("tangent", "adjoint"):
            if callable(getattr(model, name, None)):
                setattr(self, name, getattr(model, name))

    def _theta(self, theta):
        """The DALEC2 theta the run used (initial pools as actually started from)."""
        if isinstance(self.model, PoolScalars):
            return self.model.full(theta)
        if isinstance(self.model, SpinUp):
            return self.model.spun_up(theta)
        return np.asarray(theta, dtype=float)

    def run(self, theta, outputs=None):
        need = None if outputs is None else EDC_OUTPUTS.union(
            (outputs,) if isinstance(outputs, str) else outputs)
        out = self.model.run(theta, outputs=need)
        reject(self._theta(theta), out, self.drivers, self.edcs, self.eqf)
        return out

    def end_state(self, theta) -> np.ndarray:
        """As `Dalec2.end_state`, after the EDC checks of the run at ``theta`` (a
        `ModelError` naming the failing EDC)."""
        self.run(theta, outputs=EDC_OUTPUTS)
        return super().end_state(theta)
