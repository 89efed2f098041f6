"""Run a batch: one independent calibration per site, serially, over MPI ranks (dynamic
schedule) or as one task of a scheduler's job array; restartable per site.

Output folder::

    <output>/batch.json              the sites, their attributes and the config (for merge)
    <output>/sites/<site>/           a finished site: config.toml (runnable alone with
                                     ``pdaframe run``), result.nc (and samples.nc /
                                     ensemble.nc), summary.json; plots and report.html with
                                     ``[batch] reports = true``
    <output>/sites/<site>.failed.json   a site that failed: error type, message, traceback
    <output>/.locks/                 who is running (`pdaframe.batch.lock`)
    <output>/batch.nc ...            the merge (`pdaframe.batch.merge`)

A site is built in ``<output>/sites/.<site>.XXXXXXXX.tmp/`` and renamed to its folder when
complete, so a killed run never leaves a site that looks done; a rerun removes those
leftovers (of its own share) and runs every site without a finished folder whose
``summary.json`` matches the site's config (sha256), failed ones included. A site whose
config changed since it ran runs again, its old folder replaced when the new one is
complete. Failures (any ``Exception``) are tried again up to ``[batch] retries`` times in the
same run, then written to ``<site>.failed.json``; the batch goes on. ``KeyboardInterrupt``,
SIGTERM and ``SystemExit`` stop it: the site being built is removed.

Under ``mpiexec -n N`` the sites are shared out by `pdaframe.parallel.MPIExecutor`'s dynamic
schedule (a one-sided counter on rank 0, which also computes; its progress thread serves the
others): sites differ in cost by seconds, far above the schedule's 1-2 ms per site. Rank 0
locks the folder and checks the files; then all ranks share out the loading of the site
configs (`pdaframe.batch.checks`), before any rank runs a site.
"""
from __future__ import annotations

import json
import logging
import os
import re
import resource
import shutil
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.loader import load_config
from .. import errors
from ..errors import ConfigError, PdaframeError
from ..io.atomic import atomic_path
from ..io.output import LOCK
from ..methods.contract import method_kind
from ..parallel import MPIExecutor, SerialExecutor
from ..plugins import get_method
from ..run import run_problem
from .checks import check_files, check_sites
from .files import (CONFIG, MANIFEST, SITES, SUMMARY, failed_file, read_json,
                    site_folder)
from .lock import batch_lock
from .spec import digest, load_batch, site_config_text, task_sites

log = logging.getLogger(__name__)

BUILDING = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def is_done(output_dir, site, text) -> bool:
    """Whether ``site`` has a finished folder whose config digest matches ``text``."""
    summary = read_json(site_folder(output_dir, site) / SUMMARY)
    return summary is not None and summary.get("digest") == digest(text)


@dataclass
class BatchRun:
    """What `run_batch` did.

    Attributes
    ----------
    batch : Batch
    task : (int, int) or None
    share : list of str
        This run's sites (its task's share, or all).
    skipped : list of str
        Sites already finished.
    statuses : list of dict
        One per site run: ``site``, ``status`` (``"done"``/``"failed"``), ``attempts``,
        ``seconds``, ``error``.
    merged : dict
        Files of the merge (empty unless this run merged).
    ranks : list of int
        Sites each MPI rank ran (one entry serially).
    peak_rss_mb : list of float
        Peak resident memory of each rank's process (MiB, ``getrusage``).
    """

    batch: object
    task: tuple | None
    share: list
    skipped: list
    statuses: list = field(default_factory=list)
    merged: dict = field(default_factory=dict)
    ranks: list = field(default_factory=list)
    peak_rss_mb: list = field(default_factory=list)

    @property
    def failed(self) -> list:
        return [s for s in self.statuses if s["status"] != "done"]

    def summary(self) -> str:
        n = len(self.share)
        what = "" if self.task is None else f" (task {self.task[0]}/{self.task[1]})"
        lines = [f"batch {self.batch.path}{what}: {n} sites; {len(self.skipped)} already "
                 f"done, {len(self.statuses) - len(self.failed)} ran, {len(self.failed)} failed"]
        for s in self.failed[:10]:
            lines.append(f"  FAILED {s['site']} after {s['attempts']} attempt(s): {s['error']}")
        if len(self.failed) > 10:
            lines.append(f"  ... and {len(self.failed) - 10} more (sites/*.failed.json)")
        if self.failed:
            lines.append("  run the batch again to retry the failed sites")
        return "\n".join(lines)


