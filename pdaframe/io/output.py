"""The output folder of a run: checked before the first model run, locked while a run writes
to it, and what goes into it.

- `check_folder`: the folder can be made and written (a probe file is created and removed,
  which also works as root, for whom permission bits do not count);
- `netcdf_name_problem`: a stream name that cannot name NetCDF variables (``nee/day``: ``/``
  is the group separator);
- `claim`: the lock ``<folder>/.pdaframe.lock`` (``fcntl.flock``, released when the run
  ends or its process dies, so a stale lock file never blocks), the removal of temporary
  files of killed runs, and the run id (a uuid4 string) that every file of the run carries
  as the global attribute ``run_id``;
- `write_or_rescue`: a failed write (disk full, ...) saves the results in a new folder under
  ``$TMPDIR`` instead, and says where;
- `public_config_text`: the config copy stored in the results, with the values of every
  ``env`` table and of the dotted keys listed in ``[output] hide`` replaced by ``"<hidden>"``.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import logging
import os
import re
import socket
import tempfile
import tomllib
import uuid
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .atomic import remove_leftovers, temp_file, write_error

log = logging.getLogger(__name__)

LOCK = ".pdaframe.lock"
HIDDEN = "<hidden>"
NAME_SUFFIX = "_posterior"            # the longest suffix of a stream's variable names


def check_folder(folder, create=False):
    """Check that files can be written in ``folder``; return None or what is wrong.

    Without ``create`` nothing is left behind: a missing folder is checked by probing its
    nearest existing ancestor. With ``create`` the folder is made.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return (f"{folder} is a file, not a folder" if probe == folder else
                f"{probe} is a file, so no folder can be made below it")
    if create and probe != folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            return f"cannot make the folder {folder}: {err.strerror or err}"
        probe = folder
    try:
        made = temp_file(probe, "pdaframe-probe")
    except OSError as err:
        return f"cannot create files in {probe}: {err.strerror or err}"
    # a run claiming this folder meanwhile (another MPI rank) may have removed it already
    made.unlink(missing_ok=True)
    return None


def netcdf_name_problem(name):
    """Why ``name`` cannot be a stream name in the NetCDF results, or None.

    Tested with the NetCDF library itself on ``name`` and ``name + "_posterior"``.
    """
    import netCDF4
    with netCDF4.Dataset("names.nc", "w", diskless=True, persist=False) as ds:
        for candidate in (name, name + NAME_SUFFIX):
            try:
                ds.createDimension(candidate, 1)
            except (RuntimeError, ValueError, UnicodeError) as err:
                return str(err).removeprefix("NetCDF: ")
    return None


@contextlib.contextmanager
def claim(folder, run_id):
    """Make, check and lock ``folder`` for one run; remove leftover temporary files.

    Raises
    ------
    OutputError
        When the folder cannot be made or written, or another run holds its lock (naming
        that run's process, host and start time).
    """
    folder = Path(folder)
    problem = check_folder(folder, create=True)
    if problem:
        raise OutputError(f"output folder: {problem}")
    with _lock(folder, run_id):
        removed = remove_leftovers(folder)
        if removed:
            log.warning("removed %d temporary file(s) of an interrupted run from %s: %s",
                        len(removed), folder, ", ".join(p.name for p in removed))
        yield folder


@contextlib.contextmanager
def claim_for_run(folder, run_id, write, executor=None):
    """`claim` ``folder`` when this process writes (``write``: MPI rank 0); with an MPI
    executor (``executor.comm``, ``size > 1``) every rank learns whether the claim failed
    and raises the same `OutputError`, so no rank waits for a failed one."""
    error = None
    with contextlib.ExitStack() as stack:
        if write:
            try:
                stack.enter_context(claim(folder, run_id))
            except OutputError as err:
                error = err
        if getattr(executor, "size", 1) > 1 and hasattr(executor, "comm"):
            message = executor.comm.bcast(None if error is None else str(error), root=0)
            if message is not None and error is None:
                error = OutputError(message)
        if error is not None:
            raise error
        yield


@contextlib.contextmanager
def _lock(folder, run_id):
    try:
        import fcntl
    except ImportError:                   # not POSIX: no lock
        yield
        return
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                log.warning("cannot lock %s (%s): concurrent runs into this folder are not "
                            "prevented", path, err.strerror)
                yield
                return
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            raise OutputError(f"output folder {folder} is in use by another pdaframe run "
                              f"({holder or 'no details recorded'}; lock file {path}): wait "
                              f"for it to finish, or write elsewhere with -o DIR") from None
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, started {now}, "
                      f"run id {run_id}\n".encode(), 0)
        yield
    finally:
        os.close(fd)                      # releases the lock; the file stays (harmless)


def new_run_id() -> str:
    """A fresh run id (uuid4 string)."""
    return str(uuid.uuid4())


