"""DALEC2: a six-pool carbon model with ACM photosynthesis, its tangent linear and adjoint.

The equations are those of DALEC2 as coded for Pinnington et al. (2016) ("P16"; reference
spec ``shared/reference/dalec2.md`` sections 2-3), computed by a Fortran kernel
(``native/dalec2/``) that runs the whole time loop in one call. Each step ``t`` of ``dt`` days,
with pools ``C_t = (C_lab, C_fol, C_roo, C_woo, C_lit, C_som)`` (g m-2) at its start::

    L    = C_fol / c_lma                          leaf area index
    GPP  = ACM(L, c_eff, T_max, T_min, I, day of year, latitude, CO2, psi_d)
    E_T  = exp(theta T)                           T = T_mean (P16) or (T_min + T_max)/2
    NPP  = (1 - f_auto) GPP, split into foliage, labile, roots and wood by
           f_fol, f_lab, f_roo (each a fraction of what is left)
    losses: labile release Phi_on, leaf fall Phi_off (phenology), theta_roo, theta_woo,
            (theta_lit + theta_min) E_T from litter (theta_lit respired, theta_min to SOM),
            theta_som E_T from SOM

A loss with daily fraction ``k`` removes ``1 - (1 - k)**dt`` of the pool over the step (``k``
itself when ``dt == 1``, which is P16 exactly); gains are daily rates times ``dt``.

Outputs, each of shape ``(n,)``, are computed from ``C_t`` (the pools at the start of step
``t``, so ``c_fol[0]`` is the initial foliar pool), as daily-mean rates over the step: ``gpp``,
``ra = f_auto GPP``, ``rh`` (litter plus SOM respiration), ``rtot = ra + rh``,
``nee = -(1 - f_auto) GPP + rh`` (positive: source), ``lai`` and the six pools ``c_lab`` ...
``c_som``; and the diagnostics of the spec: ``day_length`` (hours, from the latitude and the
day of year, spec 3.1; the same drivers-only value the ACM uses) and the daily phenology
fractions ``phi_onset`` (Phi_on, labile release to foliage) and ``phi_fall`` (Phi_off, leaf
fall) of spec 3.3, which depend on theta and are carried through tangent and adjoint.
`Dalec2.output_long_names` describes each output.

`Dalec2.end_state` returns the pools after the last step, the initial pools of a run that
continues this one (spin-up, then a run; a prediction from a calibrated state).

The tangent linear and the adjoint are derived by hand in the kernel: one forward sweep
(values and tangent together), or one forward sweep storing the pools and one backward
sweep (adjoint), at a cost of a few forward runs whatever the number of parameters.

Only the outputs asked for are stored: ``run(theta, outputs=["nee"])`` (and ``tangent``)
has the kernel write the NEE column alone (`pdaframe.interfaces`: `pdaframe.Problem` asks
for what its streams read). The adjoint needs the pool trajectory at ``theta``: it reuses the
last run's when that run stored the pools, else the kernel runs once more for them. Once a
gradient has been asked for at the point of the last run, later runs store the pools too
(a gradient-based minimiser wants both), until such pools go unused.

`Dalec2` is a `pdaframe.plugin.KernelModel`: the base validates ``theta``, ``dtheta`` and
``d_outputs``, allocates the Fortran-ordered outputs, caches the last run, selects the
columns and turns a kernel status into a `ModelError`; this module holds the kernel calls,
the switches and what each status means.
"""
from __future__ import annotations

import functools
import math
from numbers import Real

import numpy as np

from pdaframe.plugin import ConfigError, KernelModel

from . import dalec2_fortran
from .drivers import Drivers
from .parameters import PARAMETERS

OUTPUTS = ("gpp", "ra", "rh", "rtot", "nee", "lai",
           "c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som",
           "day_length", "phi_onset", "phi_fall")
"""Output names, in the order of the kernel's output numbers (1-based there)."""
POOL_OUTPUTS = OUTPUTS[6:12]
"""The six pools, in the order of the initial pools in theta and of `Dalec2.end_state`."""
_NUMBER = {name: j + 1 for j, name in enumerate(OUTPUTS)}

POOLS = ("labile carbon C_lab", "foliar carbon C_fol", "fine-root carbon C_roo",
         "wood carbon C_woo", "litter carbon C_lit", "soil organic matter carbon C_som")