class Progress:
    """A line per finished site (done / to do, rate, ETA) and a tqdm bar on rank 0 when
    interactive; under MPI the count is global (a one-sided counter on rank 0)."""

    def __init__(self, total, show, executor):
        self.total, self.show, self.start = total, show, time.perf_counter()
        self.count = 0
        self.comm = getattr(executor, "comm", None) if getattr(executor, "size", 1) > 1 \
            else None
        self.rank = getattr(executor, "rank", 0)
        self.window = None
        if self.comm is not None:
            from mpi4py import MPI
            self._MPI = MPI
            self.window = MPI.Win.Allocate(8 if self.rank == 0 else 0, 8, comm=self.comm)
            if self.rank == 0:
                self.window.Lock(0, MPI.LOCK_EXCLUSIVE)
                self.window.Put(np.zeros(1, dtype=np.int64), 0)
                self.window.Unlock(0)
            self.comm.Barrier()
        self.bar = None
        if show and self.rank == 0 and sys.stderr.isatty():
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, unit="site", desc="batch", leave=False)

    def _next(self) -> int:
        if self.window is None:
            self.count += 1
            return self.count
        got = np.empty(1, dtype=np.int64)
        self.window.Lock(0, self._MPI.LOCK_SHARED)
        self.window.Fetch_and_op(np.ones(1, dtype=np.int64), got, 0, 0, self._MPI.SUM)
        self.window.Unlock(0)
        return int(got[0]) + 1

    def done(self, status) -> None:
        n = self._next()
        if not self.show:
            return
        elapsed = time.perf_counter() - self.start
        rate = n / elapsed if elapsed > 0 else float("inf")
        eta = (self.total - n) / rate if rate > 0 else float("nan")
        who = f"rank {self.rank}: " if self.comm is not None else ""
        line = (f"{who}site {status['site']} {status['status']} in {status['seconds']:.1f} s "
                f"({n}/{self.total}, {rate:.3g} sites/s, ETA {eta:.0f} s)")
        if self.bar is not None:
            self.bar.update(n - self.bar.n)
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.window is not None:
            self.comm.Barrier()
            self.window.Free()


class SiteTask:
    """Runs one site by index (the executor's ``func``), with retries; never raises an
    ``Exception`` (a failure is written and returned), so one bad site stops nothing."""

    def __init__(self, batch, sites, progress):
        self.batch, self.sites, self.progress = batch, sites, progress

    def __call__(self, index) -> dict:
        site = self.sites[index]
        start = time.perf_counter()
        error, attempts = None, 0
        for attempts in range(1, self.batch.retries + 2):
            try:
                run_site(self.batch, site)
                error = None
                break
            except Exception as err:           # noqa: BLE001 -- any failure of one site
                error = err
                log.info("site %s failed (attempt %d): %s", site, attempts, err)
        status = {"site": site, "status": "done" if error is None else "failed",
                  "attempts": attempts, "seconds": time.perf_counter() - start, "error": ""}
        failed = failed_file(self.batch.output_dir, site)
        if error is None:
            failed.unlink(missing_ok=True)
        else:
            status["error"] = f"{type(error).__name__}: {error}"
            _write_failure(failed, site, error, attempts)
        self.progress.done(status)
        return status


def _write_failure(path, site, error, attempts) -> None:
    previous = read_json(path) or {}
    record = {"site": site, "error_type": type(error).__name__, "message": str(error),
              "traceback": "".join(traceback.format_exception(error)),
              "attempts": attempts, "attempts_all_runs": previous.get("attempts_all_runs", 0)
              + attempts, "host": socket.gethostname(), "pid": os.getpid()}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))


