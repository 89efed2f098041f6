"""Site-agnostic driver files: any site's daily meteorology as a `DriverTable`.

One layout, two encodings, read by `read_driver_file`:

**CSV** (UTF-8): leading ``# key = value`` comment lines hold the metadata (``latitude``,
degrees north, in [-90, 90]; ``longitude``, degrees east; ``site``, a name), then a header
row, then one row per day::

    # site = Alice Holt
    # latitude = 51.15
    # longitude = -0.85
    date,t_min,t_max,t_mean,sw,co2
    1999-01-01,-1.5,0.7,-0.31,2.18,366.7
    1999-01-02,...

``date`` is ISO ``YYYY-MM-DD``, consecutive days, one row each (no gaps, duplicates or
disorder). Other ``#`` lines are free comments; extra columns are ignored.

**CF-NetCDF**: a ``time`` coordinate with CF units (``days since 1999-01-01``; calendar
``standard``, ``gregorian`` or ``proleptic_gregorian``; a time of day is dropped, the date
kept), variables of the same names along ``time`` (a ``units`` attribute, when present, must
be the documented unit), the latitude as a global attribute ``latitude`` or a scalar variable
``latitude``/``lat`` (likewise ``longitude``/``lon``), the site as a global attribute ``site``.

The column names and their units (`COLUMNS`):

=========  =============  =============================================
``t_min``  degC           daily minimum air temperature
``t_max``  degC           daily maximum air temperature
``t_mean`` degC           daily mean air temperature
``sw``     MJ m-2 d-1     incoming shortwave radiation, daily total
``co2``    ppm            atmospheric CO2 mole fraction
``precip`` mm d-1         precipitation, daily total
=========  =============  =============================================

A model asks for the columns it needs (``required``) and may use (``optional``); a value that
is missing (empty cell, ``NA``, a NetCDF fill value) is an error, never a silent gap.
`pdaframe.models.fluxnet_drivers.drivers_from_fluxnet` builds the same table from a FLUXNET
file's meteorology. `format_driver_file` is the inverse of the CSV reader (the text of a
table's driver file; `pdaframe.prediction.scenario.write_driver_file` writes it atomically).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import ConfigError, DataError
from ..tables import read_columns

#: The documented columns of a driver file and their units.
COLUMNS = MappingProxyType({
    "t_min": "degC", "t_max": "degC", "t_mean": "degC", "sw": "MJ m-2 d-1", "co2": "ppm",
    "precip": "mm d-1"})

# spellings of each unit accepted in a NetCDF ``units`` attribute (compared without blanks,
# case-insensitively, "day" read as "d")
_UNIT_SPELLINGS = {
    "degC": {"degc", "celsius", "degree_celsius", "degrees_celsius", "°c", "c", "deg_c"},
    "MJ m-2 d-1": {"mjm-2d-1", "mj/m2/d", "mj/m^2/d", "mjm^-2d^-1", "mj/m2d"},
    "ppm": {"ppm", "ppmv", "umol/mol", "umolmol-1", "µmol/mol", "µmolmol-1", "1e-6"},
    "mm d-1": {"mmd-1", "mm/d", "kgm-2d-1", "kg/m2/d"},
}
_NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")


@dataclass(frozen=True)
class DriverTable:
    """Daily meteorology of one site, as read from a driver file.

    Attributes
    ----------
    time : ndarray of datetime64[D], shape (n,)
        The days, consecutive.
    columns : mapping of str to ndarray, shape (n,)
        The columns read (`COLUMNS` names and units), all finite floats. ``table["sw"]``
        is ``table.columns["sw"]``.
    latitude : float
        Degrees north, in [-90, 90].
    longitude : float or None
        Degrees east, when the file has it.
    site : str
        The site name ("" when the file has none).
    source : str
        The file read, for messages.
    step : str
        The step of ``time``: ``"1D"`` (the readers read daily files only).
    metadata : mapping of str to str or float
        Everything the file says about itself (the CSV's ``# key = value`` lines, the
        NetCDF's site and coordinates; FLUXNET: ``format`` and ``resolution``).
    """

    time: np.ndarray
    columns: Mapping[str, np.ndarray]
    latitude: float
    longitude: float | None = None
    site: str = ""
    source: str = ""
    step: str = "1D"
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of days."""
        return int(self.time.size)

    def __getitem__(self, name) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name) -> bool:
        return name in self.columns

    def window(self, start=None, end=None) -> "DriverTable":
        """The days ``start`` .. ``end`` (both included; None: the file's first/last day).

        Raises
        ------
        DataError
            A bound that is not a date, ``start`` after ``end``, or a range outside the file.
        """
        lo = self.time[0] if start is None else _bound(self.source, start, "start", False)
        hi = self.time[-1] if end is None else _bound(self.source, end, "end", True)
        if lo > hi:
            raise DataError(f"{self.source}: start {lo} is after end {hi}")
        if lo < self.time[0] or hi > self.time[-1]:
            raise DataError(f"{self.source}: the requested range {lo} .. {hi} is outside "
                            f"the file, which covers {self.time[0]} .. {self.time[-1]}")
        rows = slice(int(np.searchsorted(self.time, lo)),
                     int(np.searchsorted(self.time, hi, "right")))
        return DriverTable(self.time[rows], {k: v[rows] for k, v in self.columns.items()},
                           self.latitude, self.longitude, self.site, self.source, self.step,
                           self.metadata)


