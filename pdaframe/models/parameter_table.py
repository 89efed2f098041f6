"""Parameter tables in files: a model's parameters as TOML or CSV instead of Python tuples.

One row per parameter, in the order of ``theta``, with the columns

========== ========= ===================================================================
column     required  meaning
========== ========= ===================================================================
name       yes       identifier used in configs and results (letters, digits, ``_ . -``)
default    yes       default value, the prior mean unless a config says otherwise
lower      yes       lower bound (``-inf`` when unbounded; an empty CSV cell too)
upper      yes       upper bound (``inf`` when unbounded; an empty CSV cell too)
std        yes       default prior standard deviation, positive
units      yes       UDUNITS-style units, ``"1"`` for dimensionless
description no       what the parameter is (`Parameter.long_name`)
========== ========= ===================================================================

TOML (``.toml``), one ``[[parameters]]`` table per row::

    [[parameters]]
    name = "cmax"
    default = 250.5
    lower = 1.0
    upper = 500.0
    std = 124.75
    units = "mm"
    description = "maximum storage capacity of the soil"

CSV (``.csv``, UTF-8, a header row, ``#`` comment lines)::

    name,default,lower,upper,std,units,description
    cmax,250.5,1.0,500.0,124.75,mm,maximum storage capacity of the soil

Numbers are read exactly as written (write 17 significant digits, or Python's ``repr``, to
round-trip a float). Every mistake is a `ConfigError` naming the file, the row (its line),
the column and what was expected: a missing or unknown column, a name given twice, a default
outside its bounds, bounds in the wrong order, a std that is not a positive number.
"""
from __future__ import annotations

import csv
import math
import re
import tomllib
from numbers import Real
from pathlib import Path

from ..errors import ConfigError
from ..interfaces import Parameter

COLUMNS = ("name", "default", "lower", "upper", "std", "units", "description")
"""The columns of a parameter table, in the order they are written."""

REQUIRED = COLUMNS[:-1]
"""Every column but ``description``."""

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_TOML_ROW = re.compile(r"^[ \t]*\[\[[ \t]*parameters[ \t]*\]\]", re.MULTILINE)