def run_site(batch, site) -> dict:
    """Calibrate ``site`` alone and install its folder atomically; return its summary.

    The site's config (`pdaframe.batch.spec.site_config`) is written into a temporary
    folder beside the site's, loaded and run by `pdaframe.run.run_problem` there (serially);
    ``summary.json`` is written last, then the folder is renamed into place.
    """
    sites_dir = Path(batch.output_dir) / SITES
    sites_dir.mkdir(parents=True, exist_ok=True)
    text = site_config_text(batch, site)
    tmp = Path(tempfile.mkdtemp(prefix=f".{site}.", suffix=".tmp", dir=sites_dir))
    try:
        start = time.perf_counter()
        (tmp / CONFIG).write_text(text)
        problem, settings = load_config(tmp / CONFIG, output_dir=tmp)
        result, _ = run_problem(problem, settings, tmp, progress=False,
                                executor=SerialExecutor(), write=True)
        summary = site_summary(site, problem, settings, result, digest(text))
        summary["seconds"] = time.perf_counter() - start
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=1))
        (tmp / LOCK).unlink(missing_ok=True)
        _install(tmp, site_folder(batch.output_dir, site))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _install(tmp, final) -> None:
    """Rename the complete folder ``tmp`` to ``final``, replacing an older one."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        os.replace(final, old / "old")
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def site_summary(site, problem, settings, result, config_digest) -> dict:
    """The numbers a merge needs (``summary.json``)."""
    names = list(result["parameter_names"])
    summary = {"site": site, "digest": config_digest, "method": settings.method,
               "parameter_names": names, "estimate": _floats(result["x"]),
               "prior_mean": _floats(problem.prior.mean),
               "cost": float(result["fun"]), "success": bool(result.get("success", False)),
               "runs": int(result.get("nfev", 0)), "n_obs": int(problem.n_obs),
               "seed": result.get("seed", settings.seed)}
    if result.get("posterior_std") is not None:
        summary["posterior_std"] = _floats(result["posterior_std"])
        if hasattr(result, "posterior_interval"):
            try:
                lo, hi = result.posterior_interval(0.95)
                summary["posterior_lower95"], summary["posterior_upper95"] = \
                    _floats(lo), _floats(hi)
            except (KeyError, ValueError, np.linalg.LinAlgError):
                pass
    if settings.truth is not None:
        summary["truth"] = _floats(settings.truth)
    return summary


def _floats(values) -> list:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def _remove_leftovers(output_dir, share) -> list:
    """Remove temporary site folders of killed runs for the sites of ``share``."""
    folder = Path(output_dir) / SITES
    mine, removed = set(share), []
    if folder.is_dir():
        for entry in folder.iterdir():
            m = BUILDING.fullmatch(entry.name)
            if m and m.group(1) in mine and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
    if removed:
        log.warning("removed %d unfinished site folder(s) of an interrupted run: %s",
                    len(removed), ", ".join(sorted(removed)[:10]))
    return removed


def write_manifest(batch) -> Path:
    """``batch.json``: the sites (in order), their attributes, grid flag and config."""
    rows = [batch.position(s) for s in batch.sites]
    columns = {c: [float(x) if v.dtype.kind == "f" else str(x) for x in v[rows]]
               for c, v in batch.table.columns.items() if c != "site"}
    manifest = {"config": str(Path(batch.path).resolve()), "config_text": batch.text,
                "title": str(batch.template.get("title", "")), "sites": list(batch.sites),
                "columns": columns, "grid": batch.grid,
                "site_table": os.path.relpath(batch.table.source, Path(batch.path).parent)}
    path = Path(batch.output_dir) / MANIFEST
    text = json.dumps(manifest, indent=1)
    if not path.is_file() or path.read_text() != text:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
    return path


def prepare(batch, task, load=True) -> tuple[list, list]:
    """The checks before any run (rank 0): files of every site, the method and (``load``)
    the configs of the sites to run (`pdaframe.batch.checks`). Returns ``(share, to_run)``."""
    check_files(batch)
    method = batch.template.get("method", {}).get("name", "lbfgsb") \
        if isinstance(batch.template.get("method"), dict) else "lbfgsb"
    try:
        kind = method_kind(get_method(method))
    except PdaframeError:
        kind = None                      # an unknown method: the config check names it
    if kind == "analysis":
        raise ConfigError(f"{batch.path}: method {method!r} gives no estimate (a sensitivity "
                          f"analysis or history matching); a batch merges estimates")
    share = task_sites(batch.sites, task)
    texts = {s: site_config_text(batch, s) for s in share}
    to_run = [s for s in share if not is_done(batch.output_dir, s, texts[s])]
    if load:
        check_sites(batch, to_run)
    return share, to_run


def run_batch(path, output_dir=None, task=None, executor=None, progress=True,
              merge=None) -> BatchRun:
    """Run the batch config ``path`` (`pdaframe run` on a config with ``[batch]``).

    Parameters
    ----------
    path : path-like
        The batch config (`pdaframe.batch.spec`).
    output_dir : path-like, optional
        Overrides ``[output] directory``.
    task : (int, int), optional
        Run only task ``I`` of ``N`` (1-based, `pdaframe.batch.spec.task_sites`).
    executor : SerialExecutor or MPIExecutor, optional
        Spreads the sites (an `MPIExecutor` is switched to its dynamic schedule).
    progress : bool
        Print a line per finished site and show a progress bar on a terminal.
    merge : bool, optional
        Merge when every site is done (default: ``[batch] merge``; never for a task: run
        ``pdaframe merge OUTDIR`` after the array).

    Returns
    -------
    BatchRun
        The same on every rank.

    Raises
    ------
    ConfigError, DataError, OutputError
        Before any site runs: a bad config, site table or file, a lock held by another run.
    """
    executor = executor or SerialExecutor()
    mpi = isinstance(executor, MPIExecutor) and executor.size > 1
    if mpi:
        executor.schedule = "dynamic"             # sites differ in cost
    root = getattr(executor, "rank", 0) == 0
    batch = load_batch(path, output_dir)
    if task is not None and task[1] > len(batch.sites):
        raise ConfigError(f"--task {task[0]}/{task[1]}: {task[1]} tasks for "
                          f"{len(batch.sites)} sites; use at most {len(batch.sites)} tasks")
    with _locked(batch, task, root, executor) as (share, to_run, skipped):
        check_sites(batch, to_run, executor)          # every rank checks a share of them
        if root:
            write_manifest(batch)
        prog = Progress(len(to_run), progress, executor)
        try:
            statuses = executor.map(SiteTask(batch, to_run, prog), range(len(to_run)))
        finally:
            prog.close()
        run = BatchRun(batch, task, share, skipped, [
            s if s else {"site": to_run[s.index], "status": "failed", "attempts": 0,
                         "seconds": 0.0, "error": s.error} for s in statuses])
        assigned = getattr(executor, "assignment", None) if mpi else None
        run.ranks = [len(to_run)] if not mpi else \
            [list(assigned).count(r) for r in range(executor.size)]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0     # KiB on Linux
        run.peak_rss_mb = executor.comm.allgather(rss) if mpi else [rss]
        do_merge = batch.merge if merge is None else merge
        if root and task is None and do_merge and not run.failed:
            from .merge import merge_batch
            run.merged = merge_batch(batch.output_dir)
    return run


class _locked:
    """Rank 0 locks, checks the files and cleans up; every rank learns the sites to run (or
    the same error)."""

    def __init__(self, batch, task, root, executor):
        self.batch, self.task, self.root, self.executor = batch, task, root, executor
        self.comm = getattr(executor, "comm", None) if getattr(executor, "size", 1) > 1 \
            else None
        self.lock = None

    def __enter__(self):
        payload, error = None, None
        if self.root:
            try:
                lock = batch_lock(self.batch.output_dir, self.task or "all")
                lock.__enter__()
                self.lock = lock
                share, to_run = prepare(self.batch, self.task, load=False)
                _remove_leftovers(self.batch.output_dir, share)
                running = set(to_run)
                payload = (share, to_run, [s for s in share if s not in running])
            except PdaframeError as err:
                error = err
            except BaseException:
                self._release()
                raise
        if self.comm is not None:
            sent = self.comm.bcast((payload, None if error is None else
                                    (type(error).__name__, str(error))), root=0)
            payload, message = sent
            if message is not None and error is None:
                error = getattr(errors, message[0], PdaframeError)(message[1])
        if error is not None:
            self._release()
            raise error
        return payload

    def _release(self):
        if self.lock is not None:
            lock, self.lock = self.lock, None
            try:
                lock.__exit__(None, None, None)
            except Exception:                   # noqa: BLE001 -- lock not taken
                pass

    def __exit__(self, *exc):
        self._release()
        return False
