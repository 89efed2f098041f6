"""Locks of a batch output folder: one file per running share in ``<output>/.locks/``.

A full run holds ``all.lock``, task ``I`` of ``N`` (``--task I/N``) ``task-I-of-N.lock``,
``pdaframe merge`` ``merge.lock``. Each holds JSON: host, pid, the process's start time
(Linux, to tell a reused pid) and the share. Shares of one job array (the same N, different
I) may run at once; anything else that overlaps -- two full runs, a full run and a task, the
same task twice, tasks of different N, a merge and any run -- is an `OutputError` naming the
holder. A lock of a process that is gone (same host) is taken over with a warning; a lock
from another host cannot be tested and blocks (delete the file if that run is over).

Files rather than ``flock``: a job array's tasks run on different nodes, often on NFS,
where ``flock`` may not reach across hosts but an exclusive create (``O_EXCL``) does.
Two runs that start at the same instant may both see the other's new file and both stop:
never both run.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
from pathlib import Path

from ..errors import OutputError

log = logging.getLogger(__name__)

FOLDER = ".locks"


def lock_name(task) -> str:
    """The lock file name of a share: ``all``, ``merge`` or ``(I, N)``."""
    if task in ("all", "merge"):
        return f"{task}.lock"
    return f"task-{task[0]}-of-{task[1]}.lock"


def _share(name):
    """The share of a lock file name (inverse of `lock_name`), None if not a lock."""
    if name in ("all.lock", "merge.lock"):
        return name[:-5]
    parts = name[:-5].split("-") if name.endswith(".lock") else []
    if len(parts) == 4 and parts[0] == "task" and parts[2] == "of" and \
            parts[1].isdigit() and parts[3].isdigit():
        return int(parts[1]), int(parts[3])
    return None


def conflicts(a, b) -> bool:
    """Whether shares ``a`` and ``b`` may not run at once."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a == b or a[1] != b[1]
    return True


def _start_time(pid) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, /proc), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(holder) -> bool:
    """Whether the lock's process still runs (True when it cannot be told: another host)."""
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = holder.get("start_time")
    return started is None or _start_time(pid) in (None, started)


def _read(path) -> dict:
    try:
        value = json.loads(Path(path).read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder, path) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')} ({path})")


def _check_others(folder, share, own) -> None:
    for entry in sorted(folder.iterdir()):
        other = _share(entry.name)
        if entry.name == own or other is None or not conflicts(share, other):
            continue
        holder = _read(entry)
        if not _alive(holder):
            log.warning("taking over the stale batch lock %s of a process that is gone "
                        "(%s)", entry, _describe(holder, entry))
            entry.unlink(missing_ok=True)
            continue
        what = "a full run" if other == "all" else "a merge" if other == "merge" else \
            f"task {other[0]}/{other[1]}"
        raise OutputError(f"batch output folder {folder.parent} is in use by {what}: "
                          f"{_describe(holder, entry)}; wait for it to finish (shares of one "
                          f"job array, --task I/N with the same N, may run at once), or "
                          f"delete the lock file if that run is over")


@contextlib.contextmanager
def batch_lock(output_dir, task="all"):
    """Hold the lock of ``task`` (``"all"``, ``"merge"`` or ``(I, N)``) on ``output_dir``.

    Raises
    ------
    OutputError
        Another live run holds a conflicting share (`conflicts`), naming it.
    """
    folder = Path(output_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = lock_name(task)
    path = folder / name
    _check_others(folder, task, name)
    holder = {"host": socket.gethostname(), "pid": os.getpid(),
              "start_time": _start_time(os.getpid()),
              "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "task": task if isinstance(task, str) else list(task)}
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            old = _read(path)
            if attempt or _alive(old):
                raise OutputError(f"batch output folder {output_dir} is in use by the same "
                                  f"share: {_describe(old, path)}") from None
            log.warning("taking over the stale batch lock %s of a process that is gone (%s)",
                        path, _describe(old, path))
            path.unlink(missing_ok=True)
    with os.fdopen(fd, "w") as f:
        json.dump(holder, f)
    try:
        _check_others(folder, task, name)          # a conflicting run that started meanwhile
        yield path
    finally:
        if _read(path).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
