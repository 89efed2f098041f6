"""HYMOD (Boyle 2000) in SPOTPY's formulation, as a pdaframe model.

A Pareto-distributed soil-moisture store (maximum capacity ``cmax``, shape ``bexp``) turns
daily rain into effective rainfall; a fraction ``alpha`` of it is routed through three
linear quick-flow reservoirs (rate ``kq``), the rest through one slow reservoir (rate
``ks``). Actual ET is the potential ET times the relative soil storage. All stores start
empty. The C kernel (``native/hymod/hymod.c``) runs the whole time loop in one call; its
header comment gives the equations. The parameter table is ``parameters.toml`` next to this
module; `pdaframe.plugin.KernelModel` does the rest (validation, allocation, errors, the time
axis, the warm-up).

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

from pathlib import Path

import numpy as np

from pdaframe.plugin import ConfigError, KernelModel, load_parameter_table

from .forcing import Forcing, read_forcing
from .kernel import call_kernel, status_text

AREA_KM2 = 1.783
"""Catchment area of the bundled data set, km²."""

MM_DAY_TO_LS = AREA_KM2 * 1e6 / 86400.0
"""mm/day over the catchment -> l/s."""

PARAMETERS = load_parameter_table(Path(__file__).with_name("parameters.toml"))
"""The five parameters: SPOTPY tutorial ranges as bounds, mid-range defaults, std =
range / 4."""

OUTPUTS = ("discharge", "soil_moisture", "quick_flow", "slow_flow", "aet", "routing_storage")
"""Kernel outputs in column order; `Hymod.run` adds ``discharge_ls``."""


class Hymod(KernelModel):
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

    name = "hymod"
    parameters = PARAMETERS
    kernel_outputs = OUTPUTS
    scaled_outputs = {"discharge_ls": ("discharge", MM_DAY_TO_LS)}
    order = "C"
    output_units = {
        "discharge": "mm day-1",         # quick + slow flow leaving the catchment
        "soil_moisture": "mm",           # mean soil storage at the end of the day
        "quick_flow": "mm day-1",        # outflow of the third quick reservoir
        "slow_flow": "mm day-1",         # outflow of the slow reservoir
        "aet": "mm day-1",               # actual evapotranspiration
        "routing_storage": "mm",         # water in the four reservoirs at the end of the day
        "discharge_ls": "l s-1",         # discharge over 1.783 km²
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
        super().__init__(forcing.n, forcing.time, warmup=warmup)
        self.forcing = forcing
        self._precip = np.ascontiguousarray(forcing.precip, dtype=np.float64)
        self._pet = np.ascontiguousarray(forcing.pet, dtype=np.float64)

    def __repr__(self):
        return f"Hymod(<{self.forcing.source}, {self.forcing.n} days>, warmup={self.warmup})"

    def kernel_run(self, theta, out):
        return call_kernel(self._precip, self._pet, theta, out)

    def kernel_error(self, status, theta) -> str:
        return status_text(*status, self.n_run)