VARIANTS = {
    # DALEC2 as in Pinnington et al. (2016): the canonical variant
    "P16": {"phenology_offset": "p16", "psi_d": -2.5, "temperature": "mean", "co2": 390.0,
            "phenology_clock": "doy"},
    # CARDAMOM DALEC_400 conventions (without fire), spec section 6
    "CARDAMOM": {"phenology_offset": "cardamom", "psi_d": -2.0, "temperature": "minmax",
                 "co2": "driver", "phenology_clock": "elapsed"},
}
"""The switch values of each variant; keyword switches override them one by one."""

_CHOICES = {
    "phenology_offset": {"p16": 0, "cardamom": 1},
    "temperature": {"mean": 0, "minmax": 1},
    "phenology_clock": {"doy": 0, "elapsed": 1},
}

# kernel status codes (native/dalec2/dalec2_kernel.f90)
_ERR_POOL, _ERR_PARAM, _ERR_FLUX, _ERR_SETUP = 1, 2, 3, 4

_kernel = dalec2_fortran.dalec2_kernel


def _selection(outputs) -> tuple[int, ...]:
    """Kernel numbers (1-based, sorted) of the DALEC2 outputs among ``outputs`` (None: all
    of them)."""
    if outputs is None:
        return tuple(range(1, len(OUTPUTS) + 1))
    if isinstance(outputs, str):
        outputs = (outputs,)
    return tuple(sorted({_NUMBER[n] for n in outputs if isinstance(n, str) and n in _NUMBER}))


@functools.lru_cache(maxsize=64)
def _numbers(sel) -> np.ndarray:
    """Kernel numbers ``sel`` (1-based) as the kernel's int32 array (read-only, shared)."""
    arr = np.array(sel, dtype=np.int32)
    arr.flags.writeable = False
    return arr


