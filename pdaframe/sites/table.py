"""The site attribute table: one row per site, read from a CSV file.

Columns: ``site`` (required, unique, non-empty), optional text columns ``pft`` and ``soil``,
optional ``lat`` (degrees north, in [-90, 90]) and ``lon`` (degrees east, in [-180, 360)),
and any further columns, each numeric (covariates, e.g. ``elevation``; ``truth_<param>``
columns of a synthetic network). Lines starting with ``#`` are comments::

    site,pft,soil,lat,lon,elevation
    US-Me2,evergreen,loam,44.45,-121.56,1253
    DE-Hai,deciduous,clay,51.08,10.45,430
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import DataError
from ..tables import GZIP_ERRORS, open_text, read_columns

#: Columns read as text; every other column is numeric.
TEXT_COLUMNS = ("site", "pft", "soil")
#: Allowed ranges of the coordinate columns, ``(low, high, high included)``.
RANGES = {"lat": (-90.0, 90.0, True), "lon": (-180.0, 360.0, False)}


@dataclass(frozen=True)
class SiteTable:
    """Sites and their attributes, in file order.

    Attributes
    ----------
    sites : tuple of str
        The site names, unique.
    columns : mapping of str to ndarray
        Every column (``site`` included): str arrays for `TEXT_COLUMNS`, float arrays else.
    source : str
        The file read, for messages.
    """

    sites: tuple
    columns: Mapping[str, np.ndarray]
    source: str = ""

    def column(self, name) -> np.ndarray:
        """The column ``name``, one value per site (order of `sites`).

        Raises
        ------
        DataError
            The table has no such column.
        """
        if name not in self.columns:
            raise DataError(f"{self.source}: no column {name!r} in the site table; it has "
                            f"{list(self.columns)}")
        return self.columns[name]

    def groups(self, name) -> dict:
        """``{value: [sites]}`` of column ``name`` (values in order of first appearance)."""
        out: dict = {}
        for site, value in zip(self.sites, self.column(name)):
            out.setdefault(value.item() if hasattr(value, "item") else value, []).append(site)
        return out


def read_site_table(path) -> SiteTable:
    """Read a site attribute table (layout in the module docstring).

    Raises
    ------
    DataError
        Naming the file, line and column: a missing file or ``site`` column, a duplicate
        column name, an empty or duplicate site, a missing (empty, NA, NaN) or non-numeric
        value in a numeric column, a ``lat`` outside [-90, 90] or ``lon`` outside [-180, 360).
    """
    path = Path(path)
    header = _header(path)
    if "site" not in header:
        raise DataError(f"{path}: no 'site' column (the site names); the file has {header}")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise DataError(f"{path}: column(s) {dup} appear more than once in the header")
    text = [c for c in header if c in TEXT_COLUMNS]
    cells = read_columns(path, header, text=text, line_numbers=True)
    lines = cells.pop("#line")
    sites = tuple(str(s) for s in cells["site"])
    seen: dict = {}
    for i, site in enumerate(sites):
        if not site:
            raise DataError(f"{path}, line {lines[i]}, column 'site': empty site name")
        if site in seen:
            raise DataError(f"{path}, line {lines[i]}, column 'site': site {site!r} "
                            f"again (first on line {seen[site]}); site names are unique")
        seen[site] = lines[i]
    for name in header:
        if name in text:
            continue
        values = cells[name]
        bad = np.flatnonzero(np.isnan(values))
        if bad.size:
            raise DataError(f"{path}, line {lines[bad[0]]}, column {name!r}: missing value "
                            f"(site {sites[bad[0]]!r}); every site needs a number "
                            f"({bad.size} missing in all)")
        if name in RANGES:
            low, high, closed = RANGES[name]
            bad = np.flatnonzero((values < low) | ((values > high) if closed
                                                   else (values >= high)))
            if bad.size:
                raise DataError(f"{path}, line {lines[bad[0]]}, column {name!r}: "
                                f"{values[bad[0]]:g} is outside [{low:g}, {high:g}"
                                f"{']' if closed else ')'} degrees")
    return SiteTable(sites, MappingProxyType(cells), str(path))


def _header(path) -> list:
    """The stripped header row of ``path`` (after ``#`` comment lines)."""
    if not path.is_file():
        raise DataError(f"site table not found: {path}")
    try:
        with open_text(path) as fh:
            for row in csv.reader(fh):
                if row and not row[0].lstrip().startswith("#") and "".join(row).strip():
                    return [h.strip() for h in row]
    except (UnicodeDecodeError, csv.Error, *GZIP_ERRORS) as err:
        raise DataError(f"{path}: cannot read it as a UTF-8 CSV file ({err})") from None
    raise DataError(f"{path}: empty file, expected a header row with a 'site' column")
