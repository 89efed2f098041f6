"""Read named numeric columns from CSV files, with errors that name file, line and column."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataError

MISSING = {"", "na", "nan", "n/a", "null"}


def read_columns(path, columns, text=()) -> dict[str, np.ndarray]:
    """Read ``columns`` of a CSV file with a header row as float arrays.

    Lines starting with ``#`` are comments. Empty cells and ``NA``/``NaN`` become NaN.

    Parameters
    ----------
    path : str or Path
    columns : sequence of str
    text : sequence of str
        Columns (among ``columns``) returned as stripped strings instead of numbers.

    Returns
    -------
    dict
        ``{column: ndarray of shape (n_rows,)}`` (float, or str for ``text`` columns).

    Raises
    ------
    DataError
        Missing file, missing column, ragged row or a non-numeric cell.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        rows_in = (r for r in reader if r and not r[0].lstrip().startswith("#"))
        try:
            header = [h.strip() for h in next(rows_in)]
        except StopIteration:
            raise DataError(f"{path}: empty file, expected a header row") from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; the file has {header}")
        idx = [header.index(c) for c in columns]
        rows = []
        for row in rows_in:
            if all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, the "
                                f"header has {len(header)}")
            values = []
            for c, i in zip(columns, idx):
                cell = row[i].strip()
                if c in text:
                    values.append(cell)
                    continue
                try:
                    values.append(np.nan if cell.lower() in MISSING else float(cell))
                except ValueError:
                    raise DataError(f"{path}, line {reader.line_num}, column {c!r}: "
                                    f"expected a number, got {cell!r}") from None
            rows.append(values)
    if not rows:
        raise DataError(f"{path}: no data rows")
    data = np.array(rows, dtype=object)
    return {c: data[:, j].astype(str if c in text else float) for j, c in enumerate(columns)}
