"""Read named numeric columns from CSV files, with errors that name file, line and column.

Files are UTF-8 (ASCII is UTF-8; a UTF-8 byte-order mark is skipped); any other encoding
(UTF-16, latin-1, ...) is a `DataError` rather than a guess. A gzip-compressed file (e.g.
``*.csv.gz``, recognised by its first two bytes, not its name) is read as its decompressed
text: `open_text` is the one place that opens them, for `read_columns` and for the readers
that look at a header first. Missing values are empty
cells, ``NA``, ``NaN``, ``N/A``, ``null`` (or a stream's ``fill_value``); ``inf`` is not a
missing value but a `DataError`.
"""
from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

MISSING = {"", "na", "nan", "n/a", "null"}
GZIP_MAGIC = b"\x1f\x8b"
#: what reading a damaged or truncated gzip file raises
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def open_text(path):
    """Open a text data file for reading (``newline=""``, UTF-8, a byte-order mark skipped),
    decompressing it on the fly when it is gzip-compressed (its first bytes are the gzip
    magic number ``1f 8b``).

    A damaged or truncated gzip file raises one of `GZIP_ERRORS` while it is read;
    `read_columns` turns them into a `DataError` naming the file.
    """
    path = Path(path)
    with path.open("rb") as fh:
        compressed = fh.read(2) == GZIP_MAGIC
    if compressed:
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")


def read_columns(path, columns, text=(), line_numbers=False) -> dict[str, np.ndarray]:
    """Read ``columns`` of a CSV file with a header row as float arrays.

    Lines starting with ``#`` are comments. Empty cells and ``NA``/``NaN`` become NaN.

    Parameters
    ----------
    path : str or Path
    columns : sequence of str
    text : sequence of str
        Columns (among ``columns``) returned as stripped strings instead of numbers.
    line_numbers : bool
        Also return each row's line number in the file, as column ``"#line"``.

    Returns
    -------
    dict
        ``{column: ndarray of shape (n_rows,)}`` (float, or str for ``text`` columns).

    Raises
    ------
    DataError
        Missing file (or a directory), not UTF-8, a damaged gzip file, missing column, ragged
        row, a field over the csv module's limit (128 KiB), a non-numeric or infinite cell.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV data file")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        return _read(path, columns, text, line_numbers)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason}: byte "
                        f"{err.object[err.start:err.start + 1]!r}); data files must be UTF-8 "
                        f"(or ASCII): save it as UTF-8") from None
    except GZIP_ERRORS as err:                  # a damaged or truncated .gz
        raise DataError(f"{path}: damaged gzip file ({err})") from None


def _read(path, columns, text, line_numbers):
    with open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            rows, lines = _rows(path, reader, columns, text)
        except csv.Error as err:       # a field over the limit, a NUL byte, ...
            raise DataError(f"{path}, line {reader.line_num}: {err} (the csv module's field "
                            f"limit is {csv.field_size_limit()} characters; is this a CSV "
                            f"data file?)") from None
    if not rows:
        raise DataError(f"{path}: no data rows")
    data = np.array(rows, dtype=object)
    out = {c: data[:, j].astype(str if c in text else float) for j, c in enumerate(columns)}
    if line_numbers:
        out["#line"] = np.array(lines)
    return out


def _rows(path, reader, columns, text):
    """The rows of ``columns`` (numbers, or strings for ``text``) and their line numbers."""
    rows_in = (r for r in reader if r and not r[0].lstrip().startswith("#"))
    try:
        header = [h.strip() for h in next(rows_in)]
    except StopIteration:
        raise DataError(f"{path}: empty file, expected a header row") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the file has {header}")
    idx = [header.index(c) for c in columns]
    rows, lines = [], []
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
                value = np.nan if cell.lower() in MISSING else float(cell)
            except ValueError:
                raise DataError(f"{path}, line {reader.line_num}, column {c!r}: "
                                f"expected a number, got {cell!r}") from None
            if np.isinf(value):
                raise DataError(f"{path}, line {reader.line_num}, column {c!r}: infinite "
                                f"value {cell!r}; a missing value is an empty cell, NA or "
                                f"NaN (or the stream's fill_value)")
            values.append(value)
        rows.append(values)
        lines.append(reader.line_num)
    return rows, lines


def read_header(path, what="data file") -> list[str]:
    """The column names of a CSV file (its first row that is not a ``#`` comment; the file
    plain or gzip-compressed). A
    `DataError` names ``what`` when the file is missing, and the file when it is empty, not
    UTF-8 text or a damaged gzip file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        with open_text(path) as fh:
            for row in csv.reader(fh):
                if row and not row[0].lstrip().startswith("#"):
                    return [h.strip() for h in row]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except GZIP_ERRORS as err:
        raise DataError(f"{path}: damaged gzip file ({err})") from None
    raise DataError(f"{path}: empty file, expected a header row")
