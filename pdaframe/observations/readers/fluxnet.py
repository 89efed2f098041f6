"""FLUXNET2015 / ONEFlux FULLSET and AmeriFlux-FLUXNET CSV files -> one variable's
observations with a QC rule, its uncertainty column as σ and unit conversion.

The resolution comes from the file name (``FLX_<SITE>_FLUXNET2015_FULLSET_DD_...``,
``AMF_<SITE>_FLUXNET_FULLSET_HH_...``) or, failing that, from the timestamp columns
(``TIMESTAMP`` YYYYMMDD / YYYYMM / YYYY: DD / MM / YY; ``TIMESTAMP_START`` YYYYMMDDHHMM:
HH or HR from the step). DD/WW/MM/YY rows are used as they are, dated by their first day;
HH/HR rows are averaged to days. ``-9999`` is a missing value. A gzip-compressed file
(``*.csv.gz``) is read as its text (`pdaframe.tables.open_text`).

QC (``qc``): in DD/WW/MM/YY files ``<VAR>_QC`` is the fraction of measured or good-quality
gap-filled data; rows with ``QC >= qc`` are kept. In HH/HR files it is the flag 0 (measured),
1, 2, 3 (gap-fill quality, worse upwards); rows with ``QC <= qc`` are kept. GPP and RECO have
no ``_QC`` column of their own: the NEE one they were partitioned from is used
(``NEE_VUT_REF_QC``, or ``NEE_CUT_REF_QC`` for ``_CUT_`` variables).

σ (``uncertainty``): ``"JOINTUNC"`` (default; random and u*-filtering uncertainty) or
``"RANDUNC"`` take the column ``<VAR>_JOINTUNC`` / ``<VAR>_RANDUNC``; rows without a value
there are rejected unless ``error_model = {relative, floor}`` is given, which sets their σ to
``floor + relative * |value|`` (in the output units). ``"model"`` uses the error model for
every row; ``"none"`` returns no σ (the stream then gives ``std``). A day from HH/HR rows
has ``σ = sqrt(Σ σ_i²) / n`` over its kept rows (independent errors).
"""
from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataError
from ...tables import open_text, read_columns, read_header
from .common import ReadResult, canonical_units, convert_units

FILE_NAME = re.compile(r"(FLX|AMF)_(?P<site>[A-Za-z]{2}-[A-Za-z0-9]{3})_FLUXNET(2015)?_"
                       r"(FULLSET|SUBSET)_(?P<res>HH|HR|DD|WW|MM|YY)_")
MISSING_VALUE = -9999.0
STEPS_PER_DAY = {"HH": 48, "HR": 24}
UNCERTAINTIES = ("JOINTUNC", "RANDUNC", "model", "none")


def native_units(variable, resolution) -> str:
    """Units of ``variable`` in a FLUXNET file of ``resolution`` ("" if not known here)."""
    v = variable.upper()
    if v.startswith(("NEE_", "GPP_", "RECO_")):
        return {"HH": "umol m-2 s-1", "HR": "umol m-2 s-1",
                "YY": "g C m-2 y-1"}.get(resolution, "g C m-2 d-1")
    if v.startswith(("LE_", "H_", "G_", "NETRAD", "SW_", "LW_")):
        return "W m-2"
    return "deg C" if v.startswith("TA_") else ""


