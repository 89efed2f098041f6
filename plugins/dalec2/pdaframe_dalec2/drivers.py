"""DALEC2 drivers: the meteorology of one site, one value per model step."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdaframe.plugin import DataError


@dataclass(frozen=True)
class Drivers:
    """Meteorological drivers of a DALEC2 run, one value per step (all arrays shape ``(n,)``).

    Attributes
    ----------
    time : ndarray of datetime64[D]
        Date of each step's start (the first day of the month for monthly data).
    doy : ndarray
        Day of year of the step (P16 phenology clock, restarts each 1 January), 1..366.
    elapsed : ndarray
        Days since the start of the run at the step (CARDAMOM phenology clock).
    t_min, t_max, t_mean : ndarray
        Daily minimum, maximum and mean air temperature, degC.
    sw : ndarray
        Incoming shortwave radiation, MJ m-2 d-1 (DALEC2 ``I``).
    dt : ndarray
        Step length in days (1 for daily drivers).
    latitude : float
        Site latitude, degrees north.
    co2 : ndarray or None
        Atmospheric CO2, ppm, when the data have it.
    site : str
        Site name, for messages.
    source : str
        Where the drivers came from, for messages.
    """

    time: np.ndarray
    doy: np.ndarray
    elapsed: np.ndarray
    t_min: np.ndarray
    t_max: np.ndarray
    t_mean: np.ndarray
    sw: np.ndarray
    dt: np.ndarray
    latitude: float
    co2: np.ndarray | None = None
    site: str = ""
    source: str = ""

    def __post_init__(self):
        n = np.size(self.time)
        where = self.source or self.site or "drivers"
        if n == 0:
            raise DataError(f"{where}: no driver steps")
        for name in ("doy", "elapsed", "t_min", "t_max", "t_mean", "sw", "dt") + \
                (("co2",) if self.co2 is not None else ()):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                raise DataError(f"{where}: driver {name!r} has shape {arr.shape}, expected ({n},)")
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                raise DataError(f"{where}: driver {name!r} is missing or not finite on "
                                f"{self.time[bad[0]]} (step {bad[0]}; {bad.size} steps in all)")
            object.__setattr__(self, name, arr)
        if not -90.0 <= float(self.latitude) <= 90.0:
            raise DataError(f"{where}: latitude {self.latitude} is not in [-90, 90] degrees")
        if np.any(self.dt <= 0):
            raise DataError(f"{where}: step lengths dt must be positive")

    @property
    def n(self) -> int:
        return int(np.size(self.time))

    @classmethod
    def from_table(cls, table) -> "Drivers":
        """Daily drivers from a `pdaframe.plugin.DriverTable` (`read_driver_file`,
        `drivers_from_fluxnet`).

        ``doy`` is the day of year of each date, ``elapsed`` = 1, 2, ..., n, ``dt`` = 1;
        ``t_mean`` is the table's, or ``(t_min + t_max) / 2`` when it has none; ``co2`` the
        table's when it has one (used with the switch ``co2 = "driver"``).

        Raises
        ------
        DataError
            The table is not daily, or lacks ``t_min``, ``t_max`` or ``sw`` (naming its file).
        """
        where = table.source or table.site or "driver table"
        if table.step != "1D":
            raise DataError(f"{where}: DALEC2 reads daily driver tables, this one has step "
                            f"{table.step!r}")
        missing = [c for c in ("t_min", "t_max", "sw") if c not in table]
        if missing:
            raise DataError(f"{where}: DALEC2 needs the driver column(s) {missing} (degC, "
                            f"degC, MJ m-2 d-1); the table has {sorted(table.columns)}")
        time = np.asarray(table.time, dtype="datetime64[D]")
        year_start = time.astype("datetime64[Y]").astype("datetime64[D]")
        t_min, t_max = table["t_min"], table["t_max"]
        t_mean = table["t_mean"] if "t_mean" in table else 0.5 * (t_min + t_max)
        return cls(time=time, doy=(time - year_start).astype(int) + 1.0,
                   elapsed=np.arange(1.0, time.size + 1.0), t_min=t_min, t_max=t_max,
                   t_mean=t_mean, sw=table["sw"], dt=np.ones(time.size),
                   latitude=float(table.latitude),
                   co2=table["co2"] if "co2" in table else None, site=table.site,
                   source=table.source)
