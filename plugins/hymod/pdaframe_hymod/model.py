"""HYMOD (Boyle 2000) in SPOTPY's formulation, as a pdaframe model.

A Pareto-distributed soil-moisture store (maximum capacity ``cmax``, shape ``bexp``) turns
daily rain into effective rainfall; a fraction ``alpha`` of it is routed through three
linear quick-flow reservoirs (rate ``kq``), the rest through one slow reservoir (rate
``ks``). Actual ET is the potential ET times the relative soil storage. All stores start
empty. The C kernel (``native/hymod/hymod.c``) runs the whole time loop in one call; its
header comment gives the equations.

HYMOD has no tangent linear or adjoint: its thresholds (``max``/``min``) make it only
piecewise smooth, so calibrate it with derivative-free methods (``de``, ``ga``,
``nelder-mead``) or finite differences.

References
----------
Boyle, D. P. (2000). Multicriteria calibration of hydrological models. PhD thesis,
University of Arizona.
Houska, T. et al. (2015). SPOTting model parameters using a ready-made Python package.
PLoS ONE 10(12), e0145180.
"""
from __future__ import annotations

import numpy as np

from pdaframe.plugin import ConfigError, Model, ModelError, Parameter

from .forcing import Forcing, read_forcing
from .kernel import run_kernel

AREA_KM2 = 1.783
"""Catchment area of the bundled data set, km²."""

MM_DAY_TO_LS = AREA_KM2 * 1e6 / 86400.0
"""mm/day over the catchment -> l/s."""


def _parameter(name, lower, upper, units, long_name):
    return Parameter(name, default=(lower + upper) / 2, lower=lower, upper=upper,
                     std=(upper - lower) / 4, units=units, long_name=long_name)


PARAMETERS = (
    _parameter("cmax", 1.0, 500.0, "mm", "maximum storage capacity of the soil"),
    _parameter("bexp", 0.1, 2.0, "1", "shape of the Pareto distribution of capacities"),
    _parameter("alpha", 0.1, 0.99, "1", "fraction of effective rainfall to quick flow"),
    _parameter("ks", 0.001, 0.10, "day-1", "outflow rate of the slow reservoir"),
    _parameter("kq", 0.1, 0.99, "day-1", "outflow rate of each quick reservoir"),
)
"""The five parameters: SPOTPY tutorial ranges as bounds, mid-range defaults, std =
range / 4."""

OUTPUTS = ("discharge", "soil_moisture", "quick_flow", "slow_flow", "aet", "routing_storage")
"""Kernel outputs in column order; `Hymod.run` adds ``discharge_ls``."""


class Hymod(Model):
    """HYMOD over daily forcing (see the module docstring).

    Parameters
    ----------
    drivers_file : str or Path, optional
        Forcing file in SPOTPY's format (see `read_forcing`); default the bundled data
        (2012-2016, SPOTPY's HYMOD example).
    warmup : int
        Leading days that are run but not returned: outputs and `time` start after them.
    forcing : Forcing, optional
        Forcing from Python instead of a file.

    Attributes
    ----------
    forcing : Forcing
    warmup : int
    n : int
        Days returned (``forcing.n - warmup``).

    Raises
    ------
    ConfigError
        Both ``drivers_file`` and ``forcing``, or ``warmup`` not an integer in
        ``[0, n_days)``.
    DataError
        Bad forcing (from `read_forcing` / `Forcing`).

    Examples
    --------
    >>> model = Hymod()                                   # doctest: +SKIP
    >>> model.run(model.defaults)["discharge_ls"].shape   # doctest: +SKIP
    (1827,)
    """

    parameters = PARAMETERS
    output_units = {
        "discharge": "mm day-1",         # quick + slow flow leaving the catchment
        "discharge_ls": "l s-1",         # the same over 1.783 km²
        "soil_moisture": "mm",           # mean soil storage at the end of the day
        "quick_flow": "mm day-1",        # outflow of the third quick reservoir
        "slow_flow": "mm day-1",         # outflow of the slow reservoir
        "aet": "mm day-1",               # actual evapotranspiration
        "routing_storage": "mm",         # water in the four reservoirs at the end of the day
    }

    def __init__(self, drivers_file=None, warmup: int = 0, forcing: Forcing | None = None):
        if forcing is not None and drivers_file is not None:
            raise ConfigError("hymod: give drivers_file or forcing, not both")
        if forcing is None:
            forcing = read_forcing(drivers_file)
        elif not isinstance(forcing, Forcing):
            raise ConfigError(f"hymod: forcing must be a pdaframe_hymod.Forcing, got "
                              f"{type(forcing).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or \
                not 0 <= warmup < forcing.n:
            raise ConfigError(f"hymod: warmup must be a whole number of days in "
                              f"[0, {forcing.n}) ({forcing.source}), got {warmup!r}")
        self.forcing = forcing
        self.warmup = int(warmup)
        self.n = forcing.n - self.warmup

    def __repr__(self):
        return f"Hymod(<{self.forcing.source}, {self.forcing.n} days>, warmup={self.warmup})"

    @property
    def time(self) -> np.ndarray:
        """Dates of the returned days, datetime64[D], shape ``(n,)``."""
        return self.forcing.time[self.warmup:]

    def run(self, theta):
        """Run HYMOD.

        Parameters
        ----------
        theta : array_like, shape (5,)
            ``cmax bexp alpha ks kq``.

        Returns
        -------
        dict of ndarray, each shape (n,)
            ``discharge discharge_ls soil_moisture quick_flow slow_flow aet
            routing_storage`` (see ``output_units``), after the warm-up.

        Raises
        ------
        ModelError
            ``theta`` has the wrong shape, or a value outside the kernel's valid range
            (``cmax > 0``, ``bexp >= 0``, ``0 <= alpha <= 1``, ``0 < ks, kq < 1``), naming
            the parameter. ``theta`` is attached.
        """
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (len(PARAMETERS),):
            raise ModelError(f"hymod: theta must have shape (5,) ({', '.join(self.parameter_names)}), "
                             f"got {theta.shape}", theta)
        out = run_kernel(self.forcing.precip, self.forcing.pet, theta)[self.warmup:]
        result = {name: out[:, j] for j, name in enumerate(OUTPUTS)}
        result["discharge_ls"] = result["discharge"] * MM_DAY_TO_LS
        return result
