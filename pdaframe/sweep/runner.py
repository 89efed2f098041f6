"""Run the cases of a sweep: checked before any run, spread over the executor's ranks,
resumable, one row file per case.

Each case lives in ``<output>/cases/<NNN>/``: ``config.toml`` (the base config with the
case's overrides, runnable with ``pdaframe run``), the run's own outputs (``result.nc``,
plots) and, written last and atomically, ``row.json`` (the case's numbers, the sha256 of its
config and the id of the process that ran it). A case whose ``row.json`` exists and carries
the same config digest is not run again; delete its folder (or ``row.json``) to rerun it. A
case that failed has no ``row.json`` and runs again next time.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.loader import load_config
from ..errors import ConfigError, PdaframeError
from ..io.atomic import atomic_path
from ..io.output import dumps_toml
from ..methods.contract import method_kind
from ..parallel import Failed, SerialExecutor
from ..plugins import get_method
from ..run import run_problem
from .spec import display

log = logging.getLogger(__name__)

ROW_FILE = "row.json"
CONFIG_FILE = "config.toml"


@dataclass
class CaseRow:
    """What a case gives the table (a plain object: the executor does not scan it).

    ``numbers`` has ``parameter``, ``truth``, ``analysis``, ``prior_std``,
    ``posterior_std`` (lists, one entry per estimated parameter) and ``fun``, ``n_obs``,
    ``nfev``, ``seconds``, ``converged``; ``reused`` says the row came from a previous sweep.
    """

    index: int
    digest: str
    numbers: dict
    reused: bool = False


def case_folder(sweep, case) -> Path:
    return Path(sweep.output_dir) / "cases" / f"{case.index:03d}"


def check_cases(sweep):
    """Load every case's config without running the model (`load_config` with
    ``run_model=False``): a bad override value is a named error before any run."""
    with tempfile.TemporaryDirectory(prefix="pdaframe-sweep-") as tmp:
        for case in sweep.cases:
            path = Path(tmp) / f"case{case.index:03d}.toml"
            path.write_text(dumps_toml(case.data))
            try:
                _, settings = load_config(path, run_model=False,
                                          output_dir=case_folder(sweep, case))
            except PdaframeError as err:
                text = str(err).replace(str(path), f"case {case.index} ({case.label})")
                raise type(err)(f"{sweep.path}: {text}") from None
            if method_kind(get_method(settings.method)) == "analysis":
                raise ConfigError(f"{sweep.path}: case {case.index} ({case.label}): method "
                                  f"{settings.method!r} gives no estimate (a sensitivity "
                                  f"analysis or history matching); a sweep tabulates "
                                  f"estimates and their posterior")


def stored_row(sweep, case) -> CaseRow | None:
    """The case's ``row.json`` when it exists and matches the case's config, else None."""
    path = case_folder(sweep, case) / ROW_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("digest") != case.digest:
        return None
    return CaseRow(case.index, case.digest, data.get("numbers", {}), reused=True)


class CaseTask:
    """Runs one case (the executor's ``func``): reuse its stored row or run its config."""

    def __init__(self, sweep):
        self.sweep = sweep

    def __call__(self, case) -> CaseRow:
        row = stored_row(self.sweep, case)
        if row is not None:
            return row
        folder = case_folder(self.sweep, case)
        config = folder / CONFIG_FILE
        (folder / ROW_FILE).unlink(missing_ok=True)       # a stale row of other settings
        with atomic_path(config) as tmp:
            tmp.write_text(f"# case {case.index} of the sweep {self.sweep.path}: "
                           f"{case.label}\n" + dumps_toml(case.data))
        start = time.perf_counter()
        problem, settings = load_config(config, output_dir=folder)
        settings.checkpoint_every = 0                     # a case is the unit of resumption
        settings.method_options.pop("checkpoint_every", None)
        result, _ = run_problem(problem, settings, folder, progress=False,
                                executor=SerialExecutor(), write=True)
        numbers = _numbers(problem, settings, result, time.perf_counter() - start)
        row = CaseRow(case.index, case.digest, numbers)
        with atomic_path(folder / ROW_FILE) as tmp:
            tmp.write_text(json.dumps({"digest": case.digest, "label": case.label,
                                       "pid": os.getpid(), "numbers": numbers}, indent=1))
        return row


def _numbers(problem, settings, result, seconds) -> dict:
    names = list(result["parameter_names"])
    n = len(names)
    truth = settings.truth if settings.truth is not None else np.full(n, np.nan)
    post = result.get("posterior_std")
    return {"parameter": names,
            "truth": [float(v) for v in truth],
            "analysis": [float(v) for v in result["x"]],
            "prior_std": [float(v) for v in np.broadcast_to(problem.prior.std, (n,))],
            "posterior_std": [float(v) for v in post] if post is not None else [math.nan] * n,
            "fun": float(result["fun"]), "n_obs": int(problem.n_obs),
            "nfev": int(result.get("nfev", 0)), "seconds": float(seconds),
            "converged": bool(result.get("success", False))}


def run_cases(sweep, executor=None) -> list:
    """Every case's `CaseRow` (or a `Failed` record), in case order, on every rank.

    The cases are the executor's items (`pdaframe.parallel`): under MPI each case runs
    whole on one rank, with a serial executor inside, and every rank receives all rows.
    """
    if not sweep.cases:
        raise ConfigError(f"{sweep.path}: the sweep has no cases")
    executor = executor or SerialExecutor()
    return list(executor.map(CaseTask(sweep), sweep.cases))


def describe(sweep, rows) -> list[str]:
    """One line per case: ran / reused / failed, 2J/m, runs and time."""
    lines = []
    for case, row in zip(sweep.cases, rows):
        if isinstance(row, Failed):
            lines.append(f"case {case.index} ({case.label}): FAILED: {row.error}")
            continue
        num = row.numbers
        lines.append(f"case {case.index} ({case.label}): {'reused' if row.reused else 'ran'}; "
                     f"2J/m = {2 * num['fun'] / num['n_obs']:.3g}, {num['nfev']} model runs, "
                     f"{num['seconds']:.1f} s")
    return lines


def override_values(sweep, case) -> dict:
    """The case's value of every override key of the sweep (the base's where it sets none),
    as table cells."""
    return {k: display(case.overrides.get(k, sweep.base_values[k])) for k in sweep.keys}