def read_driver_file(path, required=("t_min", "t_max", "sw"), optional=("t_mean", "co2"),
                     latitude=None) -> DriverTable:
    """Read a site-agnostic driver file (CSV, or CF-NetCDF by its suffix ``.nc``).

    Parameters
    ----------
    path : str or path-like
        The file (layout in the module docstring).
    required : sequence of str
        Columns the file must have.
    optional : sequence of str
        Columns read when present.
    latitude : float, optional
        The site's latitude, degrees north: needed when the file has none; when it has one,
        the two must agree (within 1e-6 degrees).

    Returns
    -------
    DriverTable

    Raises
    ------
    DataError
        Naming the file and the line/column (CSV) or variable/time index (NetCDF): a missing
        file or column, a date that is not ``YYYY-MM-DD`` or a time without CF units, dates
        with a gap, a duplicate or out of order, a non-numeric, missing or non-finite value,
        a unit other than the documented one (NetCDF), a latitude outside [-90, 90], a file
        latitude that disagrees with ``latitude``, or no latitude at all.
    ConfigError
        ``latitude`` is not a number in [-90, 90].
    """
    path = Path(path)
    required, optional = tuple(required), tuple(c for c in optional if c not in required)
    if not path.is_file():
        raise DataError(f"driver file not found: {path}")
    read = _read_netcdf if path.suffix.lower() in _NETCDF_SUFFIXES else _read_csv
    time, columns, meta = read(path, required, optional)
    lat = resolve_latitude(path, meta.get("latitude"), latitude)
    lon = meta.get("longitude")
    return DriverTable(time, MappingProxyType(columns), lat,
                       None if lon is None else float(lon), str(meta.get("site", "")),
                       str(path), "1D", MappingProxyType(dict(meta)))


def format_driver_file(table: DriverTable, note="") -> str:
    """The CSV driver file of ``table`` (layout in the module docstring), as text.

    Values are written with ``repr``, so that `read_driver_file` gives back the same floats;
    ``note`` becomes ``#`` comment lines at the top.
    """
    columns = [c for c in COLUMNS if c in table.columns]
    lines = [f"# {line}" for line in note.splitlines()]
    if table.site:
        lines.append(f"# site = {table.site}")
    lines.append(f"# latitude = {float(table.latitude)!r}")
    if table.longitude is not None:
        lines.append(f"# longitude = {float(table.longitude)!r}")
    lines.append(",".join(["date"] + columns))
    values = [np.asarray(table.columns[c], dtype=float) for c in columns]
    for i, day in enumerate(np.asarray(table.time, dtype="datetime64[D]")):
        lines.append(",".join([str(day)] + [repr(float(v[i])) for v in values]))
    return "\n".join(lines) + "\n"