def write_or_rescue(write, folder, result):
    """``write(folder)``; if that fails with an `OutputError`, write to a new temporary
    folder instead (or, failing that too, the result's arrays to ``result.npz`` there) and
    raise the `OutputError` with where the results were saved.

    Parameters
    ----------
    write : callable
        ``write(folder) -> {label: path}``.
    folder : Path
    result : Result
    """
    try:
        return write(folder)
    except OutputError as err:
        failure = err
    try:
        spare = Path(tempfile.mkdtemp(prefix="pdaframe-rescue-"))
    except OSError as err:
        raise OutputError(f"{failure}. The run's results are lost: no temporary folder "
                          f"could be made either ({err})") from failure
    try:
        paths = write(spare)
        saved = f"{spare} ({', '.join(sorted(Path(p).name for p in paths.values()))})"
    except OutputError as again:
        try:
            saved = _save_arrays(spare / "result.npz", result)
            saved = f"{saved} (the result's arrays; the NetCDF write failed there too: " \
                    f"{again})"
        except (OSError, ValueError) as last:
            raise OutputError(f"{failure}. Saving the results in {spare} failed too "
                              f"({last}): they are lost") from failure
    raise OutputError(f"{failure}. The run's results were saved in {saved} instead; "
                      f"free some space or choose another folder (-o DIR)") from failure


def _save_arrays(path, result) -> Path:
    """The numeric and string arrays of ``result`` (one level of dicts flattened with ``.``)
    in an ``.npz`` file (no pickles: ``numpy.load(path)`` reads it)."""
    arrays = {}
    for key, value in result.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            try:
                a = np.asarray(v)
            except (ValueError, TypeError):
                continue
            if a.dtype.kind in "biufcUS":
                arrays[str(key) if sub is None else f"{key}.{sub}"] = a
    try:
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    except OSError as err:
        raise write_error(err, path) from err
    return path


# -- the config copy in the results -----------------------------------------------------

def hide_secrets(data, hide=()):
    """A copy of the parsed config ``data`` with secrets replaced by `HIDDEN`.

    Hidden are the values of every table named ``env`` (an external model's environment:
    the names stay) and the values of the dotted keys in ``hide`` (``"model.options.token"``;
    in an array of tables the rest of the key applies to every table:
    ``"sites.options.token"``).

    Returns
    -------
    data : dict
    count : int
        How many values were hidden.

    Raises
    ------
    KeyError
        With the entry of ``hide`` that names no value of the config.
    """
    count = 0

    def walk(node):
        nonlocal count
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "env" and isinstance(value, dict):
                out[key] = {k: HIDDEN for k in value}
                count += len(value)
            else:
                out[key] = walk(value)
        return out

    def mark(node, keys):
        nonlocal count
        if isinstance(node, list):
            return sum(mark(v, keys) for v in node if isinstance(v, (dict, list)))
        if not isinstance(node, dict) or keys[0] not in node:
            return 0
        if len(keys) == 1:
            node[keys[0]] = HIDDEN
            count += 1
            return 1
        return mark(node[keys[0]], keys[1:])

    data = walk(data)
    for entry in hide:
        if not mark(data, entry.split(".")):
            raise KeyError(entry)
    return data, count


def public_config_text(text, hide=()) -> str:
    """The config text to store in the results: ``text`` itself when it holds no secret
    (`hide_secrets`), else the parsed config with the secrets hidden, as TOML (comments are
    dropped then). Text that is not TOML is returned as it is."""
    try:
        data = tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        return text
    hidden, count = hide_secrets(data, hide)
    if not count:
        return text
    return (f"# config as read by pdaframe; {count} secret value(s) (env tables, [output] "
            f"hide) replaced by \"{HIDDEN}\"; comments left out\n" + dumps_toml(hidden))


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(k) -> str:
    return k if _BARE.fullmatch(k) else _string(k)


def _string(s) -> str:
    return json.dumps(s).replace("\x7f", "\\u007f")       # a valid TOML basic string


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)                    # TOML reads inf, -inf and nan too
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }" \
            if v else "{}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def dumps_toml(data) -> str:
    """TOML text of a parsed config (tables as ``[table]`` with inline sub-tables, arrays
    of tables as ``[[name]]``); ``tomllib.loads`` gives ``data`` back."""
    def is_tables(v):
        return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)

    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items()
             if not isinstance(v, dict) and not is_tables(v)]
    for k, v in data.items():
        blocks = [v] if isinstance(v, dict) else v if is_tables(v) else []
        for block in blocks:
            lines += ["", f"[{_key(k)}]" if isinstance(v, dict) else f"[[{_key(k)}]]"]
            lines += [f"{_key(kk)} = {_value(vv)}" for kk, vv in block.items()]
    return "\n".join(lines) + "\n"
