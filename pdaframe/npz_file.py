"""pdaframe's own ``.npz`` files (trained networks, emulators): one writer, one reader.

A file holds plain arrays only (no pickled objects, so loading one cannot run code) and a
``format`` array naming what it is (e.g. ``"pdaframe-mlp-operator-1"``). `write_npz` writes it
whole or not at all (temporary file + rename, `pdaframe.io.atomic.atomic_path`); `read_npz`
refuses a missing file, a file that is not an ``.npz`` without pickles and one of another
format with a `DataError` naming the file and what was expected.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .io.atomic import atomic_path


def write_npz(path, format, arrays) -> Path:
    """Write ``arrays`` (name -> array_like) and the ``format`` tag to ``path``.

    Parameters
    ----------
    path : str or Path
        The file (written as named: no ``.npz`` is appended).
    format : str
        What the file holds, checked by `read_npz`.
    arrays : mapping of str to array_like
        Plain (non-object) arrays; ``format`` is reserved.

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, format=np.array(format), **arrays)
    return path


def read_npz(path, format, what) -> dict:
    """The arrays of a file `write_npz` wrote with ``format`` (without the tag).

    Parameters
    ----------
    path : str or Path
    format : str
        The expected format tag.
    what : str
        What the file should be, for the error (e.g. ``"an MLP operator file"``).

    Raises
    ------
    DataError
        The file is missing, not an ``.npz`` of plain arrays, or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected {what})")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as err:
        raise DataError(f"{path}: not {what} (an .npz of plain arrays): {err}") from None
    found = str(arrays.pop("format", "missing"))
    if found != format:
        raise DataError(f"{path}: not {what} (format {found!r}, expected {format!r})")
    return arrays