def resolve_latitude(path, in_file, option) -> float:
    """The latitude from the file (``in_file``) and/or the ``latitude`` option (``option``).

    Raises
    ------
    DataError
        The file's latitude is outside [-90, 90], disagrees with the option (by more than
        1e-6 degrees), or neither gives one.
    ConfigError
        The option is not a number in [-90, 90].
    """
    if option is not None:
        if isinstance(option, bool) or not isinstance(option, (int, float, np.floating)) \
                or not -90.0 <= float(option) <= 90.0:
            raise ConfigError(f"latitude={option!r}: expected a number of degrees north in "
                              f"[-90, 90]")
        option = float(option)
    if in_file is not None:
        in_file = float(in_file)
        if not -90.0 <= in_file <= 90.0:
            raise DataError(f"{path}: latitude {in_file:g} is not in [-90, 90] degrees north")
        if option is not None and abs(option - in_file) > 1e-6:
            raise DataError(f"{path}: the latitude option {option:g} disagrees with the "
                            f"file's latitude {in_file:g} (degrees north); correct one of "
                            f"them or leave the option out")
        return in_file
    if option is None:
        raise DataError(f"{path}: no latitude: give it in the file ('# latitude = 51.15' "
                        f"before the header of a CSV, a 'latitude' attribute or scalar "
                        f"variable in NetCDF) or as the latitude option (degrees north)")
    return option


def check_days(path, dates, where) -> None:
    """Raise `DataError` unless ``dates`` (datetime64[D]) are consecutive days.

    ``where(i)`` names row ``i`` in the message (e.g. ``"line 7"``).
    """
    step = np.diff(dates).astype(int)
    bad = np.flatnonzero(step <= 0)
    if not bad.size:
        bad = np.flatnonzero(step != 1)
    if bad.size:
        i = bad[0]
        kind = ("a duplicate date" if step[i] == 0 else "dates not increasing" if step[i] < 0
                else f"a gap of {step[i] - 1} day(s)")
        raise DataError(f"{path}: {kind}: {dates[i + 1]} ({where(i + 1)}) follows "
                        f"{dates[i]} ({where(i)}); expected consecutive days, one per row")


def missing_columns_error(path, missing, found) -> DataError:
    """The error of a driver file without the columns ``missing``."""
    wanted = ", ".join(f"{c!r} ({COLUMNS[c]})" if c in COLUMNS else repr(c) for c in missing)
    return DataError(f"{path}: missing column(s) {wanted}; the file has {sorted(found)}")


# --- CSV ---------------------------------------------------------------------------------
def _read_csv(path, required, optional):
    meta, header = _csv_preamble(path)
    missing = [c for c in ("date",) + required if c not in header]
    if missing:
        raise missing_columns_error(path, missing, header)
    names = list(required) + [c for c in optional if c in header]
    cells = read_columns(path, ["date"] + names, text=["date"], line_numbers=True)
    lines = cells["#line"]
    dates = np.empty(lines.size, dtype="datetime64[D]")
    for i, cell in enumerate(cells["date"]):
        try:
            if not re.fullmatch(r"\d{4}-\d\d-\d\d", cell):
                raise ValueError
            dates[i] = np.datetime64(cell, "D")
        except ValueError:
            raise DataError(f"{path}, line {lines[i]}, column 'date': expected a date "
                            f"YYYY-MM-DD, got {str(cell)!r}") from None
    check_days(path, dates, lambda i: f"line {lines[i]}")
    columns = {}
    for name in names:
        values = cells[name]
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(f"{path}, line {lines[bad[0]]}, column {name!r}: missing value on "
                            f"{dates[bad[0]]} (expected a number"
                            f"{' in ' + COLUMNS[name] if name in COLUMNS else ''}; "
                            f"{bad.size} missing in all)")
        columns[name] = values
    return dates, columns, meta


def _csv_preamble(path):
    """The ``# key = value`` metadata before the header, and the header."""
    meta = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for number, row in enumerate(csv.reader(fh), 1):
                if not row or not "".join(row).strip():
                    continue
                if not row[0].lstrip().startswith("#"):
                    return meta, [h.strip() for h in row]
                text = ",".join(row).lstrip()[1:]
                if "=" in text:
                    key, value = (s.strip() for s in text.split("=", 1))
                    meta[key.lower()] = _meta_value(path, number, key.lower(), value)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; driver files must be UTF-8") from None
    raise DataError(f"{path}: no header row (expected 'date' and the driver columns)")


def _meta_value(path, number, key, value):
    if key not in ("latitude", "longitude"):
        return value
    try:
        number_value = float(value)
        if not math.isfinite(number_value):
            raise ValueError
    except ValueError:
        raise DataError(f"{path}, line {number}: {key} {value!r} is not a number (expected "
                        f"degrees, e.g. '# {key} = 51.15')") from None
    return number_value