def read_fluxnet(path, *, variable="NEE_VUT_REF", qc=None, qc_column=None,
                 uncertainty="JOINTUNC", uncertainty_column=None, error_model=None,
                 units=None, file_units=None, resolution=None, min_fraction=0.8):
    """One variable of a FLUXNET-format file, QC-filtered, with σ, in ``units``.

    Parameters
    ----------
    path : str or Path
    variable : str
        Column to read: ``NEE_VUT_REF`` (default), ``GPP_NT_VUT_REF``, ``RECO_NT_VUT_REF``,
        ``LE_F_MDS``, ...
    qc : float, optional
        QC rule (module docstring): minimum fraction for DD/WW/MM/YY files (0..1), maximum
        flag for HH/HR files (0..3). ``None``: no QC filter.
    qc_column : str, optional
        Overrides the QC column (default ``<variable>_QC``, NEE's for GPP/RECO).
    uncertainty : {"JOINTUNC", "RANDUNC", "model", "none"}
    uncertainty_column : str, optional
        Overrides the σ column (default ``<variable>_<uncertainty>``).
    error_model : dict, optional
        ``{relative = r, floor = f}``: σ = f + r·|value| (output units) for rows without an
        uncertainty value (all rows with ``uncertainty = "model"``).
    units : str, optional
        Units wanted (default: the file's); ``umol m-2 s-1`` <-> ``g C m-2 d-1`` convert.
    file_units : str, optional
        The file's units of ``variable`` when `native_units` does not know them.
    resolution : {"HH", "HR", "DD", "WW", "MM", "YY"}, optional
        Overrides the resolution found from the file name or the timestamps.
    min_fraction : float
        HH/HR files: a day is kept if at least this fraction of its steps pass (default 0.8).

    Returns
    -------
    ReadResult

    Raises
    ------
    DataError
        Missing file, a missing or renamed column (naming close matches), a bad timestamp or
        QC value (naming the line), a short row (a ``_QC`` column of the wrong length), a
        timestamp given twice, all rows rejected.
    ConfigError
        Bad options: ``uncertainty``, ``qc`` out of range, units that cannot be converted.
    """
    path = Path(path)
    header = read_header(path)
    res = _resolution(path, header, resolution)
    tcol = "TIMESTAMP_START" if res in ("HH", "HR", "WW") else "TIMESTAMP"
    if uncertainty not in UNCERTAINTIES:
        raise ConfigError(f"{path}: reader_options.uncertainty = {uncertainty!r}, expected "
                          f"one of {list(UNCERTAINTIES)}")
    if uncertainty == "model" and error_model is None:
        raise ConfigError(f"{path}: reader_options.uncertainty = 'model' needs "
                          f"error_model = {{relative = ..., floor = ...}}")
    if error_model is not None and uncertainty == "none":
        raise ConfigError(f"{path}: reader_options.error_model with uncertainty = 'none'; "
                          f"use uncertainty = 'model' (or a column) to give σ")
    relative, floor = _error_model(path, error_model)
    qc_col = _qc_column(path, header, variable, qc, qc_column, res)
    unc_col = None
    if uncertainty in ("JOINTUNC", "RANDUNC"):
        unc_col = uncertainty_column or f"{variable}_{uncertainty}"
    for col, what in ((tcol, "timestamp column"), (variable, "reader_options.variable"),
                      (qc_col, "QC column"), (unc_col, "uncertainty column")):
        if col is not None and col not in header:
            _missing(path, header, col, what)
    cols = [c for c in (tcol, variable, qc_col, unc_col) if c is not None]
    cells = read_columns(path, cols, text=[tcol], line_numbers=True)
    lines = cells["#line"]
    dates = _dates(path, tcol, cells[tcol], lines, res)
    value = _missing_to_nan(cells[variable])
    record = {"reader": "fluxnet", "file": path.name, "resolution": res, "variable": variable,
              "rows_read": int(value.size), "rejected": {}}
    m = FILE_NAME.search(path.name)
    if m:
        record["site"] = m["site"]
    keep = np.isfinite(value)
    _count(record, "missing value", ~keep)
    if qc_col is not None:
        keep &= _qc_pass(path, qc_col, _missing_to_nan(cells[qc_col]), lines, keep, qc, res,
                         record)
    sigma = None
    if unc_col is not None:
        sigma = _missing_to_nan(cells[unc_col])
        sigma[~(sigma > 0)] = np.nan
        record["uncertainty_column"] = unc_col
        if error_model is None:
            _count(record, f"no {unc_col}", keep & ~np.isfinite(sigma))
            keep &= np.isfinite(sigma)
    if res in STEPS_PER_DAY:
        dates, value, sigma, keep = _daily(path, dates, value, sigma, keep, lines, res,
                                           min_fraction, record)
    else:
        _check_unique(path, tcol, dates, lines)
    if not keep.any():
        raise DataError(f"{path}: all {record['rows_read']} rows of {variable!r} rejected "
                        f"({_reasons(record)}); loosen reader_options.qc or give an "
                        f"error_model")
    have = file_units or native_units(variable, res)
    want = have if units is None else units
    if units is not None and not have:
        raise ConfigError(f"{path}: units of {variable!r} not known; give "
                          f"reader_options.file_units to convert to {units!r}")
    value, sigma, factor = convert_units(value[keep], None if sigma is None else sigma[keep],
                                         have, want, f"{path}: reader_options.units")
    if uncertainty == "model":
        sigma = floor + relative * np.abs(value)
    elif sigma is not None and error_model is not None:
        sigma = np.where(np.isfinite(sigma), sigma, floor + relative * np.abs(value))
    record.update(units=canonical_units(want), unit_factor=factor, kept=int(value.size),
                  qc_rule=_qc_rule(qc_col, qc, res), uncertainty=uncertainty)
    if error_model is not None:
        record["error_model"] = f"sigma = {floor:g} + {relative:g} * |value|"
    return ReadResult(dates[keep], value, sigma, canonical_units(want), record)


