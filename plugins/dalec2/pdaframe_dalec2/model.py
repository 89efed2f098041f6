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
``c_som``.

The tangent linear and the adjoint are derived by hand in the kernel: one forward sweep
(values and tangent together), or one forward sweep storing the pools and one backward
sweep (adjoint), at a cost of a few forward runs whatever the number of parameters.

Only the outputs asked for are stored: ``run(theta, outputs=["nee"])`` (and ``tangent``)
has the kernel write the NEE column alone (`pdaframe.interfaces`: `pdaframe.Problem` asks
for what its streams read). The adjoint needs the pool trajectory at ``theta``: it reuses the
last run's when that run stored the pools, else the kernel runs once more for them. Once a
gradient has been asked for at the point of the last run, later runs store the pools too
(a gradient-based minimiser wants both), until such pools go unused.
"""
from __future__ import annotations

import functools
import math
from numbers import Real

import numpy as np

from pdaframe.plugin import ConfigError, Model, ModelError

from . import dalec2_fortran
from .drivers import Drivers
from .parameters import PARAMETERS

OUTPUTS = ("gpp", "ra", "rh", "rtot", "nee", "lai",
           "c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som")
"""Output names, in the order of the kernel's output numbers (1-based there)."""
_NUMBER = {name: j + 1 for j, name in enumerate(OUTPUTS)}
_POOLS = frozenset(range(7, 13))                  # kernel numbers of c_lab .. c_som

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


@functools.lru_cache(maxsize=64)
def _selection_of(names) -> tuple[int, ...]:
    return tuple(sorted({_NUMBER[n] for n in names if n in _NUMBER}))


def _selection(outputs) -> tuple[int, ...]:
    """Kernel numbers (sorted) of the DALEC2 outputs among ``outputs`` (None: all 12)."""
    if outputs is None:
        return _ALL
    if isinstance(outputs, str):
        outputs = (outputs,)
    try:
        return _selection_of(tuple(outputs))
    except TypeError:                    # unhashable names: not outputs anyway
        return _selection_of(tuple(n for n in outputs if isinstance(n, str)))


@functools.lru_cache(maxsize=64)
def _numbers(sel) -> np.ndarray:
    """``sel`` as the kernel's int32 array (read-only, shared)."""
    arr = np.array(sel, dtype=np.int32)
    arr.flags.writeable = False
    return arr


