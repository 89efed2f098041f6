"""The run settings of a config (`RunSettings`): its [method] and [output] tables, read and
checked for `pdaframe.config.loader.load_config` (errors through its ``w``, naming the file
and the table)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.identifiability import parse_outputs, read_options
from ..errors import OutputError
from ..io.output import check_folder, hide_secrets
from ..methods.contract import check_likelihood, check_x0
from ..minimise import check_method_options, default_memory_gb
from ..plugins import get_method, registry


@dataclass
class RunSettings:
    """What a config says beyond the Problem: method, start, output, twin truth, provenance."""

    path: Path
    text: str
    title: str = ""
    seed: int = 0
    model_name: str = ""
    method: str = "lbfgsb"
    method_options: dict = field(default_factory=dict)
    x0: np.ndarray | None = None
    output_dir: Path = Path("results")
    plots: bool = True
    report: bool = True                 # [output] report: write report.html
    checkpoint_every: int | None = None
    max_memory_gb: float | None = None
    hide: list = field(default_factory=list)
    truth: np.ndarray | None = None
    evaluate: list = field(default_factory=list)
    sites: list = field(default_factory=list)
    data_files: dict | None = None      # {path: sha256} of the config and its data files
                                        # (set by load_config; None: hashed when written)
    predict: object = None              # PredictSpec of [predict] (pdaframe.prediction.spec)
    identifiability: object = None      # Options of [output.identifiability]


def _method_output(w, data, settings, base) -> str:
    """Read [method] (but x0) and [output] into ``settings``; return the fd_scheme."""
    method_tab = w.table(data, "method", "top level", required=False)
    w.keys(method_tab, {"name", "options", "x0", "fd_scheme"}, "method")
    settings.method = w.get(method_tab, "name", (str,), "method", "lbfgsb")
    w.wrap("method", lambda: get_method(settings.method))
    settings.method_options = w.get(method_tab, "options", (dict,), "method", {})
    if method_tab.get("x0", "background") != "background":
        w.wrap("method", lambda: check_x0(settings.method, get_method(settings.method),
                                          method_tab["x0"]))
    fd_scheme = w.get(method_tab, "fd_scheme", (str,), "method", "forward")

    out_tab = w.table(data, "output", "top level", required=False)
    w.keys(out_tab, {"directory", "plots", "report", "checkpoint_every", "max_memory_gb",
                    "hide", "identifiability"},
           "output")
    settings.identifiability = w.wrap("output", lambda: read_options(
        out_tab.get("identifiability", {})))
    settings.output_dir = base / w.get(out_tab, "directory", (str,), "output",
                                       f"results/{settings.path.stem}")
    if w.output_dir is not None:
        settings.output_dir = Path(w.output_dir)
    bad = check_folder(settings.output_dir)
    if bad:
        where = "-o" if w.output_dir is not None else "'directory'"
        raise w.error("output", f"{where} = {str(settings.output_dir)!r}: {bad}", OutputError)
    settings.hide = w.get(out_tab, "hide", (list,), "output", [])
    try:
        if not all(isinstance(key, str) for key in settings.hide):
            raise KeyError(settings.hide)
        hide_secrets(data, settings.hide)
    except KeyError as err:
        raise w.error("output", f"'hide' must list dotted keys of values in this config "
                                f"(\"model.options.token\"); {err} names none") from None
    settings.plots = w.get(out_tab, "plots", (bool,), "output", True)
    settings.report = w.get(out_tab, "report", (bool,), "output", True)
    every = w.get(out_tab, "checkpoint_every", (int,), "output", None)
    if every is not None and (isinstance(every, bool) or every < 0):
        raise w.error("output", f"'checkpoint_every' must be an integer >= 0 (0: no "
                                f"checkpoints), got {every!r}")
    settings.checkpoint_every = every
    return fd_scheme


def _max_memory(w, data) -> float:
    """``[output] max_memory_gb``: the memory a run may plan for (default
    `pdaframe.minimise.default_memory_gb`); read first, as the streams check it."""
    out_tab = data.get("output", {})
    value = w.get(out_tab, "max_memory_gb", (float,), "output", None) \
        if isinstance(out_tab, dict) else None
    if value is None:
        return default_memory_gb()
    if not (np.isfinite(value) and value > 0):
        raise w.error("output", f"'max_memory_gb' must be a positive number of GB, got {value}")
    return value


def _check_method(w, settings, problem):
    """The method options' types and the members' memory, before any model run; and a
    method's own check of its options against the problem, its ``check_problem(problem,
    options)`` attribute where it has one (``stepwise``: its steps)."""
    settings.method_options = w.wrap("method", lambda: check_method_options(
        settings.method, settings.method_options, problem.n_param, problem.n_obs,
        settings.max_memory_gb))
    w.wrap("method", lambda: check_likelihood(settings.method, get_method(settings.method),
                                              problem, registry("method").names()))
    options = settings.identifiability
    if options is not None and options.enabled:        # sensitivity outputs, before a run
        w.wrap("output", lambda: parse_outputs(problem, options.outputs))
    check = getattr(get_method(settings.method), "check_problem", None)
    if check is not None:
        w.wrap("method", lambda: check(problem, settings.method_options))