def load_parameter_table(path) -> tuple[Parameter, ...]:
    """Read a parameter table file (``.toml`` or ``.csv``; see the module docstring).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    tuple of Parameter
        In the order of the file's rows (the order of ``theta``).

    Raises
    ------
    ConfigError
        The file is missing, unreadable, of another type, or a row is wrong (file, line,
        column and what was expected are named).

    Examples
    --------
    >>> PARAMETERS = load_parameter_table(Path(__file__).with_name("parameters.toml"))
    ... # doctest: +SKIP
    """
    path = Path(path)
    reader = {".toml": _toml_rows, ".csv": _csv_rows}.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(f"parameter table {path}: unknown file type {path.suffix!r}; "
                          f"expected a .toml or .csv file")
    if not path.is_file():
        raise ConfigError(f"parameter table not found: {path}" +
                          (" (a directory)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"parameter table {path}: cannot read it ({err}); it must be "
                          f"UTF-8 text") from None
    parameters, seen = [], {}
    for where, fields in reader(path, text):
        p = _parameter(where, fields, reader is _csv_rows)
        if p.name in seen:
            raise ConfigError(f"{where}: parameter {p.name!r} is listed twice (first at "
                              f"{seen[p.name]}); names must be distinct")
        seen[p.name] = where[len(str(path)) + 2:]
        parameters.append(p)
    if not parameters:
        raise ConfigError(f"parameter table {path}: no parameters (expected at least one "
                          f"row with columns {list(REQUIRED)})")
    return tuple(parameters)


def _toml_rows(path, text):
    """``(where, {column: value})`` of each ``[[parameters]]`` table."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"parameter table {path}: malformed TOML: {err}") from None
    unknown = sorted(set(data) - {"parameters"})
    rows = data.get("parameters")
    if unknown or not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"parameter table {path}: expected only [[parameters]] tables, one "
                          f"per parameter" + (f"; found {unknown}" if unknown else ""))
    lines = [text.count("\n", 0, m.start()) + 1 for m in _TOML_ROW.finditer(text)]
    for i, row in enumerate(rows):
        line = f", line {lines[i]}" if len(lines) == len(rows) else ""
        where = f"{path}, [[parameters]] {i + 1}{line}"
        _check_columns(where, list(row))
        yield where, row


def _csv_rows(path, text):
    """``(where, {column: cell})`` of each data row (cells stripped)."""
    reader = csv.reader(text.splitlines())
    rows = ((reader.line_num, r) for r in reader if r and not r[0].lstrip().startswith("#"))
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise ConfigError(f"parameter table {path}: empty file, expected a header row "
                          f"{','.join(COLUMNS)}") from None
    header = [h.strip() for h in header]
    _check_columns(f"{path}, header line {header_line}", header)
    for line, row in rows:
        if all(not cell.strip() for cell in row):
            continue
        where = f"{path}, line {line}"
        if len(row) != len(header):
            raise ConfigError(f"{where}: {len(row)} fields, the header has {len(header)} "
                              f"({','.join(header)}); quote a description holding commas")
        yield where, {h: cell.strip() for h, cell in zip(header, row)}


def _check_columns(where, names):
    missing = [c for c in REQUIRED if c not in names]
    unknown = [c for c in names if c not in COLUMNS]
    twice = sorted({c for c in names if names.count(c) > 1})
    if missing or unknown or twice:
        parts = ([f"missing column(s) {missing}"] if missing else []) + \
            ([f"unknown column(s) {unknown}"] if unknown else []) + \
            ([f"column(s) {twice} given twice"] if twice else [])
        raise ConfigError(f"{where}: {'; '.join(parts)}; expected the columns "
                          f"{list(COLUMNS)} (description optional)")


def _parameter(where, fields, cells) -> Parameter:
    """One validated `Parameter` from a row's fields: CSV cells (``cells``, text) or TOML
    values (numbers must be TOML numbers, not strings)."""
    name = _text(where, fields, "name")
    if not NAME.match(name):
        raise ConfigError(f"{where}, column 'name': {name!r} is not a parameter name (a "
                          f"letter or '_' first, then letters, digits, '_', '.', '-')")
    where = f"{where} (parameter {name!r})"
    default = _number(where, fields, "default", cells)
    lower = _number(where, fields, "lower", cells, -math.inf)
    upper = _number(where, fields, "upper", cells, math.inf)
    std = _number(where, fields, "std", cells)
    if not math.isfinite(default):
        raise ConfigError(f"{where}, column 'default': expected a finite number, got "
                          f"{default}")
    if not lower < upper:
        raise ConfigError(f"{where}, columns 'lower', 'upper': expected lower < upper, got "
                          f"[{lower}, {upper}]")
    if not lower <= default <= upper:
        raise ConfigError(f"{where}, column 'default': {default!r} is outside its bounds "
                          f"[{lower!r}, {upper!r}]; expected lower <= default <= upper")
    if not (math.isfinite(std) and std > 0):
        raise ConfigError(f"{where}, column 'std': expected a positive finite number (the "
                          f"prior standard deviation), got {std}")
    units = _text(where, fields, "units")
    description = _text(where, fields, "description", "")
    return Parameter(name, default, lower, upper, std, units, description)


def _text(where, fields, column, default=None) -> str:
    value = fields.get(column, default)
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, str) or (default is None and not value):
        raise ConfigError(f"{where}, column {column!r}: expected a non-empty text"
                          + (" ('1' for dimensionless)" if column == "units" else "")
                          + f", got {value!r}")
    return value


def _number(where, fields, column, cells, empty=None) -> float:
    """A column's number; ``empty`` for an empty CSV cell when allowed (bounds)."""
    value = fields[column]
    if isinstance(value, str) and cells:
        if not value and empty is not None:
            return empty
        try:
            value = float(value)
        except ValueError:
            value = None
    elif isinstance(value, bool) or not isinstance(value, Real):
        value = None
    if value is None or math.isnan(value):
        raise ConfigError(f"{where}, column {column!r}: expected a number"
                          + (" (empty or -inf/inf: unbounded)" if empty is not None else "")
                          + f", got {fields[column]!r}")
    return float(value)