def _error_model(path, model):
    """``(relative, floor)`` of ``error_model = {relative, floor}`` (``(0, 0)`` without)."""
    if model is None:
        return 0.0, 0.0
    bad = not isinstance(model, dict) or set(model) - {"relative", "floor"} or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
        for v in model.values())
    relative, floor = (float(model.get(k, 0.0)) for k in ("relative", "floor")) if not bad \
        else (0.0, 0.0)
    if bad or floor <= 0:
        raise ConfigError(f"{path}: reader_options.error_model = {model!r}; expected "
                          f"{{relative = r, floor = f}} with r >= 0 and f > 0 (output units)")
    return relative, floor


def _missing(path, header, col, what):
    near = difflib.get_close_matches(col, header, n=3)
    raise DataError(f"{path}: no column {col!r} ({what})" +
                    (f"; similar columns: {near}" if near else "") +
                    "; is this a FLUXNET FULLSET/SUBSET file with that variable?")


def _resolution(path, header, given):
    if given is not None:
        if given not in ("HH", "HR", "DD", "WW", "MM", "YY"):
            raise ConfigError(f"{path}: reader_options.resolution = {given!r}, expected one "
                              f"of HH, HR, DD, WW, MM, YY")
        return given
    m = FILE_NAME.search(path.name)
    if m:
        return m["res"]
    if "TIMESTAMP" in header:
        cell = _first_cell(path, header.index("TIMESTAMP"))
        return {8: "DD", 6: "MM", 4: "YY"}.get(len(cell), "DD")
    if "TIMESTAMP_START" in header and "TIMESTAMP_END" in header:
        start = _first_cell(path, header.index("TIMESTAMP_START"))
        end = _first_cell(path, header.index("TIMESTAMP_END"))
        if len(start) == 8:
            return "WW"
        try:
            step = (np.datetime64(_iso(end)) - np.datetime64(_iso(start))).astype(int)
        except ValueError:
            step = None
        if step in (30, 60):
            return "HH" if step == 30 else "HR"
    raise DataError(f"{path}: resolution not found: the name does not follow "
                    f"FLX_<SITE>_FLUXNET2015_FULLSET_<RES>_... / AMF_<SITE>_FLUXNET_FULLSET_"
                    f"<RES>_... and the timestamps (TIMESTAMP or TIMESTAMP_START/END) do not "
                    f"tell; give reader_options.resolution")


