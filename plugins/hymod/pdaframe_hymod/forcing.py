"""HYMOD forcing: daily precipitation and potential ET, and the bundled SPOTPY data set."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np

from pdaframe.plugin import DataError

COLUMNS = {"date": "Date", "precip": "rainfall[mm]", "pet": "TURC [mm d-1]",
           "discharge_ls": "Discharge[ls-1]"}
"""Field -> column header of the SPOTPY HYMOD file (``;``-separated, dates dd.mm.yyyy)."""

MISSING = {"", "nan", "na", "n/a"}


def bundled_file() -> Path:
    """Path of the bundled ``hymod_input.csv`` (SPOTPY's HYMOD example data)."""
    return Path(str(resources.files("pdaframe_hymod") / "data" / "hymod_input.csv"))


@dataclass(frozen=True)
class Forcing:
    """Daily forcing of a HYMOD run (arrays of shape ``(n,)``).

    Attributes
    ----------
    time : ndarray of datetime64[D]
        Date of each day, consecutive.
    precip : ndarray
        Precipitation, mm/day, finite and >= 0.
    pet : ndarray
        Potential evapotranspiration, mm/day, finite and >= 0.
    discharge_ls : ndarray or None
        Observed discharge, l/s (NaN where missing), when the data have it.
    source : str
        Where the data came from, for messages.

    Raises
    ------
    DataError
        Shapes differ, dates are not consecutive days, or a forcing value is negative or
        not finite (naming the field, date and value).
    """

    time: np.ndarray
    precip: np.ndarray
    pet: np.ndarray
    discharge_ls: np.ndarray | None = None
    source: str = "forcing"

    def __post_init__(self):
        time = np.asarray(self.time, dtype="datetime64[D]")
        n = time.size
        if n == 0:
            raise DataError(f"{self.source}: no days of forcing")
        if n > 1 and np.any(np.diff(time) != np.timedelta64(1, "D")):
            i = int(np.flatnonzero(np.diff(time) != np.timedelta64(1, "D"))[0])
            raise DataError(f"{self.source}: dates must be consecutive days; {time[i]} is "
                            f"followed by {time[i + 1]}")
        object.__setattr__(self, "time", time)
        for name in ("precip", "pet") + (("discharge_ls",) if self.discharge_ls is not None
                                         else ()):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                raise DataError(f"{self.source}: {name!r} has shape {arr.shape}, expected "
                                f"({n},) like the dates")
            if name != "discharge_ls":
                bad = np.flatnonzero(~(np.isfinite(arr) & (arr >= 0)))
                if bad.size:
                    raise DataError(f"{self.source}: {name!r} must be finite and >= 0 "
                                    f"(mm/day); got {arr[bad[0]]} on {time[bad[0]]} "
                                    f"({bad.size} bad days in all)")
            object.__setattr__(self, name, arr)

    @property
    def n(self) -> int:
        """Number of days."""
        return int(self.time.size)


def read_forcing(path=None) -> Forcing:
    """Read a HYMOD forcing file in SPOTPY's format.

    Parameters
    ----------
    path : str or Path, optional
        A ``;``-separated file with the columns of `COLUMNS` (dates ``dd.mm.yyyy``; ``nan``
        or empty discharge is missing). Default: the bundled SPOTPY file.

    Returns
    -------
    Forcing

    Raises
    ------
    DataError
        Missing file or column, a ragged row, a bad date or number, or bad forcing values
        (naming file, line and column).
    """
    path = bundled_file() if path is None else Path(path)
    if not path.is_file():
        raise DataError(f"HYMOD forcing file not found: {path}")
    with path.open(newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in COLUMNS.values() if c not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; expected the ';'-separated "
                            f"columns {list(COLUMNS.values())}, the file has {header}")
        idx = {field: header.index(col) for field, col in COLUMNS.items()}
        values = {field: [] for field in COLUMNS}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            where = f"{path}, line {reader.line_num}"
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} fields, the header has {len(header)}")
            for field, i in idx.items():
                values[field].append(_cell(row[i].strip(), field, where))
    if not values["date"]:
        raise DataError(f"{path}: no data rows")
    return Forcing(time=np.array(values["date"], dtype="datetime64[D]"),
                   precip=np.array(values["precip"]), pet=np.array(values["pet"]),
                   discharge_ls=np.array(values["discharge_ls"]), source=str(path))


def _cell(cell: str, field: str, where: str):
    column = COLUMNS[field]
    if field == "date":
        try:
            return datetime.strptime(cell, "%d.%m.%Y").date().isoformat()
        except ValueError:
            raise DataError(f"{where}, column {column!r}: expected a date dd.mm.yyyy, got "
                            f"{cell!r}") from None
    if cell.lower() in MISSING:
        if field == "discharge_ls":
            return np.nan
        raise DataError(f"{where}, column {column!r}: missing value; forcing must be "
                        f"complete (mm/day)")
    try:
        return float(cell)
    except ValueError:
        raise DataError(f"{where}, column {column!r}: expected a number, got {cell!r}") from None
