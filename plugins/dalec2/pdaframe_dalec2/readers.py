"""Read DALEC2 drivers and observations from the site files bundled with the plugin.

Two sites are bundled under ``pdaframe_dalec2/data/`` (each folder has a README with the
source, licence and column list):

- ``US-Me2`` (Metolius pine, Oregon): daily drivers and flux observations 2002 and
  2004-2007, aggregated from AmeriFlux L4 tower data (fair-use terms: read ``NOTICE.md``).
  There is no 2003 tower file, so a run must stay within 2002 or within 2004-2007.
- ``DE-Hai`` (Hainich, Germany): monthly drivers and observations 2001-2016 from
  CARDAMOM-FluxVal (FLUXNET2015, CC-BY-4.0). Monthly steps: for plumbing and smoke tests.

Any other site's daily drivers come from a site-agnostic driver file or a FLUXNET file
(`read_drivers_file`, through `pdaframe.plugin.read_driver_file` / `drivers_from_fluxnet`).

Every reader checks what it reads and raises `pdaframe.DataError` naming the file, the column
and the date of the first bad value.

Examples
--------
>>> drivers = read_us_me2()                      # 2004-01-01 .. 2007-12-31, daily
>>> drivers.n
1461
>>> times, nee = read_observations(data_path("US-Me2"), "nee_gC_m2_d",
...                                "2004-01-01", "2007-12-31")
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np

from pdaframe.plugin import (MISSING, ConfigError, DataError, read_columns, read_header,
                             read_site_drivers)

from .drivers import Drivers

DATA_FILES = {
    "US-Me2": "US-Me2_daily.csv",
    "DE-Hai": "de-hai_fluxval_monthly_2001_2016.csv",
}
US_ME2_LATITUDE = 44.4523    # degrees north, tower (AmeriFlux attributes)
DE_HAI_LATITUDE = 51.25      # degrees north, centre of the 0.5 degree grid cell of the file
DE_HAI_DT = 365.25 / 12.0    # days per monthly step (= 30.4375, the step of ``projday``)

# US-Me2 driver columns: name stem -> unit suffix; the full column name is stem_unit.
US_ME2_UNITS = {"t_min": "degC", "t_max": "degC", "t_mean": "degC", "sw_in": "MJ_m2_d"}
SITE_LATITUDES = {"US-Me2": US_ME2_LATITUDE, "DE-Hai": DE_HAI_LATITUDE}
FORMATS = ("table", "fluxnet")
DE_HAI_COLUMNS = ("year", "month", "projday", "tmin", "tmax", "ssrd", "co2", "doy")


def data_path(site):
    """The bundled data file of ``site`` ("US-Me2" or "DE-Hai").

    Returns
    -------
    importlib.resources.abc.Traversable
        A `pathlib.Path` for ordinary and editable installs; the readers accept it as ``path``.
    """
    if site not in DATA_FILES:
        raise DataError(f"no bundled DALEC2 data for site {site!r}; known sites: "
                        f"{sorted(DATA_FILES)}")
    return resources.files("pdaframe_dalec2") / "data" / site / DATA_FILES[site]


def read_us_me2(path=None, start="2004-01-01", end="2007-12-31") -> Drivers:
    """Daily US-Me2 drivers for the days ``start`` .. ``end`` (both included).

    Parameters
    ----------
    path : str, path-like or Traversable, optional
        A CSV in the layout of the bundled ``US-Me2_daily.csv`` (the default). Columns used:
        ``date`` (YYYY-MM-DD, consecutive days), ``doy``, ``in_tower_file`` (0 = no tower
        data), ``t_min_degC``, ``t_max_degC``, ``t_mean_degC``, ``sw_in_MJ_m2_d``.
    start, end : str, datetime.date or numpy.datetime64, optional
        First and last day. A month or year (``"2005-06"``, ``"2005"``) means its first day
        for ``start`` and its last day for ``end``. ``None``: the first/last day of the file.

    Returns
    -------
    Drivers
        ``n`` = number of days; ``time`` = the dates; ``elapsed`` = 1, 2, ..., n (days since
        ``start``, counted from 1); ``dt`` = 1; ``latitude`` = 44.4523; ``co2`` = None (the
        source has no CO2: use a constant).

    Raises
    ------
    DataError
        A missing column, a driver column whose unit suffix is not the expected one, a date
        that is not YYYY-MM-DD, dates that are not consecutive days (gap, duplicate, out of
        order), a ``doy`` that disagrees with its date, ``start`` after ``end`` or outside
        the file, a requested day without tower data (``in_tower_file`` = 0, the year 2003:
        a run must not join 2002 to 2004), or a missing, non-numeric or implausible driver
        value (``t_min > t_max``, ``t_mean`` outside ``[t_min, t_max]``, negative radiation).
    """
    with _local_file(path, "US-Me2") as file:
        header = read_header(file)
        driver_columns = [f"{stem}_{unit}" for stem, unit in US_ME2_UNITS.items()]
        for stem, unit in US_ME2_UNITS.items():
            if f"{stem}_{unit}" in header:
                continue
            others = [h for h in header if h.startswith(stem + "_")]
            if others:
                raise DataError(f"{file}: column {others[0]!r} has unit suffix "
                                f"{others[0][len(stem) + 1:]!r}, expected {unit!r} "
                                f"(column {stem + '_' + unit!r})")
        names = ["date", "doy", "in_tower_file"] + driver_columns
        cells = read_columns(file, names, text=names)
        dates = _dates(file, "date", cells["date"])
        _check_consecutive(file, "date", dates, "D")
        doy = _numbers(file, "doy", cells["doy"], dates)
        year_start = dates.astype("datetime64[Y]").astype("datetime64[D]")
        wrong = np.flatnonzero(doy != (dates - year_start).astype(int) + 1)
        if wrong.size:
            i = wrong[0]
            raise DataError(f"{file}: column 'doy' is {doy[i]:g} on {dates[i]}, expected "
                            f"{(dates[i] - year_start[i]).astype(int) + 1}")
        rows = _select(file, dates, start, end, dates[-1])
        dates = dates[rows]
        in_tower = _numbers(file, "in_tower_file", cells["in_tower_file"][rows], dates)
        hole = np.flatnonzero(in_tower != 1)
        if hole.size:
            raise DataError(
                f"{file}: no tower data for {dates[hole[0]]} .. {dates[hole[-1]]} "
                f"({hole.size} requested day(s) with in_tower_file = 0) in the requested "
                f"{dates[0]} .. {dates[-1]}. The source has no 2003 tower file, and a run must "
                f"not join 2002 to 2004: run within 2002 or within 2004-01-01 .. 2007-12-31")
        values = {name: _numbers(file, name, cells[name][rows], dates, finite=True)
                  for name in driver_columns}
        t_min, t_max, t_mean, sw = (values[name] for name in driver_columns)
        _check_plausible(file, dates, t_min, t_max, sw, t_mean,
                         names=("t_min_degC", "t_max_degC", "sw_in_MJ_m2_d", "t_mean_degC"))
        return Drivers(time=dates, doy=doy[rows], elapsed=np.arange(1.0, dates.size + 1.0),
                       t_min=t_min, t_max=t_max, t_mean=t_mean, sw=sw,
                       dt=np.ones(dates.size), latitude=US_ME2_LATITUDE, co2=None,
                       site="US-Me2", source=str(file))


def read_de_hai(path=None, start=None, end=None) -> Drivers:
    """Monthly DE-Hai drivers (CARDAMOM-FluxVal) for the months ``start`` .. ``end``.

    The file has no mean temperature: ``t_mean`` is ``(tmin + tmax) / 2`` (monthly means of
    the daily minimum and maximum), which is also what CARDAMOM uses in ``E_T``.

    Parameters
    ----------
    path : str, path-like or Traversable, optional
        A CSV in the layout of the bundled ``de-hai_fluxval_monthly_2001_2016.csv`` (the
        default). Columns used: ``year``, ``month`` (consecutive months), ``projday`` (days
        since the start, mid-month), ``tmin``, ``tmax`` (degC), ``ssrd`` (MJ m-2 d-1),
        ``co2`` (ppm), ``doy`` (day of year of the mid-month point).
    start, end : str, datetime.date or numpy.datetime64, optional
        A month is selected when its first day lies in ``[start, end]`` (``"2003-01"`` or
        ``"2003-01-01"`` .. ``"2005-12"`` or ``"2005-12-31"``); ``None``: the whole file.

    Returns
    -------
    Drivers
        ``time`` = first day of each month; ``doy`` from the file; ``elapsed`` = ``projday``
        (days since the start of the file, not of the selection: the phenology period is
        365.25 days, so only the time of year matters); ``dt`` = the constant step of
        ``projday`` (30.4375 days); ``latitude`` = 51.25 (the file's grid cell; the tower is
        at 51.0792); ``co2`` from the file.

    Raises
    ------
    DataError
        A missing column, a non-integer year or month, months that are not consecutive,
        ``projday`` steps that are not constant, ``start`` after ``end`` or outside the
        file, or a missing, non-numeric or implausible driver value.
    """
    with _local_file(path, "DE-Hai") as file:
        cells = read_columns(file, DE_HAI_COLUMNS, text=DE_HAI_COLUMNS)
        months = _months(file, cells)
        _check_consecutive(file, "year/month", months, "M")
        times = months.astype("datetime64[D]")
        projday = _numbers(file, "projday", cells["projday"], times, finite=True)
        step = np.diff(projday)
        if step.size:
            off = np.flatnonzero(np.abs(step - step[0]) > 1e-9 * abs(step[0]))
            if off.size or step[0] <= 0:
                i = off[0] if off.size else 0
                raise DataError(f"{file}: column 'projday' must grow by a constant step; it "
                                f"grows by {step[i]:g} days from {times[i]} to {times[i + 1]}, "
                                f"but by {step[0]:g} at the start")
        dt = float(step[0]) if step.size else DE_HAI_DT
        last_day = (months[-1] + 1).astype("datetime64[D]") - 1
        rows = _select(file, times, start, end, last_day)
        times = times[rows]
        v = {name: _numbers(file, name, cells[name][rows], times, finite=True)
             for name in ("tmin", "tmax", "ssrd", "co2", "doy")}
        _check_plausible(file, times, v["tmin"], v["tmax"], v["ssrd"],
                         names=("tmin", "tmax", "ssrd"))
        bad = np.flatnonzero(~((v["doy"] > 0) & (v["doy"] < 367)))
        if bad.size:
            raise DataError(f"{file}: column 'doy' is {v['doy'][bad[0]]:g} on "
                            f"{times[bad[0]]}, expected a day of year in (0, 367)")
        bad = np.flatnonzero(v["co2"] <= 0)
        if bad.size:
            raise DataError(f"{file}: column 'co2' is {v['co2'][bad[0]]:g} ppm on "
                            f"{times[bad[0]]}, expected a positive value")
        return Drivers(time=times, doy=v["doy"], elapsed=projday[rows], t_min=v["tmin"],
                       t_max=v["tmax"], t_mean=0.5 * (v["tmin"] + v["tmax"]), sw=v["ssrd"],
                       dt=np.full(times.size, dt), latitude=DE_HAI_LATITUDE, co2=v["co2"],
                       site="DE-Hai", source=str(file))


def read_drivers_file(path, latitude=None, format=None, start=None, end=None,
                      co2=True) -> Drivers:
    """Daily drivers of any site: a site-agnostic driver file or a FLUXNET file.

    Parameters
    ----------
    path : str or path-like
        A driver file (CSV or CF-NetCDF; columns ``date``, ``t_min``, ``t_max``, ``sw``,
        optional ``t_mean``, ``co2``: `pdaframe.models.driver_file`) or a FLUXNET2015 /
        ONEFlux / AmeriFlux-FLUXNET CSV (HH, HR: ``t_min``/``t_max``/``t_mean`` from
        ``TA_F``; DD files have no minimum and maximum, so DALEC2 cannot use them); a CSV
        may be gzip-compressed (``*.csv.gz``).
    latitude : float, optional
        Degrees north; required for FLUXNET files and driver files without one, and must
        agree with the file's latitude when it has one.
    format : {None, "table", "fluxnet"}
        None: a FLUXNET file when the header has ``TIMESTAMP_START``/``TIMESTAMP``, else a
        driver file.
    start, end : optional
        First and last day (a month or year: its first / last day); None: the file's.
    co2 : bool
        Read the CO2 column (``co2``, FLUXNET ``CO2_F_MDS``) when the file has one; False
        leaves it out (``make_dalec2`` reads it only for the switch ``co2 = "driver"``, so a
        FLUXNET file's CO2 gaps do not stop a run that uses a constant CO2).

    Returns
    -------
    Drivers
        Built by `Drivers.from_table` (``doy`` from the dates, ``elapsed`` = 1..n, ``dt`` = 1).

    Raises
    ------
    DataError
        From the file readers (naming file, line/column or day), a range outside the file,
        or implausible values (``t_min > t_max``, ``t_mean`` outside them, negative ``sw``).
    ConfigError
        An unknown ``format`` or a ``latitude`` that is not a number in [-90, 90].
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"dalec2: format={format!r}: expected one of {list(FORMATS)} (or "
                          f"leave it out to detect it from the header)")
    table = read_site_drivers(path, format=format, latitude=latitude, co2=co2)
    table = table.window(start, end)
    drivers = Drivers.from_table(table)
    _check_plausible(table.source, drivers.time, drivers.t_min, drivers.t_max, drivers.sw,
                     drivers.t_mean, names=("t_min", "t_max", "sw", "t_mean"))
    return drivers