def _first_cell(path, j):
    with open_text(path) as fh:
        rows = (r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#"))
        next(rows)
        for row in rows:
            return row[j].strip() if j < len(row) else ""
    return ""


def _iso(stamp):
    s = stamp.strip()
    return f"{s[:4]}-{s[4:6]}-{s[6:8]}T{s[8:10]}:{s[10:12]}"


def _dates(path, col, cells, lines, res):
    width = {"MM": 6, "YY": 4}.get(res, 12 if res in STEPS_PER_DAY else 8)
    out = np.empty(cells.size, dtype="datetime64[D]")
    for i, c in enumerate(cells):
        try:
            if len(c) != width or not c.isdigit():
                raise ValueError
            iso = {4: c, 6: f"{c[:4]}-{c[4:6]}"}.get(width, f"{c[:4]}-{c[4:6]}-{c[6:8]}")
            out[i] = np.datetime64(iso, "D")
        except ValueError:
            raise DataError(f"{path}, line {lines[i]}, column {col!r}: timestamp {c!r}, "
                            f"expected {width} digits for a {res} file") from None
    return out


def _missing_to_nan(x):
    x = np.array(x, dtype=float)
    x[x == MISSING_VALUE] = np.nan
    return x


def _count(record, reason, mask):
    n = int(np.count_nonzero(mask))
    if n:
        record["rejected"][reason] = record["rejected"].get(reason, 0) + n


def _reasons(record):
    return ", ".join(f"{k}: {v}" for k, v in record["rejected"].items()) or "none"


def _qc_column(path, header, variable, qc, given, res):
    if qc is None:
        return None
    aggregated = res not in STEPS_PER_DAY
    number = not isinstance(qc, bool) and isinstance(qc, (int, float))
    if not number or not ((0.0 <= qc <= 1.0) if aggregated else (qc in (0, 1, 2, 3))):
        expected = ("a fraction in [0, 1] (keep rows with QC >= qc)" if aggregated else
                    "a flag 0, 1, 2 or 3 (keep rows with QC <= qc)")
        raise ConfigError(f"{path}: reader_options.qc = {qc!r}; a {res} file needs {expected}")
    if given:
        return given
    own = f"{variable}_QC"
    if own in header or not variable.upper().startswith(("GPP_", "RECO_")):
        return own
    return "NEE_CUT_REF_QC" if "_CUT_" in variable.upper() else "NEE_VUT_REF_QC"


def _qc_pass(path, col, flags, lines, has_value, qc, res, record):
    aggregated = res not in STEPS_PER_DAY
    bad = np.isfinite(flags) & ((flags < 0) | (flags > 1) if aggregated else
                                ~np.isin(flags, (0, 1, 2, 3)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}, line {lines[i]}, column {col!r}: QC {flags[i]:g}, expected "
                        + ("a fraction in [0, 1]" if aggregated else "a flag 0, 1, 2 or 3"))
    _count(record, f"no {col}", has_value & ~np.isfinite(flags))
    passed = np.isfinite(flags) & ((flags >= qc) if aggregated else (flags <= qc))
    _count(record, f"{col} {'<' if aggregated else '>'} {qc:g}",
           has_value & np.isfinite(flags) & ~passed)
    record["qc_column"] = col
    return passed


def _qc_rule(col, qc, res):
    if col is None:
        return "none"
    return f"{col} {'>=' if res not in STEPS_PER_DAY else '<='} {qc:g}"


def _check_unique(path, col, dates, lines):
    same = np.flatnonzero(np.diff(dates) <= np.timedelta64(0, "D"))
    if same.size:
        i = int(same[0])
        raise DataError(f"{path}, lines {lines[i]} and {lines[i + 1]}, column {col!r}: "
                        f"{dates[i + 1]} does not follow {dates[i]} (repeated or out of order)")


def _daily(path, dates, value, sigma, keep, lines, res, min_fraction, record):
    """Daily means of HH/HR rows (see `read_fluxnet`); returns per-day arrays."""
    if not (0.0 < float(min_fraction) <= 1.0):
        raise ConfigError(f"{path}: reader_options.min_fraction = {min_fraction!r}, expected "
                          f"a fraction in (0, 1]")
    n_per = STEPS_PER_DAY[res]
    days, first, inv, counts = np.unique(dates, return_index=True, return_inverse=True,
                                         return_counts=True)
    over = np.flatnonzero(counts > n_per)
    if over.size:
        raise DataError(f"{path}: {days[over[0]]} has {counts[over[0]]} rows from line "
                        f"{lines[first[over[0]]]}, a {res} day has {n_per}: repeated "
                        f"timestamps")
    n_ok = np.bincount(inv, weights=keep, minlength=days.size)
    mean = np.bincount(inv, weights=np.where(keep, value, 0.0), minlength=days.size)
    mean = mean / np.maximum(n_ok, 1)
    day_sigma = None
    if sigma is not None:
        has = keep & np.isfinite(sigma)
        var = np.bincount(inv, weights=np.where(has, sigma, 0.0) ** 2, minlength=days.size)
        gaps = np.bincount(inv, weights=keep & ~has, minlength=days.size) > 0
        day_sigma = np.where(gaps, np.nan, np.sqrt(var) / np.maximum(n_ok, 1))
    complete = counts == n_per
    enough = n_ok >= min_fraction * n_per - 1e-9
    record.update(steps_read=record["rows_read"], rows_read=int(days.size),
                  steps_per_day=n_per, min_fraction=float(min_fraction))
    record["rejected"] = {f"{k} ({res} steps)": v for k, v in record["rejected"].items()}
    _count(record, "incomplete day in the file", ~complete)
    _count(record, f"day with < {min_fraction:g} of its steps kept", complete & ~enough)
    return days, mean, day_sigma, complete & enough