@functools.lru_cache(maxsize=64)
def _kernel_numbers(columns) -> np.ndarray:
    """The base's 0-based ``columns`` as the kernel's 1-based numbers."""
    return _numbers(tuple(c + 1 for c in columns))


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class Dalec2(KernelModel):
    """DALEC2 carbon model of one site, run over its drivers (see the module docstring).

    Parameters
    ----------
    drivers : Drivers
        Meteorology, one value per step (daily, or any step length ``dt``).
    variant : {"P16", "CARDAMOM"}
        Preset of the switches: ``"P16"`` (default) is DALEC2 as in Pinnington et al.
        (2016); ``"CARDAMOM"`` flips all five to CARDAMOM's DALEC_400 conventions.
    **switches
        Override single switches of the variant:

        ``phenology_offset`` : {"p16", "cardamom"}
            Argument of the phenology offset polynomial (P16: 1.001 and c_lspan;
            CARDAMOM: ln(0.001) and ln(c_lspan - 1)).
        ``psi_d`` : float
            Leaf-soil water-potential difference, MPa, negative (P16 -2.5, CARDAMOM -2.0).
        ``temperature`` : {"mean", "minmax"}
            Temperature of E_T: ``t_mean`` (P16) or ``(t_min + t_max)/2`` (CARDAMOM).
        ``co2`` : float or "driver"
            Atmospheric CO2 in ppm (P16: 390), or ``"driver"`` for ``drivers.co2``.
        ``phenology_clock`` : {"doy", "elapsed"}
            Day used by the phenology: day of year (P16; d_onset, d_fall in 1..365) or days
            since the start (CARDAMOM). The ACM's day length always uses the day of year.

    Attributes
    ----------
    drivers : Drivers
        The drivers.
    n : int
        Number of steps.
    time : ndarray of datetime64
        The dates of the steps (``drivers.time``).
    variant : str
        The variant.
    switches : dict
        The switch values in use.

    Raises
    ------
    ConfigError
        ``drivers`` is not a `Drivers`, or an unknown variant, switch or switch value
        (naming the choices), or ``co2="driver"`` with drivers that have no CO2.

    Examples
    --------
    >>> model = Dalec2(drivers)                       # doctest: +SKIP
    >>> out = model.run(model.defaults)               # doctest: +SKIP
    >>> out["nee"].shape == (drivers.n,)              # doctest: +SKIP
    True
    """

    name = "dalec2"
    parameters = PARAMETERS
    kernel_outputs = OUTPUTS
    output_units = {
        "gpp": "g m-2 day-1", "ra": "g m-2 day-1", "rh": "g m-2 day-1",
        "rtot": "g m-2 day-1", "nee": "g m-2 day-1", "lai": "m2 m-2",
        "c_lab": "g m-2", "c_fol": "g m-2", "c_roo": "g m-2", "c_woo": "g m-2",
        "c_lit": "g m-2", "c_som": "g m-2",
        "day_length": "h", "phi_onset": "day-1", "phi_fall": "day-1",
    }
    output_long_names = {
        "gpp": "gross primary production (carbon)",
        "ra": "autotrophic respiration f_auto GPP",
        "rh": "heterotrophic respiration (litter and soil organic matter)",
        "rtot": "total ecosystem respiration ra + rh",
        "nee": "net ecosystem exchange, positive upward (source)",
        "lai": "leaf area index C_fol / c_lma",
        "c_lab": "labile carbon at the start of the step",
        "c_fol": "foliar carbon at the start of the step",
        "c_roo": "fine-root carbon at the start of the step",
        "c_woo": "wood carbon at the start of the step",
        "c_lit": "litter carbon at the start of the step",
        "c_som": "soil organic matter carbon at the start of the step",
        "day_length": "day length, from latitude and day of year",
        "phi_onset": "leaf-onset fraction Phi_on: daily fraction of labile carbon released "
                     "to foliage",
        "phi_fall": "leaf-fall fraction Phi_off: daily fraction of foliar carbon falling to "
                    "litter",
    }
    """A description of each output (for tables, plots and NetCDF ``long_name``)."""
    order = "F"
    selects_columns = True                   # the kernel takes the output numbers to store
    adjoint_needs = POOL_OUTPUTS             # its adjoint reads the pool trajectory
    check_finite = False                     # the kernel checks theta, pools and fluxes

    def __init__(self, drivers: Drivers, variant: str = "P16", **switches):
        if not isinstance(drivers, Drivers):
            raise ConfigError(f"dalec2: drivers must be a pdaframe_dalec2.Drivers, got "
                              f"{type(drivers).__name__}")
        if variant not in VARIANTS:
            raise ConfigError(f"dalec2: unknown variant {variant!r}; choose one of "
                              f"{list(VARIANTS)}")
        unknown = sorted(set(switches) - set(VARIANTS[variant]))
        if unknown:
            raise ConfigError(f"dalec2: unknown switch(es) {unknown}; the switches are "
                              f"{list(VARIANTS[variant])}")
        super().__init__(drivers.n, drivers.time)
        self.drivers = drivers
        self.variant = variant
        self.switches = {**VARIANTS[variant], **switches}
        modes = {}
        for name, choices in _CHOICES.items():
            value = self.switches[name]
            if not isinstance(value, str) or value not in choices:
                raise ConfigError(f"dalec2: switch {name}={value!r} is not one of "
                                  f"{list(choices)}")
            modes[name] = choices[value]
        psi_d = self.switches["psi_d"]
        if not (_is_number(psi_d) and math.isfinite(psi_d) and psi_d < 0):
            raise ConfigError(f"dalec2: switch psi_d={psi_d!r} must be a negative number "
                              f"(MPa; P16 -2.5, CARDAMOM -2.0)")
        co2 = self.switches["co2"]
        if isinstance(co2, str) and co2 == "driver":
            if drivers.co2 is None:
                raise ConfigError(f"dalec2: co2='driver' but the drivers "
                                  f"({self._where()}) have no CO2; give co2 as a number "
                                  f"of ppm (P16: 390)")
            co2_values = drivers.co2
        elif _is_number(co2) and math.isfinite(co2) and co2 > 0:
            co2_values = np.full(self.n_run, float(co2))
        else:
            raise ConfigError(f"dalec2: switch co2={co2!r} must be a positive number of "
                              f"ppm or 'driver'")
        # the kernel's arguments, built once: drivers as one Fortran-ordered (n, 11) array
        # whose last three columns (day length, g_c, kappa) the kernel fills here, once
        zeros = np.zeros(self.n_run)
        self._met = np.asfortranarray(np.column_stack([
            drivers.doy, drivers.elapsed, drivers.t_min, drivers.t_max, drivers.t_mean,
            drivers.sw, drivers.dt, co2_values, zeros, zeros, zeros]), dtype=np.float64)
        lat = math.radians(float(drivers.latitude))
        if _kernel.dalec2_prepare(self.n_run, self._met, lat, float(psi_d)):
            raise ConfigError(f"dalec2: cannot prepare the drivers ({self._where()}): "
                              f"latitude {drivers.latitude} or psi_d {psi_d} invalid")
        self._switch_args = (lat, modes["phenology_offset"], float(psi_d),
                             modes["temperature"], modes["phenology_clock"])

    def __repr__(self):
        changed = {k: v for k, v in self.switches.items() if v != VARIANTS[self.variant][k]}
        extra = "".join(f", {k}={v!r}" for k, v in changed.items())
        return f"Dalec2(<{self._where()}, {self.n} steps>, variant={self.variant!r}{extra})"

    def _where(self) -> str:
        return self.drivers.site or self.drivers.source or "drivers"

    # --- the kernel calls (`KernelModel`: columns are the 0-based output numbers) -------------
    def kernel_run(self, theta, out, columns):
        return _kernel.dalec2_run(self.n_run, theta, self._met, *self._switch_args,
                                  len(columns), _kernel_numbers(columns), out)

    def kernel_tangent(self, theta, dtheta, dout, columns):
        return _kernel.dalec2_tangent(self.n_run, theta, dtheta, self._met, *self._switch_args,
                                      len(columns), _kernel_numbers(columns), dout)

    def kernel_adjoint(self, theta, pools, out_bar, theta_bar, columns):
        return _kernel.dalec2_adjoint(self.n_run, theta, self._met, *self._switch_args, pools,
                                      len(columns), _kernel_numbers(columns), out_bar,
                                      theta_bar)

    def end_state(self, theta) -> np.ndarray:
        """The pools after the last step of the run at ``theta``: the state a run that
        continues this one starts from.

        Parameters
        ----------
        theta : array_like, shape (23,)

        Returns
        -------
        ndarray, shape (6,)
            ``C_lab, C_fol, C_roo, C_woo, C_lit, C_som`` (g m-2) at the end of the last step,
            in the order of the initial pools ``theta[17:]``: the next period's run at
            ``np.r_[theta[:17], model.end_state(theta)]`` continues this one (bit for bit,
            when its drivers continue these; with the ``"elapsed"`` phenology clock its
            ``elapsed`` must continue too).

        Raises
        ------
        ModelError
            As `run` (invalid ``theta``, or a step fails).

        Examples
        --------
        >>> spin = Dalec2(drivers_a)                                 # doctest: +SKIP
        >>> theta_b = np.r_[theta[:17], spin.end_state(theta)]       # doctest: +SKIP
        >>> Dalec2(drivers_b).run(theta_b)                           # doctest: +SKIP
        """
        theta = self._check_theta(theta)
        pools = np.empty(6)
        self._check_status(_kernel.dalec2_end_state(self.n_run, theta, self._met,
                                                    *self._switch_args, pools), theta)
        return pools

    def kernel_error(self, status, theta) -> str:
        """What a kernel status ``(ierr, fail_step, fail_index)`` means."""
        ierr, step, index = (int(s) for s in status)
        if ierr == _ERR_PARAM:
            name = self.parameter_names[index - 1]
            if not math.isfinite(float(theta[index - 1])):
                why = "must be a finite number"
            elif name == "c_lspan":
                why = "must be greater than 1"
            elif name in ("c_ronset", "c_rfall", "c_lma"):
                why = "must be positive"
            else:
                why = "must not be negative (an initial pool)"
            return f"{self.parameter_text(index - 1, theta)} is invalid: {why}"
        if ierr == _ERR_POOL:
            return (f"{POOLS[index - 1]} became negative or non-finite at the end of "
                    f"{self.step_text(step)} at {self._where()}; pools empty when a daily "
                    f"loss fraction (phenology Phi, turnover rate, or rate * exp(theta T)) "
                    f"exceeds 1, or an allocation fraction is outside [0, 1]")
        if ierr == _ERR_FLUX:
            return f"{OUTPUTS[index - 1]} is not finite on {self.step_text(step)} at " \
                   f"{self._where()}"
        return f"kernel status {ierr} (invalid switch values or output selection)"
