"""`Dalec2Jax`: DALEC2 written in JAX, its tangent linear and adjoint derived by JAX.

The same model as the Fortran ``dalec2`` (`pdaframe_dalec2.Dalec2`: same parameters,
outputs, units, drivers, variants and switches, checked by the same code), its run written
once in `pdaframe_dalec2_jax.physics` from the spec; `pdaframe.plugin.JaxModel` gives the
jit-compiled run, ``jax.jvp`` tangent and ``jax.vjp`` adjoint. JAX is imported when a model
is made, not when this module is, so the plugin registers without JAX.
"""
from __future__ import annotations

import math

import numpy as np

from pdaframe.plugin import JaxModel, ModelError
from pdaframe_dalec2 import Dalec2, Drivers
from pdaframe_dalec2.model import POOL_OUTPUTS, POOLS
from pdaframe_dalec2.parameters import PARAMETERS

_POSITIVE = {"c_lspan": (1.0, "must be greater than 1"), "c_ronset": (0.0, "must be positive"),
             "c_rfall": (0.0, "must be positive"), "c_lma": (0.0, "must be positive")}


class Dalec2Jax(JaxModel):
    """DALEC2 of one site in JAX (see the module docstring).

    Parameters
    ----------
    drivers : Drivers
        Meteorology, one value per step.
    variant : {"P16", "CARDAMOM"}
        Preset of the switches, as for `pdaframe_dalec2.Dalec2`.
    **switches
        ``phenology_offset``, ``psi_d``, ``temperature``, ``co2``, ``phenology_clock``,
        as for `pdaframe_dalec2.Dalec2` (checked by it).

    Attributes
    ----------
    drivers, n, variant, switches
        As for `pdaframe_dalec2.Dalec2`.

    Raises
    ------
    ConfigError
        As `pdaframe_dalec2.Dalec2`.
    PluginError
        JAX is not installed (``pip install "pdaframe[jax]"``).
    """

    name = "dalec2-jax"
    parameters = PARAMETERS
    output_units = Dalec2.output_units
    output_long_names = Dalec2.output_long_names
    scan_unroll = 4
    _end_state = None                    # the jit-compiled end state, made on first use

    def __init__(self, drivers: Drivers, variant: str = "P16", **switches):
        checked = Dalec2(drivers, variant=variant, **switches)   # the same option checks
        self.jax()                                               # says what to install
        self.drivers, self.n, self.variant = drivers, drivers.n, variant
        self.switches = dict(checked.switches)
        sw = self.switches
        co2 = drivers.co2 if sw["co2"] == "driver" else np.full(self.n, float(sw["co2"]))
        hours, g_c, kappa = _driver_terms(drivers, sw["psi_d"])
        self.forcing = {
            "day": drivers.doy if sw["phenology_clock"] == "doy" else drivers.elapsed,
            "temp": drivers.t_mean if sw["temperature"] == "mean"
            else 0.5 * (drivers.t_min + drivers.t_max),
            "sw": drivers.sw, "dt": drivers.dt, "co2": np.asarray(co2, dtype=float),
            "hours": hours, "g_c": g_c, "kappa": kappa}
        self._daily = bool(np.all(drivers.dt == 1.0))
        self._cardamom_offset = sw["phenology_offset"] == "cardamom"

    @property
    def time(self) -> np.ndarray:
        """Dates of the steps (``drivers.time``)."""
        return self.drivers.time

    def __repr__(self):
        where = self.drivers.site or self.drivers.source or "drivers"
        return f"Dalec2Jax(<{where}, {self.n} steps>, variant={self.variant!r})"

    def run_jax(self, theta):
        """The run in JAX (`pdaframe_dalec2_jax.physics.run`)."""
        from . import physics
        return physics.run(theta, self.forcing, self._daily, self._cardamom_offset,
                           self.scan_unroll, **self.f_auto_jax(theta))

    def f_auto_jax(self, theta):
        """``{}``: DALEC2's constant f_auto (a hybrid returns ``{"f_auto": array (n,)}``)."""
        return {}

    def end_state(self, theta) -> np.ndarray:
        """The pools after the last step, shape (6,), as `pdaframe_dalec2.Dalec2.end_state`
        (after a run at ``theta``, which checks the parameters and the pools)."""
        self.run(theta)
        if self._end_state is None:
            jax, _ = self.jax()
            from . import physics
            self._end_state = jax.jit(lambda t: physics.end_state(
                t, self.forcing, self._daily, self._cardamom_offset, self.scan_unroll,
                **self.f_auto_jax(t)))
        return np.array(self._end_state(self.check_theta(theta)))

    def check_theta(self, theta, what="theta"):
        """As `JaxModel.check_theta`, and for ``theta`` the kernel's rules: finite values,
        c_lspan > 1, c_ronset, c_rfall, c_lma > 0, initial pools >= 0."""
        arr = super().check_theta(theta, what)
        if what != "theta":
            return arr
        for i, (p, value) in enumerate(zip(self.parameters, arr)):
            if not math.isfinite(value):
                why = "must be a finite number"
            elif p.name in _POSITIVE and value <= _POSITIVE[p.name][0]:
                why = _POSITIVE[p.name][1]
            elif 17 <= i < 23 and value < 0:
                why = "must not be negative (an initial pool)"
            else:
                continue
            raise ModelError(f"dalec2-jax: parameter {p.name!r} = {float(value)!r} is invalid: "
                             f"{why}", theta=theta)
        return arr

    def check_outputs(self, theta, outputs):
        """Non-finite outputs (`JaxModel.check_outputs`), then negative pools."""
        super().check_outputs(theta, outputs)
        for j, name in enumerate(POOL_OUTPUTS):
            bad = np.flatnonzero(outputs[name] < 0)
            if bad.size:
                step = int(bad[0]) - 1
                raise ModelError(
                    f"dalec2-jax: {POOLS[j]} became negative at the end of step {step} "
                    f"(0-based, of {self.n}; dated {self.time[step]}); pools empty when a "
                    f"daily loss fraction exceeds 1, or an allocation fraction is outside "
                    f"[0, 1]", theta=theta)


def _driver_terms(drivers, psi_d):
    from .physics import driver_terms
    return driver_terms(drivers.doy, drivers.t_min, drivers.t_max, float(drivers.latitude),
                        float(psi_d))