# --- CF-NetCDF ---------------------------------------------------------------------------
def _read_netcdf(path, required, optional):
    import cftime
    import netCDF4
    try:
        ds = netCDF4.Dataset(path)
    except OSError as err:
        raise DataError(f"{path}: cannot read it as NetCDF ({err})") from None
    with ds:
        dates = _netcdf_dates(path, ds, cftime)
        found = set(ds.variables)
        missing = [c for c in required if c not in found]
        if missing:
            raise missing_columns_error(path, missing, found)
        columns = {}
        for name in list(required) + [c for c in optional if c in found]:
            columns[name] = _netcdf_column(path, ds.variables[name], name, dates)
        meta = {k: getattr(ds, k) for k in ("site",) if k in ds.ncattrs()}
        for key, aliases in (("latitude", ("latitude", "lat")),
                             ("longitude", ("longitude", "lon"))):
            value = _netcdf_scalar(path, ds, key, aliases)
            if value is not None:
                meta[key] = value
    return dates, columns, meta


def _netcdf_dates(path, ds, cftime):
    if "time" not in ds.variables:
        raise DataError(f"{path}: no 'time' variable (expected a CF time coordinate, e.g. "
                        f"units 'days since 1999-01-01')")
    var = ds.variables["time"]
    units = getattr(var, "units", None)
    calendar = getattr(var, "calendar", "standard").lower()
    if calendar not in _CALENDARS:
        raise DataError(f"{path}, variable 'time': calendar {calendar!r} has no real dates; "
                        f"expected one of {list(_CALENDARS)}")
    values = np.ma.filled(np.ma.asarray(var[:], dtype=float), np.nan).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise DataError(f"{path}, variable 'time': empty, missing or non-finite values")
    try:
        when = cftime.num2date(values, str(units), calendar,
                               only_use_cftime_datetimes=False,
                               only_use_python_datetimes=True)
    except (ValueError, TypeError) as err:
        raise DataError(f"{path}, variable 'time': units {units!r} are not CF time units "
                        f"(expected e.g. 'days since 1999-01-01'): {err}") from None
    dates = np.array([w.date().isoformat() for w in np.atleast_1d(when)],
                     dtype="datetime64[D]")
    check_days(path, dates, lambda i: f"time index {i}")
    return dates


def _netcdf_column(path, var, name, dates):
    where = f"{path}, variable {name!r}"
    if var.dimensions != ("time",):
        raise DataError(f"{where}: dimensions {var.dimensions}, expected ('time',)")
    if var.dtype.kind not in "fiu":
        raise DataError(f"{where}: type {var.dtype}, expected numbers")
    units = getattr(var, "units", None)
    if units is not None and name in COLUMNS and not _same_unit(units, COLUMNS[name]):
        raise DataError(f"{where}: units {units!r}, expected {COLUMNS[name]!r}")
    values = np.ma.filled(np.ma.asarray(var[:], dtype=float), np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(f"{where}, time index {bad[0]} ({dates[bad[0]]}): missing or not "
                        f"finite ({bad.size} in all)")
    return values


def _netcdf_scalar(path, ds, key, aliases):
    if key in ds.ncattrs():
        value = getattr(ds, key)
    else:
        names = [a for a in aliases if a in ds.variables]
        if not names:
            return None
        value = np.ma.filled(np.ma.asarray(ds.variables[names[0]][:], dtype=float), np.nan)
        if value.size != 1:
            raise DataError(f"{path}, variable {names[0]!r}: {value.size} values, expected "
                            f"one (the site's {key})")
    try:
        value = float(np.asarray(value, dtype=float).reshape(-1)[0])
        if not math.isfinite(value):
            raise ValueError
    except (ValueError, TypeError, IndexError):
        raise DataError(f"{path}: {key} {value!r} is not a number of degrees") from None
    return value


def _same_unit(units, expected) -> bool:
    key = re.sub(r"\s+", "", str(units)).lower().replace("day", "d")
    return key in _UNIT_SPELLINGS[expected]


def _bound(source, value, which, round_up) -> np.datetime64:
    """A window bound as a day; a month or year means its first (start) or last (end) day."""
    try:
        date = np.datetime64(value)
        if np.isnat(date):
            raise ValueError
    except (ValueError, TypeError):
        raise DataError(f"{source}: {which} {value!r} is not a date (expected YYYY-MM-DD)") \
            from None
    if round_up and np.datetime_data(date.dtype)[0] in ("Y", "M"):
        return (date + 1).astype("datetime64[D]") - 1
    return date.astype("datetime64[D]")