def check_site_latitude(site, latitude):
    """Raise `ConfigError` when ``latitude`` is given and is not the bundled ``site``'s."""
    if latitude is None:
        return
    try:
        ok = abs(float(latitude) - SITE_LATITUDES[site]) <= 1e-6
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"dalec2: latitude={latitude!r} disagrees with the bundled site "
                          f"{site}'s latitude {SITE_LATITUDES[site]} (degrees north): the "
                          f"site readers always use the site's latitude. For another "
                          f"site's drivers leave out site and give drivers_file and "
                          f"latitude (a driver file or a FLUXNET file)")


def read_observations(path, column, start=None, end=None, std_column=None):
    """One observation column of a bundled-style file, for a `pdaframe.DataStream`.

    Works on daily files with a ``date`` column (US-Me2: ``nee_gC_m2_d``,
    ``lai_modis_m2_m2`` with ``lai_modis_sd_m2_m2``, ...) and on monthly files with
    ``year`` and ``month`` (DE-Hai: ``nee_obs``, ``gpp_obs``, ``lai_obs``, ...).

    Parameters
    ----------
    path : str, path-like or Traversable
        The file, e.g. ``data_path("US-Me2")``.
    column : str
        The observed values.
    start, end : optional
        The range, as for `read_us_me2` (daily) or `read_de_hai` (monthly); ``None``: the
        whole file. With the same range as the drivers, row ``i`` is model step ``i``.
    std_column : str, optional
        A column of observation-error standard deviations.

    Returns
    -------
    times : ndarray of datetime64[D], shape (n,)
        The dates (first day of the month for monthly files).
    values : ndarray, shape (n,)
        The observations; NaN where missing.
    std : ndarray, shape (n,)
        Only with ``std_column``; NaN where missing.

    Raises
    ------
    DataError
        A missing column, a bad or non-consecutive date, a range outside the file or
        ``start`` after ``end``, or a non-numeric value.
    """
    if path is None:
        raise DataError("read_observations needs a file, e.g. data_path('US-Me2')")
    with _local_file(path, None) as file:
        header = read_header(file)
        wanted = [column] + ([std_column] if std_column else [])
        if "date" in header:
            cells = read_columns(file, ["date"] + wanted, text=["date"] + wanted)
            times = _dates(file, "date", cells["date"])
            _check_consecutive(file, "date", times, "D")
            last_day = times[-1]
        else:
            if not {"year", "month"} <= set(header):
                raise DataError(f"{file}: no time column: expected 'date' (daily) or 'year' "
                                f"and 'month' (monthly); the file has {header}")
            cells = read_columns(file, ["year", "month"] + wanted,
                                 text=["year", "month"] + wanted)
            months = _months(file, cells)
            _check_consecutive(file, "year/month", months, "M")
            times = months.astype("datetime64[D]")
            last_day = (months[-1] + 1).astype("datetime64[D]") - 1
        rows = _select(file, times, start, end, last_day)
        times = times[rows]
        out = [times] + [_numbers(file, name, cells[name][rows], times) for name in wanted]
        return tuple(out)