_ALL = tuple(range(1, 13))


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class Dalec2(Model):
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

    parameters = PARAMETERS
    output_units = {
        "gpp": "g m-2 day-1",        # gross primary production, carbon
        "ra": "g m-2 day-1",         # autotrophic respiration
        "rh": "g m-2 day-1",         # heterotrophic respiration (litter and SOM)
        "rtot": "g m-2 day-1",       # total ecosystem respiration ra + rh
        "nee": "g m-2 day-1",        # net ecosystem exchange, positive upward (source)
        "lai": "m2 m-2",             # leaf area index C_fol / c_lma
        "c_lab": "g m-2",            # labile carbon at the start of the step
        "c_fol": "g m-2",            # foliar carbon
        "c_roo": "g m-2",            # fine-root carbon
        "c_woo": "g m-2",            # wood carbon
        "c_lit": "g m-2",            # litter carbon
        "c_som": "g m-2",            # soil organic matter carbon
    }

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
        self.drivers = drivers
        self.n = drivers.n
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
            co2_values = np.full(self.n, float(co2))
        else:
            raise ConfigError(f"dalec2: switch co2={co2!r} must be a positive number of "
                              f"ppm or 'driver'")
        # the kernel's arguments, built once: drivers as one Fortran-ordered (n, 11) array
        # whose last three columns (day length, g_c, kappa) the kernel fills here, once
        zeros = np.zeros(self.n)
        self._met = np.asfortranarray(np.column_stack([
            drivers.doy, drivers.elapsed, drivers.t_min, drivers.t_max, drivers.t_mean,
            drivers.sw, drivers.dt, co2_values, zeros, zeros, zeros]), dtype=np.float64)
        lat = math.radians(float(drivers.latitude))
        if _kernel.dalec2_prepare(self.n, self._met, lat, float(psi_d)):
            raise ConfigError(f"dalec2: cannot prepare the drivers ({self._where()}): "
                              f"latitude {drivers.latitude} or psi_d {psi_d} invalid")
        self._switch_args = (lat, modes["phenology_offset"], float(psi_d),
                             modes["temperature"], modes["phenology_clock"])
        # the last run: (theta bytes, kernel output numbers, read-only (n, n_sel) outputs)
        self._last = (None, (), None)
        self._keep_pools = False             # store the pools in every run (for `adjoint`)
        self._pools_used = True              # the last run's stored pools went to `adjoint`

    @property
    def time(self) -> np.ndarray:
        """Dates of the steps (``drivers.time``): streams may give observation dates."""
        return self.drivers.time

    def __repr__(self):
        changed = {k: v for k, v in self.switches.items() if v != VARIANTS[self.variant][k]}
        extra = "".join(f", {k}={v!r}" for k, v in changed.items())
        return f"Dalec2(<{self._where()}, {self.n} steps>, variant={self.variant!r}{extra})"

    def _where(self) -> str:
        return self.drivers.site or self.drivers.source or "drivers"

    # --- forward -----------------------------------------------------------------------------
    def run(self, theta, outputs=None):
        """Run the model.

        Parameters
        ----------
        theta : array_like, shape (23,)
            Parameters and initial pools, in the order of ``parameters``.
        outputs : collection of str, optional
            The outputs needed (default: all); the kernel stores only these. Names that are
            not outputs of DALEC2 are left out (`pdaframe.interfaces`).

        Returns
        -------
        dict of ndarray, each shape (n,)
            The outputs ``gpp ra rh rtot nee lai c_lab c_fol c_roo c_woo c_lit c_som``
            (see ``output_units``), or those of them in ``outputs``; read-only. The values
            do not depend on the selection.

        Raises
        ------
        ModelError
            ``theta`` has the wrong length or an invalid value (naming the parameter), or a
            pool becomes negative or non-finite, or a flux non-finite (naming the pool or
            flux, the step and its date). ``theta`` is attached.
        """
        wanted = _selection(outputs)
        if not wanted:
            return {}
        theta = self._check_theta(theta)
        key = theta.tobytes()
        last = self._last
        if last[0] != key or not set(wanted) <= set(last[1]):
            if not self._pools_used:         # the last run's pools went unused: stop storing
                self._keep_pools = False
            sel = tuple(sorted(_POOLS.union(wanted))) if self._keep_pools else wanted
            last = (key, sel, self._forward(theta, sel))
            self._pools_used = not self._keep_pools
            self._last = last
        sel, out = last[1], last[2]
        return {OUTPUTS[j - 1]: out[:, sel.index(j)] for j in wanted}

    def _forward(self, theta, sel):
        """The kernel's outputs numbered ``sel`` (sorted) at ``theta``: (n, len(sel)),
        Fortran order, read-only (shared with the caller's dict and the cache)."""
        out = np.empty((self.n, len(sel)), order="F")
        status = _kernel.dalec2_run(self.n, theta, self._met, *self._switch_args, len(sel),
                                    _numbers(sel), out)
        if status[0]:
            raise self._error(status, theta)
        out.flags.writeable = False
        return out

    def _pools(self, theta):
        """The pool trajectory at ``theta``, (n, 6), Fortran order: the last run's when it
        stored the pools, else a run for them (and later runs store them)."""
        key, sel, out = self._last
        if key == theta.tobytes() and _POOLS <= set(sel):
            self._pools_used = True
            return out[:, -6:]                  # sel is sorted: the pools are its last six
        if key == theta.tobytes():           # a gradient at the point of the last run
            self._keep_pools = True
        return self._forward(theta, tuple(sorted(_POOLS)))

    # --- derivatives ------------------------------------------------------------------------
    def tangent(self, theta, dtheta, outputs=None):
        """Tangent linear: the outputs' derivative along ``dtheta``.

        Parameters
        ----------
        theta : array_like, shape (23,)
            Point of linearisation.
        dtheta : array_like, shape (23,)
            Parameter perturbation.
        outputs : collection of str, optional
            The outputs needed (default: all), as in `run`.

        Returns
        -------
        dict of ndarray, each shape (n,)
            ``J_name @ dtheta`` for each output of `run` (or those in ``outputs``).

        Raises
        ------
        ModelError
            As `run`, or ``dtheta`` has the wrong shape or is not finite.
        """
        wanted = _selection(outputs)
        if not wanted:
            return {}
        theta = self._check_theta(theta)
        dtheta = self._check_theta(dtheta, "dtheta")
        dout = np.empty((self.n, len(wanted)), order="F")
        status = _kernel.dalec2_tangent(self.n, theta, dtheta, self._met, *self._switch_args,
                                        len(wanted), _numbers(wanted), dout)
        if status[0]:
            raise self._error(status, theta)
        return {OUTPUTS[j - 1]: dout[:, k] for k, j in enumerate(wanted)}

    def adjoint(self, theta, d_outputs):
        """Adjoint: the vector-Jacobian product ``sum_name J_name.T @ d_outputs[name]``.

        Parameters
        ----------
        theta : array_like, shape (23,)
            Point of linearisation.
        d_outputs : mapping of str to array_like, each shape (n,)
            Sensitivities of the outputs; missing outputs have zero sensitivity.

        Returns
        -------
        ndarray, shape (23,)
            Gradient with respect to ``theta``.

        Raises
        ------
        ModelError
            As `run`, or ``d_outputs`` names an unknown output or has a wrongly shaped or
            non-finite array.
        """
        theta = self._check_theta(theta)
        sel, out_bar = self._check_d_outputs(d_outputs)
        pools = self._pools(theta)           # no new run after run(theta) stored them
        theta_bar = np.zeros(len(PARAMETERS))
        status = _kernel.dalec2_adjoint(self.n, theta, self._met, *self._switch_args,
                                        pools, len(sel), _numbers(sel), out_bar, theta_bar)
        if status[0]:
            raise self._error(status, theta)
        return theta_bar

    # --- checks and errors ------------------------------------------------------------------
    def _check_theta(self, theta, what="theta") -> np.ndarray:
        arr = np.array(theta, dtype=np.float64)      # a copy: the kernel never sees the caller's
        if arr.shape != (len(PARAMETERS),):
            raise ModelError(f"dalec2: {what} needs {len(PARAMETERS)} values "
                             f"{list(self.parameter_names)}, got shape {arr.shape}",
                             theta=theta if what == "theta" else None)
        if what != "theta" and not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ModelError(f"dalec2: {what}[{self.parameter_names[bad]!r}] is {arr[bad]}")
        return arr

    def _check_d_outputs(self, d_outputs) -> tuple[tuple[int, ...], np.ndarray]:
        """The kernel numbers of the outputs given in ``d_outputs`` and their (n, n_sel)
        Fortran-ordered sensitivities (NEE with zeros when none is given)."""
        unknown = sorted(set(d_outputs) - set(OUTPUTS))
        if unknown:
            raise ModelError(f"dalec2 adjoint: unknown output(s) {unknown}; the outputs are "
                             f"{list(OUTPUTS)}")
        given = [name for name in OUTPUTS if d_outputs.get(name) is not None] or ["nee"]
        out_bar = np.zeros((self.n, len(given)), order="F")
        for j, name in enumerate(given):
            if d_outputs.get(name) is None:
                continue
            value = np.asarray(d_outputs[name], dtype=np.float64)
            if value.shape != (self.n,):
                raise ModelError(f"dalec2 adjoint: d_outputs[{name!r}] has shape "
                                 f"{value.shape}, expected ({self.n},)")
            if not np.all(np.isfinite(value)):
                raise ModelError(f"dalec2 adjoint: d_outputs[{name!r}] is not finite at "
                                 f"step {int(np.flatnonzero(~np.isfinite(value))[0])}")
            out_bar[:, j] = value
        return tuple(_NUMBER[name] for name in given), out_bar

    def _error(self, status, theta) -> ModelError:
        """The `ModelError` for a kernel status ``(ierr, fail_step, fail_index)``."""
        ierr, step, index = (int(s) for s in status)
        names = self.parameter_names
        if ierr == _ERR_PARAM:
            name = names[index - 1]
            value = float(theta[index - 1])
            if not math.isfinite(value):
                why = "must be a finite number"
            elif name == "c_lspan":
                why = "must be greater than 1"
            elif name in ("c_ronset", "c_rfall", "c_lma"):
                why = "must be positive"
            else:
                why = "must not be negative (an initial pool)"
            return ModelError(f"dalec2: parameter {name!r} = {value!r} is invalid: {why}",
                              theta=theta)
        if ierr in (_ERR_POOL, _ERR_FLUX):
            when = (f"step {step} (0-based, of {self.n}; dated {self.drivers.time[step]}) "
                    f"at {self._where()}")
            if ierr == _ERR_POOL:
                return ModelError(
                    f"dalec2: {POOLS[index - 1]} became negative or non-finite at the end of "
                    f"{when}; pools empty when a daily loss fraction (phenology Phi, "
                    f"turnover rate, or rate * exp(theta T)) exceeds 1, or an allocation "
                    f"fraction is outside [0, 1]", theta=theta)
            return ModelError(f"dalec2: {OUTPUTS[index - 1]} is not finite on {when}",
                              theta=theta)
        return ModelError(f"dalec2: kernel status {ierr} (invalid switch values or output "
                          f"selection)", theta=theta)
