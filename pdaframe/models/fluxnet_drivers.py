"""Daily drivers from the meteorology of a FLUXNET file (FLUXNET2015 / ONEFlux FULLSET,
AmeriFlux-FLUXNET).

Columns read (``-9999`` is a missing value):

- the time: ``TIMESTAMP_START`` (``YYYYMMDDHHMM``) in half-hourly (HH) and hourly (HR)
  files, ``TIMESTAMP`` (``YYYYMMDD``) in daily (DD) files;
- ``TA_F`` (air temperature, gap-filled, degC);
- ``SW_IN_F`` (incoming shortwave, gap-filled, W m-2), converted to MJ m-2 d-1 (daily mean
  times 0.0864);
- ``CO2_F_MDS`` (CO2 mole fraction, gap-filled, µmol mol-1 = ppm), when the file has it.

HH/HR records are aggregated per day (the records starting 00:00 .. 23:30 of that day):
``t_min``, ``t_max``, ``t_mean`` from ``TA_F``, ``sw`` from the mean ``SW_IN_F``, ``co2``
the mean. Every day needs all its 48 (HH) or 24 (HR) records with values: a missing record
or value is an error naming the day, not a day averaged over what is left. DD files give
``t_mean``, ``sw`` and ``co2`` as they are (they have no daily minimum or maximum).

The file may be gzip-compressed (``*.csv.gz``; `pdaframe.tables.open_text` opens it).

FLUXNET CSVs carry no coordinates: the latitude is an argument. The site name comes from the
file name (``FLX_<SITE>_FLUXNET2015_...``, ``AMF_<SITE>_FLUXNET_...``).
"""
from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..errors import ConfigError, DataError
from ..observations.readers.fluxnet import MISSING_VALUE as FILL
from ..tables import read_columns, read_header
from .driver_file import DriverTable, check_days, read_driver_file, resolve_latitude

W_M2_TO_MJ_M2_D = 86400.0 / 1e6
#: FLUXNET column -> (what it is, unit)
FLUXNET_COLUMNS = {
    "TA_F": ("air temperature, gap-filled", "degC"),
    "SW_IN_F": ("incoming shortwave radiation, gap-filled", "W m-2"),
    "CO2_F_MDS": ("CO2 mole fraction, gap-filled", "umol mol-1"),
}
_SITE = re.compile(r"^(?:FLX|AMF)_([A-Za-z]{2}-[A-Za-z0-9]{3})_")


def is_fluxnet_file(path) -> bool:
    """True when the first row of ``path`` names a ``TIMESTAMP_START`` or ``TIMESTAMP``
    column (a FLUXNET CSV)."""
    return bool({"TIMESTAMP_START", "TIMESTAMP"} & set(read_header(path, "FLUXNET file")))


def drivers_from_fluxnet(path, latitude=None, site=None, co2=True) -> DriverTable:
    """Daily drivers from a FLUXNET HH, HR or DD CSV (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        E.g. ``FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2000-2012_1-4.csv``.
    latitude : float
        The site's latitude, degrees north (FLUXNET files have none).
    site : str, optional
        The site name; default: from the file name ("" when it does not follow the pattern).
    co2 : bool
        Read ``CO2_F_MDS`` when the file has it (a missing value is then an error, as for
        the other columns); False leaves it out.

    Returns
    -------
    DriverTable
        Columns ``t_min``, ``t_max``, ``t_mean``, ``sw`` (HH/HR) or ``t_mean``, ``sw`` (DD),
        and ``co2`` when the file has ``CO2_F_MDS``.

    Raises
    ------
    DataError
        Naming the file and the line, column or day: a missing time, ``TA_F`` or ``SW_IN_F``
        column, a timestamp that is not ``YYYYMMDDHHMM`` (``YYYYMMDD``), a step other than
        30 or 60 minutes (HH/HR) or a gap, duplicate or disorder, a day with fewer records
        than a full day, a missing (``-9999``, empty) value, or no latitude.
    """
    path = Path(path)
    header = read_header(path, "FLUXNET file")
    if "TIMESTAMP_START" in header:
        time_column, daily = "TIMESTAMP_START", False
    elif "TIMESTAMP" in header:
        time_column, daily = "TIMESTAMP", True
    else:
        raise DataError(f"{path}: not a FLUXNET file: no 'TIMESTAMP_START' (HH/HR) or "
                        f"'TIMESTAMP' (DD) column; the file has {header[:8]}...")
    missing = [c for c in ("TA_F", "SW_IN_F") if c not in header]
    if missing:
        raise DataError(f"{path}: missing FLUXNET column(s) " + ", ".join(
            f"{c!r} ({FLUXNET_COLUMNS[c][0]}, {FLUXNET_COLUMNS[c][1]})" for c in missing))
    names = ["TA_F", "SW_IN_F"] + (["CO2_F_MDS"] if co2 and "CO2_F_MDS" in header else [])
    cells = read_columns(path, [time_column] + names, text=[time_column], line_numbers=True)
    lines = cells["#line"]
    values = {c: np.where(cells[c] == FILL, np.nan, cells[c]) for c in names}
    if daily:
        days = _stamps(path, cells[time_column], lines, time_column, "%Y%m%d")
        check_days(path, days, lambda i: f"line {lines[i]}")
        for c in names:
            _no_missing(path, c, values[c], lines, days)
        columns = {"t_mean": values["TA_F"], "sw": values["SW_IN_F"] * W_M2_TO_MJ_M2_D}
    else:
        stamps = _stamps(path, cells[time_column], lines, time_column, "%Y%m%d%H%M")
        per_day = _records_per_day(path, stamps, lines)
        days = stamps.astype("datetime64[D]")
        for c in names:
            _no_missing(path, c, values[c], lines, days)
        days = days[::per_day]
        ta = values["TA_F"].reshape(-1, per_day)
        columns = {"t_min": ta.min(axis=1), "t_max": ta.max(axis=1), "t_mean": ta.mean(axis=1),
                   "sw": values["SW_IN_F"].reshape(-1, per_day).mean(axis=1) * W_M2_TO_MJ_M2_D}
    if "CO2_F_MDS" in values:
        columns["co2"] = values["CO2_F_MDS"].reshape(days.size, -1).mean(axis=1)
    if site is None:
        match = _SITE.match(path.name)
        site = match.group(1) if match else ""
    return DriverTable(days, MappingProxyType(columns), resolve_latitude(path, None, latitude),
                       None, site, str(path), "1D",
                       MappingProxyType({"format": "fluxnet", "resolution":
                                         "DD" if daily else f"{1440 // per_day} min"}))