# --- helpers -------------------------------------------------------------------------------
@contextmanager
def _local_file(path, site):
    """A local file path for ``path`` (default: the bundled file of ``site``)."""
    if path is None:
        path = data_path(site)
    if isinstance(path, (str, os.PathLike)):
        yield Path(path)
    else:                                   # a Traversable, e.g. inside a zip file
        with resources.as_file(path) as local:
            yield local


def _dates(file, column, cells) -> np.ndarray:
    """Parse YYYY-MM-DD strings to datetime64[D]."""
    out = np.empty(len(cells), dtype="datetime64[D]")
    for i, cell in enumerate(cells):
        try:
            if len(cell) != 10:
                raise ValueError
            out[i] = np.datetime64(cell, "D")
        except ValueError:
            raise DataError(f"{file}: column {column!r}, data row {i + 1}: expected a date "
                            f"YYYY-MM-DD, got {str(cell)!r}") from None
    return out


def _months(file, cells) -> np.ndarray:
    """Months (datetime64[M]) from the ``year`` and ``month`` columns."""
    out = np.empty(len(cells["year"]), dtype="datetime64[M]")
    for i, (year, month) in enumerate(zip(cells["year"], cells["month"])):
        try:
            y, m = float(year), float(month)
            if not (y.is_integer() and m.is_integer() and 1 <= m <= 12):
                raise ValueError
            out[i] = np.datetime64(f"{int(y):04d}-{int(m):02d}", "M")
        except ValueError:
            raise DataError(f"{file}: data row {i + 1}: expected an integer 'year' and a "
                            f"'month' in 1..12, got {str(year)!r}, {str(month)!r}") from None
    return out


