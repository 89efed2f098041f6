"""Write files atomically: to a temporary file beside the target, then rename.

The temporary file is ``.<target name>.<8 random characters>.tmp`` in the target's folder
(`LEFTOVER` matches these names; `remove_leftovers` deletes those a killed run left behind).
It gets the permissions a plain ``open`` would give: ``0o666`` less the umask. A failure to
write (disk full, read-only filesystem, a NetCDF/HDF error) is an `OutputError` that names
the target, says what happened and how much space is free.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import OutputError

LEFTOVER = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
LOW_SPACE = 64 * 2 ** 20        # an HDF error with less free space than this: disk full


def umask() -> int:
    """The process's umask (from /proc on Linux, else set and restored)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_file(folder, name) -> Path:
    """A new empty temporary file for ``name`` in ``folder`` (mode ``0o666 & ~umask``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~umask())
    finally:
        os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; on success rename it to ``path``, on error delete it.

    Readers never see a half-written ``path``: either the old file or the complete new one.

    Raises
    ------
    OutputError
        When making the folder or writing fails with an `OSError` or a NetCDF library error
        (``RuntimeError("NetCDF: ...")``), naming ``path`` and the cause (`write_error`).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(path.parent, path.name)
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if is_write_error(err):
            raise write_error(err, path) from err
        raise


def is_write_error(err) -> bool:
    """Whether ``err`` is a failure to write a file: an `OSError` or a NetCDF library error."""
    return isinstance(err, OSError) or (isinstance(err, RuntimeError) and
                                        str(err).startswith("NetCDF:"))


def write_error(err, path) -> OutputError:
    """An `OutputError` saying that writing ``path`` failed, why, and the free space left."""
    free = None
    for folder in (Path(path).parent, *Path(path).parent.parents):
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(folder).free
            break
    code = getattr(err, "errno", None)
    if code == errno.ENOSPC or (isinstance(err, RuntimeError) and free is not None
                                and free < LOW_SPACE):
        what = "disk full"
    elif code == getattr(errno, "EDQUOT", None):
        what = "disk quota exceeded"
    elif code == errno.EROFS:
        what = "read-only filesystem"
    else:
        what = "write failed"
    space = "" if free is None else f"; {_size(free)} free on its filesystem"
    return OutputError(f"{what} while writing {path} ({type(err).__name__}: {err}{space})")


def _size(n) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def remove_leftovers(folder) -> list[Path]:
    """Delete the temporary files (`LEFTOVER`) of killed writes in ``folder``; list them.

    Call it only while no other process writes to ``folder`` (`pdaframe.io.output.claim`).
    """
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            if LEFTOVER.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