def _stamps(path, cells, lines, column, layout) -> np.ndarray:
    """``YYYYMMDD[HHMM]`` cells as datetime64[D] (daily) or [m]."""
    digits = 8 if layout == "%Y%m%d" else 12
    out = np.empty(len(cells), dtype="datetime64[D]" if digits == 8 else "datetime64[m]")
    for i, cell in enumerate(cells):
        try:
            if not re.fullmatch(rf"\d{{{digits}}}", cell):
                raise ValueError
            iso = f"{cell[:4]}-{cell[4:6]}-{cell[6:8]}" + \
                  (f"T{cell[8:10]}:{cell[10:12]}" if digits == 12 else "")
            out[i] = np.datetime64(iso)
        except ValueError:
            raise DataError(f"{path}, line {lines[i]}, column {column!r}: expected a "
                            f"timestamp {'YYYYMMDD' if digits == 8 else 'YYYYMMDDHHMM'}, "
                            f"got {str(cell)!r}") from None
    return out


def _records_per_day(path, stamps, lines) -> int:
    """48 (half-hourly) or 24 (hourly); checks the step is constant and days are whole."""
    step = np.diff(stamps).astype(int)
    if stamps.size < 2 or step[0] not in (30, 60):
        raise DataError(f"{path}: the first step is {step[0] if step.size else 0} minutes "
                        f"(line {lines[0]}); expected 30 (HH) or 60 (HR)")
    bad = np.flatnonzero(step != step[0])
    if bad.size:
        i = bad[0]
        kind = ("a duplicate" if step[i] == 0 else "out of order" if step[i] < 0
                else f"a gap of {step[i] - step[0]} minutes")
        raise DataError(f"{path}: TIMESTAMP_START {stamps[i + 1]} (line {lines[i + 1]}) "
                        f"follows {stamps[i]} (line {lines[i]}): {kind}; expected a record "
                        f"every {step[0]} minutes")
    per_day = 1440 // int(step[0])
    days = stamps.astype("datetime64[D]")
    for i in (0, stamps.size - 1):
        count = int(np.count_nonzero(days == days[i]))
        if count != per_day:
            raise DataError(f"{path}: day {days[i]} has {count} of its {per_day} records "
                            f"(line {lines[i]}); every day needs all of them: cut the file "
                            f"to whole days")
    return per_day


def _no_missing(path, column, values, lines, days):
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = bad[0]
        n_days = np.unique(days[bad]).size
        hint = "; co2=False leaves CO2 out" if column == "CO2_F_MDS" else ""
        raise DataError(f"{path}, line {lines[i]}, column {column!r}: missing value "
                        f"({FILL:g} or empty) on day {days[i]}; every record of a day needs "
                        f"a value ({bad.size} missing on {n_days} day(s) in all){hint}")


DRIVER_FORMATS = ("table", "fluxnet")
"""Formats of `read_site_drivers`: pdaframe's driver file, a FLUXNET file."""


def read_site_drivers(path, format=None, latitude=None, co2=True, required=("t_min", "t_max", "sw"),
                      optional=None) -> DriverTable:
    """Daily drivers from a driver file (`pdaframe.models.driver_file`) or a FLUXNET file.

    Parameters
    ----------
    path : str or path-like
        The file (CSV, plain or gzip-compressed, or CF-NetCDF for a driver file).
    format : {None, "table", "fluxnet"}
        None: a FLUXNET file when its header has ``TIMESTAMP_START`` or ``TIMESTAMP``
        (`drivers_from_fluxnet`), else a driver file (`read_driver_file`).
    latitude : float, optional
        Degrees north; required when the file has none, checked when it has one.
    co2 : bool
        Read the CO2 column (``co2``, FLUXNET ``CO2_F_MDS``) when the file has one.
    required, optional : tuple of str
        A driver file's columns (`read_driver_file`; ``optional`` None: ``t_mean`` and, with
        ``co2``, ``co2``). A FLUXNET file gives the columns `drivers_from_fluxnet` documents.

    Raises
    ------
    ConfigError
        An unknown ``format``.
    DataError
        From the readers (naming file, line/column or day).
    """
    if format is None:
        netcdf = Path(path).suffix.lower() in (".nc", ".nc4", ".netcdf", ".cdf")
        format = "table" if netcdf or not is_fluxnet_file(path) else "fluxnet"
    if format == "fluxnet":
        return drivers_from_fluxnet(path, latitude=latitude, co2=co2)
    if format == "table":
        if optional is None:
            optional = ("t_mean", "co2") if co2 else ("t_mean",)
        return read_driver_file(path, required, optional, latitude=latitude)
    raise ConfigError(f"drivers format={format!r}: expected one of {list(DRIVER_FORMATS)} "
                      f"(or leave it out to detect it from the header)")