def _numbers(file, column, cells, dates, finite=False) -> np.ndarray:
    """Parse cells to floats (missing -> NaN); with ``finite``, missing values are errors."""
    out = np.empty(len(cells))
    for i, cell in enumerate(cells):
        try:
            out[i] = np.nan if cell.lower() in MISSING else float(cell)
        except ValueError:
            raise DataError(f"{file}: column {column!r} on {dates[i]}: expected a number, "
                            f"got {str(cell)!r}") from None
    if finite:
        bad = np.flatnonzero(~np.isfinite(out))
        if bad.size:
            raise DataError(f"{file}: column {column!r} is missing or not finite on "
                            f"{dates[bad[0]]} ({bad.size} value(s) in the requested range)")
    return out


def _check_consecutive(file, column, times, unit):
    """Raise unless ``times`` advance by exactly one day (``unit="D"``) or month ("M")."""
    step = np.diff(times).astype(int)
    bad = np.flatnonzero(step <= 0)             # duplicates and disorder first, then gaps
    if not bad.size:
        bad = np.flatnonzero(step != 1)
    if not bad.size:
        return
    i = bad[0]
    what = "day" if unit == "D" else "month"
    kind = ("a duplicate" if step[i] == 0 else "out of order" if step[i] < 0
            else f"a gap of {step[i] - 1} {what}(s)")
    raise DataError(f"{file}: column {column!r} must hold consecutive {what}s, one per row; "
                    f"{times[i + 1]} follows {times[i]} (data rows {i + 1} and {i + 2}: {kind})")


def _parse_bound(file, value, which, round_up) -> np.datetime64:
    try:
        date = np.datetime64(value)
    except (ValueError, TypeError):
        raise DataError(f"{file}: {which} {value!r} is not a date (expected YYYY-MM-DD)") \
            from None
    if np.isnat(date):
        raise DataError(f"{file}: {which} {value!r} is not a date (expected YYYY-MM-DD)")
    unit = np.datetime_data(date.dtype)[0]
    if round_up and unit in ("Y", "M"):                # "2005-12" as an end: 2005-12-31
        return (date + 1).astype("datetime64[D]") - 1
    return date.astype("datetime64[D]")


def _select(file, times, start, end, last_day) -> slice:
    """Rows whose time lies in ``[start, end]``; the file covers ``times[0] .. last_day``."""
    lo = times[0] if start is None else _parse_bound(file, start, "start", False)
    hi = last_day if end is None else _parse_bound(file, end, "end", True)
    if start is not None and end is not None and lo > hi:
        raise DataError(f"{file}: start {lo} is after end {hi}")
    if lo < times[0] or hi > last_day or lo > hi:
        raise DataError(f"{file}: the requested range {lo} .. {hi} is outside the file, "
                        f"which covers {times[0]} .. {last_day}")
    i0, i1 = np.searchsorted(times, lo, "left"), np.searchsorted(times, hi, "right")
    if i1 <= i0:
        raise DataError(f"{file}: no step starts in the requested range {lo} .. {hi}")
    return slice(int(i0), int(i1))


def _check_plausible(file, dates, t_min, t_max, sw, t_mean=None, names=()):
    """Raise on ``t_min > t_max``, ``t_mean`` outside ``[t_min, t_max]`` or ``sw < 0``."""
    n_min, n_max, n_sw = names[:3]
    bad = np.flatnonzero(t_min > t_max)
    if bad.size:
        i = bad[0]
        raise DataError(f"{file}: {n_min!r} ({t_min[i]:g}) exceeds {n_max!r} ({t_max[i]:g}) "
                        f"on {dates[i]}")
    if t_mean is not None:
        tol = 1e-6 * np.maximum(1.0, np.abs(t_mean))
        bad = np.flatnonzero((t_mean < t_min - tol) | (t_mean > t_max + tol))
        if bad.size:
            i = bad[0]
            raise DataError(f"{file}: {names[3]!r} ({t_mean[i]:g}) is outside "
                            f"[{n_min}, {n_max}] = [{t_min[i]:g}, {t_max[i]:g}] on {dates[i]}")
    bad = np.flatnonzero(sw < 0)
    if bad.size:
        raise DataError(f"{file}: {n_sw!r} is negative ({sw[bad[0]]:g}) on {dates[bad[0]]}")
