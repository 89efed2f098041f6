"""TOML run configurations: model, parameters, prior, data streams, twin, method, output.

A config is read with `tomllib` (no eval, no pickle) and validated table by table; every
mistake raises `ConfigError` (or `DataError` for data files) naming the file, the table and
the field. Relative paths are relative to the config file: the stream ``file`` keys and
model options whose key ends in ``file``, ``path``, ``dir`` or ``directory``.

Example::

    title = "Toy twin experiment"
    seed = 1

    [model]
    name = "toy-carbon"                 # a registered model (see `pdaframe plugins`)
    options = { n_days = 730 }

    [parameters]
    estimate = ["eps", "k_fast"]        # optional; the others stay at their prior mean
    # estimate_from = "shortlist.toml"  # or: the list of a sensitivity run's shortlist
    eps = { mean = 1.0, std = 0.3 }     # optional overrides of the model's parameter table
    "nee:bias" = { std = 0.5 }          # operator parameters: "<stream>:<name>" (below)

    [prior]
    family = "gaussian"                 # or "uniform"; extra keys go to the family

    [[streams]]
    name = "nee"
    variable = "nee"                    # the model output observed
    file = "nee.csv"                    # columns: time_column, value_column, std_column
    std = 0.5                           # or std_column = "sigma"
    fill_value = -9999.0                # plus NaN / empty cells: missing
    weight = 1.0                        # multiplies this stream's J_o (= R / weight); > 0
    correlation_length = 5.0            # optional: R_ij = s_i s_j exp(-|t_i - t_j| / L),
                                        # L in model steps, > 0; O(n), no n x n matrix
    model_error_std = 0.2               # optional: R = R_obs + diag(0.2^2); not with
                                        # correlation_length (give a full covariance)
    # time_column holds integer step indices (from 0, or from index_base), or dates
    # YYYY-MM-DD matched to the model's
    # time axis (rows outside the run period are left out and counted); start/end (dates or
    # indices) restrict a stream to a window; operator = "select"; operator_options = {...};
    # times = [..] or times = { start = 0, stop = 730, step = 7 } when there
    # is no file (twin only). An operator with parameters (a bias, SIF slope/offset)
    # appends them to the estimated vector after the model's, named "<stream>:<name>"
    # ("nee:bias_beta0"); their prior comes from the operator, overridable in
    # [parameters."nee:bias_beta0"]; when [parameters] estimate is given, operator
    # parameters it does not list are fixed at their prior mean.

    [[evaluate]]                        # optional: held-out data scored at prior and posterior
    name = "nee_2007"                   # same keys as [[streams]]; errors are not needed
    variable = "nee"
    file = "nee.csv"
    start = "2007-01-01"

    [twin]                              # optional: synthetic observations
    truth = { eps = 1.3 }               # or "sample": a draw from the prior
    seed = 2

    [method]
    name = "lbfgsb"
    options = { maxiter = 500 }

    [output]
    directory = "results"
    plots = true
    checkpoint_every = 10               # optional: checkpoint every 10 rounds / iterations
                                        # (0: never); the method option of the same name wins

Multi-site configs (`pdaframe.multisite.MultiSiteProblem`) replace ``[[streams]]`` and
``[[evaluate]]`` by one ``[[sites]]`` table per site; the same ``[model]`` runs at every
site with the site's ``options`` merged over ``[model] options``::

    [parameters]
    site_specific = ["c_woo0", "c_som0"]   # one copy per site, named c_woo0@<site>; the
                                           # other estimated parameters are shared

    [[sites]]
    name = "US-Me2"                        # letters, digits, _ . + -
    options = { site = "US-Me2", start = "2004-01-01", end = "2007-12-31" }
    parameters = { c_woo0 = { mean = 6000.0, std = 1500.0 } }   # optional, site-specific
                                                                 # parameters only
    [[sites.streams]]                      # at least one; same keys as [[streams]]; named
    name = "nee"                           # "<site>_<stream>" in results
    variable = "nee"
    times = { start = 0, stop = 1461, step = 3 }
    std = 0.7

    [[sites.evaluate]]                     # optional, same keys as [[evaluate]]
    ...

    [twin.truth]                           # shared by name; one copy as "name@site"; a bare
    f_auto = 0.45                          # site-specific name sets the copies of all sites
    "c_woo0@US-Me2" = 5000.0

``[method] x0`` tables name parameters the same way. The prior covers the global vector
(shared parameters once, then each site's copies), each entry from the model's parameter
table, ``[parameters]`` and the site's ``parameters``.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError, PdaframeError
from .fixed import FixedParameters
from .io.tables import read_columns
from .multisite import (SEP, SITE_NAME, MultiSiteProblem, Site, site_parameter_name,
                        split_parameter_name, stream_name)
from .observations import DataStream
from .plugins import registry
from .problem import Problem, operator_parameter_layout

TOP = {"title", "seed", "model", "parameters", "prior", "streams", "evaluate", "twin", "method",
       "output", "sites"}
SITE_KEYS = {"name", "options", "parameters", "streams", "evaluate"}
PARAM_KEYS = {"mean", "std", "lower", "upper", "transform"}
STREAM_KEYS = {"name", "variable", "file", "time_column", "value_column", "std",
               "std_column", "covariance", "fill_value", "weight", "operator",
               "operator_options", "times", "units", "start", "end", "index_base",
               "correlation_length", "model_error_std"}
PATH_SUFFIXES = ("file", "path", "dir", "directory")


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
    checkpoint_every: int | None = None
    truth: np.ndarray | None = None
    evaluate: list = field(default_factory=list)
    sites: list = field(default_factory=list)


class _Where:
    """Builds error messages that name the file and the table."""

    def __init__(self, path):
        self.path = path

    def error(self, table, message, cls=ConfigError):
        return cls(f"{self.path}: [{table}] {message}")

    def table(self, data, key, where, required=True):
        value = data.get(key, None if required else {})
        if value is None:
            raise self.error(where, f"missing required table [{key}]")
        if not isinstance(value, dict):
            raise self.error(where, f"'{key}' must be a table, got {type(value).__name__}")
        return value

    def keys(self, table, allowed, where):
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.error(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")

    def get(self, table, key, types, where, default=...):
        if key not in table:
            if default is ...:
                raise self.error(where, f"missing required key '{key}'")
            return default
        value = table[key]
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            raise self.error(where, f"'{key}' must be {names}, got {value!r}")
        return value


def load_config(path) -> Problem:
    """Read a TOML config and return a ready `Problem`; run settings in ``problem.config``.

    A config with ``[[sites]]`` tables gives a `pdaframe.multisite.MultiSiteProblem`.

    Parameters
    ----------
    path : str or Path
        The config file.

    Returns
    -------
    Problem or MultiSiteProblem
        With attribute ``config`` (`RunSettings`).

    Raises
    ------
    ConfigError, DataError, PluginError
        Naming the file, the table and the field at fault.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
    w = _Where(path)
    w.keys(data, TOP, "top level")
    base = path.parent.resolve()
    settings = RunSettings(path=path, text=text, title=w.get(data, "title", (str,), "top level",
                                                               ""),
                           seed=w.get(data, "seed", (int,), "top level", 0))

    model_tab = w.table(data, "model", "top level")
    w.keys(model_tab, {"name", "options"}, "model")
    settings.model_name = w.get(model_tab, "name", (str,), "model")
    options = _resolve_paths(w.get(model_tab, "options", (dict,), "model", {}), base)
    if "sites" in data:
        return _load_sites(w, data, settings, base, options)
    model = _wrap(w, "model", lambda: registry("model").get(settings.model_name)(**options))

    streams_tab = data.get("streams")
    if not isinstance(streams_tab, list) or not streams_tab:
        raise w.error("streams", "at least one [[streams]] table is required")
    twin_tab = w.table(data, "twin", "top level", required=False)
    streams = [_stream(w, s, i, base, bool(twin_tab), model) for i, s in enumerate(streams_tab)]
    model_names = list(model.parameter_names)
    op_names, slices = _wrap(w, "streams", lambda: operator_parameter_layout(streams,
                                                                             model_names))
    op_params = [p for s in streams for p in getattr(s.operator, "parameters", None) or ()]
    extra = [{"name": n, "mean": p.default, "std": p.std, "lower": p.lower, "upper": p.upper,
              "units": p.units, "long_name": p.long_name} for n, p in zip(op_names, op_params)]

    params, free = _parameter_table(w, model, data, extra)
    free_model = [n for n in free if n in model_names]
    if not free_model:
        raise w.error("parameters", "'estimate' must name at least one model parameter "
                                    f"(of {model_names})")
    free = free_model + [n for n in op_names if n in free]       # the Problem's order
    streams = [_fix_operator_parameters(s, sl, free, [params[n]["mean"] for n in op_names],
                                        len(model_names)) for s, sl in zip(streams, slices)]
    prior_tab = w.table(data, "prior", "top level", required=False)
    family = w.get(prior_tab, "family", (str,), "prior", "gaussian")
    prior_opts = {k: v for k, v in prior_tab.items() if k != "family"}
    prior = _wrap(w, "prior", lambda: registry("prior").get(family)(
        [params[n] for n in free], **prior_opts))
    full_values = np.array([params[n]["mean"] for n in model_names])
    if free_model != model_names:
        model = FixedParameters(model, free_model, full_values)

    eval_tab = data.get("evaluate", [])
    if not isinstance(eval_tab, list):
        raise w.error("evaluate", "must be an array of tables [[evaluate]]")
    settings.evaluate = [
        _stream(w, s if {"std", "std_column", "covariance"} & set(s) else {"std": 1.0, **s},
                i, base, False, model, "evaluate") for i, s in enumerate(eval_tab)]
    clash = {s.name for s in settings.evaluate} & {s.name for s in streams}
    if clash:
        raise w.error("evaluate", f"names {sorted(clash)} are also [[streams]] names; "
                                  f"give held-out data their own names")

    fd_scheme = _method_output(w, data, settings, base)
    problem = _wrap(w, "streams", lambda: Problem(model, prior, streams, fd_scheme=fd_scheme))
    if not twin_tab:             # CDF matching and the like: fitted once on the prior run
        _wrap(w, "streams", problem.fit_operators)
    if twin_tab:
        w.keys(twin_tab, {"truth", "seed"}, "twin")
        settings.truth = _truth(w, twin_tab, prior, free, settings.seed)
        seed = w.get(twin_tab, "seed", (int,), "twin", settings.seed)
        problem = _wrap(w, "twin", lambda: problem.synthetic(settings.truth, seed))
    settings.x0 = _x0(w, data.get("method", {}).get("x0", "background"), prior, free,
                      settings.truth)
    problem.config = settings
    return problem


def _method_output(w, data, settings, base) -> str:
    """Read [method] (but x0) and [output] into ``settings``; return the fd_scheme."""
    method_tab = w.table(data, "method", "top level", required=False)
    w.keys(method_tab, {"name", "options", "x0", "fd_scheme"}, "method")
    settings.method = w.get(method_tab, "name", (str,), "method", "lbfgsb")
    _wrap(w, "method", lambda: registry("method").get(settings.method))
    settings.method_options = w.get(method_tab, "options", (dict,), "method", {})
    fd_scheme = w.get(method_tab, "fd_scheme", (str,), "method", "forward")

    out_tab = w.table(data, "output", "top level", required=False)
    w.keys(out_tab, {"directory", "plots", "checkpoint_every"}, "output")
    settings.output_dir = base / w.get(out_tab, "directory", (str,), "output",
                                       f"results/{settings.path.stem}")
    settings.plots = w.get(out_tab, "plots", (bool,), "output", True)
    every = w.get(out_tab, "checkpoint_every", (int,), "output", None)
    if every is not None and (isinstance(every, bool) or every < 0):
        raise w.error("output", f"'checkpoint_every' must be an integer >= 0 (0: no "
                                f"checkpoints), got {every!r}")
    settings.checkpoint_every = every
    return fd_scheme


def _load_sites(w, data, settings, base, model_options) -> MultiSiteProblem:
    """The multi-site branch of `load_config`: one model and its streams per [[sites]]."""
    for key, sub in (("streams", "streams"), ("evaluate", "evaluate")):
        if key in data:
            raise w.error(key, f"a config with [[sites]] gives each site its own "
                               f"[[sites.{sub}]]; move the top-level [[{key}]] into the sites")
    sites_tab = data["sites"]
    if not isinstance(sites_tab, list) or not sites_tab or \
            not all(isinstance(t, dict) for t in sites_tab):
        raise w.error("sites", "must be an array of tables [[sites]] with at least one site")
    twin_tab = w.table(data, "twin", "top level", required=False)

    # the sites and their models
    entries, seen = [], {}
    for j, tab in enumerate(sites_tab):
        where = f"sites.{j}"
        w.keys(tab, SITE_KEYS, where)
        name = w.get(tab, "name", (str,), where)
        if not SITE_NAME.fullmatch(name):
            raise w.error(where, f"site name {name!r}: use letters, digits and _ . + - "
                                 f"(starting with a letter or digit)")
        if name in seen:
            raise w.error(where, f"duplicate site name {name!r} (also [sites.{seen[name]}])")
        seen[name] = j
        where = f"sites.{j}] [{name}"
        opts = _resolve_paths(w.get(tab, "options", (dict,), where, {}), base)
        model = _wrap(w, where, lambda: registry("model").get(settings.model_name)(
            **{**model_options, **opts}))
        entries.append({"name": name, "where": where, "tab": tab, "model": model})
    settings.sites = list(seen)

    # parameters: one table per site (site overrides of site-specific parameters)
    names = list(entries[0]["model"].parameter_names)
    for e in entries[1:]:
        if list(e["model"].parameter_names) != names:
            raise w.error(e["where"], f"the model has parameters "
                                      f"{list(e['model'].parameter_names)}, that of site "
                                      f"{entries[0]['name']!r} {names}: every site needs the "
                                      f"same model parameters")
    ptab = w.table(data, "parameters", "top level", required=False)
    site_specific = ptab.get("site_specific", [])
    if not isinstance(site_specific, list) or not all(isinstance(n, str) for n in site_specific):
        raise w.error("parameters", "'site_specific' must be a list of parameter names")
    for n in site_specific:
        if n not in names:
            raise w.error("parameters", f"'site_specific' names unknown parameter {n!r}; the "
                                        f"model has {names}")
    if len(set(site_specific)) != len(site_specific):
        raise w.error("parameters", "'site_specific' lists a parameter twice")
    for e in entries:
        e["table"], free = _parameter_table(w, e["model"], data)
        over = w.get(e["tab"], "parameters", (dict,), e["where"], {})
        for key, value in over.items():
            where = f"{e['where']}] [parameters.{key}"
            if key not in names:
                raise w.error(where, f"unknown parameter {key!r}; the model has {names}")
            if key not in site_specific:
                raise w.error(where, f"{key!r} is shared by all sites; only site-specific "
                                     f"parameters {site_specific} take per-site values (list "
                                     f"it in [parameters] site_specific)")
            _override(w, e["table"], key, value, where)
            if not np.isfinite(e["table"][key].get("mean", np.nan)):
                raise w.error(where, "no 'mean' given and the model has no default")
    shared = [n for n in free if n not in site_specific]
    specific = [n for n in free if n in site_specific]
    params = [entries[0]["table"][n] for n in shared] + \
        [{**e["table"][n], "name": site_parameter_name(n, e["name"])}
         for e in entries for n in specific]
    prior_tab = w.table(data, "prior", "top level", required=False)
    family = w.get(prior_tab, "family", (str,), "prior", "gaussian")
    prior_opts = {k: v for k, v in prior_tab.items() if k != "family"}
    prior = _wrap(w, "prior", lambda: registry("prior").get(family)(params, **prior_opts))
    global_names = [p["name"] for p in params]

    # the sites' models (fixed parameters at the site's values) and streams
    sites, evaluate = [], []
    for j, e in enumerate(entries):
        model = e["model"]
        if list(free) != names:
            values = np.array([e["table"][n]["mean"] for n in names])
            model = FixedParameters(model, free, values)
        tab, where = e["tab"], e["where"]
        streams_tab = tab.get("streams")
        if not isinstance(streams_tab, list) or not streams_tab:
            raise w.error(where, "at least one [[sites.streams]] table is required")
        streams = [_stream(w, s, i, base, bool(twin_tab), model, f"{where}] [streams")
                   for i, s in enumerate(streams_tab)]
        eval_tab = tab.get("evaluate", [])
        if not isinstance(eval_tab, list):
            raise w.error(where, "'evaluate' must be an array of tables [[sites.evaluate]]")
        held_out = [_stream(w, s if {"std", "std_column", "covariance"} & set(s) else
                            {"std": 1.0, **s}, i, base, False, model, f"{where}] [evaluate")
                    for i, s in enumerate(eval_tab)]
        clash = {s.name for s in held_out} & {s.name for s in streams}
        if clash:
            raise w.error(where, f"[[sites.evaluate]] names {sorted(clash)} are also "
                                 f"[[sites.streams]] names; give held-out data their own names")
        for s in held_out:
            s.site, s.local_name, s.name = e["name"], s.name, stream_name(s.name, e["name"])
        evaluate += held_out
        sites.append(Site(e["name"], model, streams))
    settings.evaluate = evaluate

    fd_scheme = _method_output(w, data, settings, base)
    problem = _wrap(w, "sites", lambda: MultiSiteProblem(sites, prior, shared, specific,
                                                         fd_scheme=fd_scheme))
    naming = (settings.sites, specific)
    if twin_tab:
        w.keys(twin_tab, {"truth", "seed"}, "twin")
        settings.truth = _truth(w, twin_tab, prior, global_names, settings.seed, naming)
        seed = w.get(twin_tab, "seed", (int,), "twin", settings.seed)
        problem = _wrap(w, "twin", lambda: problem.synthetic(settings.truth, seed))
    settings.x0 = _x0(w, data.get("method", {}).get("x0", "background"), prior, global_names,
                      settings.truth, naming)
    problem.config = settings
    return problem


def _wrap(w, table, build):
    """Run ``build()``; re-raise pdaframe errors with the file and table in front."""
    try:
        return build()
    except PdaframeError as err:
        if str(err).startswith(str(w.path)):
            raise
        raise type(err)(f"{w.path}: [{table}] {err}") from err
    except TypeError as err:      # a factory called with options it does not take
        raise ConfigError(f"{w.path}: [{table}] {err}") from err


def _resolve_paths(options, base):
    return {k: str(base / v) if isinstance(v, str) and k.endswith(PATH_SUFFIXES) else v
            for k, v in options.items()}


def _parameter_table(w, model, data, extra=()):
    """Per-parameter dicts (model defaults overridden by the config) and the free names.

    ``extra``: dicts of further parameters (operator parameters ``"<stream>:<name>"``).
    """
    names = list(model.parameter_names) + [e["name"] for e in extra]
    table = {p.name: {"name": p.name, "mean": p.default, "std": p.std, "lower": p.lower,
                      "upper": p.upper, "units": p.units, "long_name": p.long_name}
             for p in getattr(model, "parameters", ())}
    table.update({e["name"]: dict(e) for e in extra})
    tab = w.table(data, "parameters", "top level", required=False)
    free, what = _estimate(w, tab, names)
    if not isinstance(free, list) or not all(isinstance(n, str) for n in free) or not free:
        raise w.error("parameters", f"{what} must be a non-empty list of parameter names")
    for n in free:
        if n not in names:
            raise w.error("parameters", f"{what} names unknown parameter {n!r}; the model "
                                        f"has {names}")
    if len(set(free)) != len(free):
        raise w.error("parameters", f"{what} lists a parameter twice")
    for key, over in tab.items():
        if key in ("estimate", "estimate_from"):
            continue
        if key == "site_specific":
            if "sites" not in data:
                raise w.error("parameters", "'site_specific' needs [[sites]] tables (a "
                                            "multi-site config)")
            continue
        where = f"parameters.{key}"
        if key not in names:
            raise w.error(where, f"unknown parameter {key!r}; the model has {names}")
        _override(w, table, key, over, where)
    for n in names:
        if not np.isfinite(table.get(n, {}).get("mean", np.nan)):
            raise w.error(f"parameters.{n}", "no 'mean' given and the model has no default")
    return table, free


def _estimate(w, tab, names):
    """``[parameters] estimate``, or the list in the file ``estimate_from`` names (a
    ``shortlist.toml`` of a sensitivity run); default all ``names``. Returns the list and
    how to name it in errors."""
    if "estimate_from" not in tab:
        return tab.get("estimate", names), "'estimate'"
    if "estimate" in tab:
        raise w.error("parameters", "give either 'estimate' or 'estimate_from', not both")
    src = tab["estimate_from"]
    if not isinstance(src, str):
        raise w.error("parameters", f"'estimate_from' must be a file name, got {src!r}")
    path = Path(w.path).parent / src
    try:
        other = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise w.error("parameters", f"'estimate_from' = {src!r}: cannot read {path} "
                                    f"({err})") from None
    free = other.get("parameters", {}).get("estimate") if isinstance(
        other.get("parameters"), dict) else None
    if free is None:
        raise w.error("parameters", f"'estimate_from' = {src!r}: {path} has no [parameters] "
                                    f"estimate list (write one with a sensitivity run: "
                                    f"shortlist.toml)")
    return free, f"'estimate' of {path}"


def _override(w, table, key, over, where):
    """Apply a config table of ``mean std lower upper transform`` to parameter ``key``."""
    if not isinstance(over, dict):
        raise w.error(where, f"must be a table of {sorted(PARAM_KEYS)}")
    w.keys(over, PARAM_KEYS, where)
    entry = table.setdefault(key, {"name": key})
    for k in PARAM_KEYS - {"transform"}:
        if k in over:
            entry[k] = w.get(over, k, (float,), where)
    if "transform" in over:
        entry["transform"] = w.get(over, "transform", (str,), where)


def _stream(w, tab, i, base, twin, model, table="streams"):
    where = f"{table}.{i}"
    if not isinstance(tab, dict):
        raise w.error(where, "must be a table")
    w.keys(tab, STREAM_KEYS, where)
    name = w.get(tab, "name", (str,), where)
    where = f"{table}.{i}] [{name}"
    variable = w.get(tab, "variable", (str,), where)
    times, values, std = None, None, None
    if "file" in tab:
        file = base / w.get(tab, "file", (str,), where)
        tcol = w.get(tab, "time_column", (str,), where, "time")
        vcol = w.get(tab, "value_column", (str,), where, variable)
        scol = w.get(tab, "std_column", (str,), where, None)
        cols = _wrap(w, where, lambda: read_columns(file, [tcol, vcol] + ([scol] if scol else []),
                                                   text=[tcol]))
        window = [w.get(tab, k, (str, int), where, None) for k in ("start", "end")]
        base_index = w.get(tab, "index_base", (int,), where, 0)
        keep, times = _time_index(w, where, file, tcol, cols[tcol], model, *window,
                                  base=base_index)
        values = cols[vcol][keep]
        std = cols[scol][keep] if scol else None
        n_outside = int((~keep).sum())
    elif "times" in tab:
        times, n_outside = _times(w, tab["times"], where), 0
        if not twin:
            raise w.error(where, "observations need a 'file' (only a [twin] can make them)")
        values = np.zeros(times.size)
    else:
        raise w.error(where, "give a 'file' with the observations, or 'times' in a twin")
    if "std" in tab:
        if std is not None:
            raise w.error(where, "give 'std' or 'std_column', not both")
        std = w.get(tab, "std", (float,), where)
    covariance = tab.get("covariance")
    if std is None and covariance is None:
        raise w.error(where, "observation errors missing: give 'std', 'std_column' or "
                             "'covariance'")
    op_name = w.get(tab, "operator", (str,), where, "select" if times is not None else "identity")
    op_opts = w.get(tab, "operator_options", (dict,), where, {})
    operator = _wrap(w, where, lambda: registry("operator").get(op_name)(
        variable=variable, times=None if times is None else times.astype(int), **op_opts))
    length = w.get(tab, "correlation_length", (float,), where, None)
    stream = _wrap(w, where, lambda: DataStream(
        name, variable, values, times=None if times is None else times.astype(int), std=std,
        covariance=covariance, fill_value=w.get(tab, "fill_value", (float,), where, None),
        weight=w.get(tab, "weight", (float,), where, 1.0), operator=operator,
        units=w.get(tab, "units", (str,), where, ""),
        correlation=None if length is None else {"kind": "exponential", "length": length},
        model_error_std=w.get(tab, "model_error_std", (float,), where, None)))
    stream.n_outside = n_outside
    return stream


def _time_index(w, where, file, column, cells, model, start=None, end=None, base=0):
    """Rows to keep and their model time indices, from integer indices or ISO dates.

    Integer indices count model steps from ``base`` (0 by default; 1 for files that number
    steps from 1); ``start``/``end`` are then in the file's numbering. Dates are matched to
    the model's time axis (``model.time``, datetime64). Rows outside the run period, or
    outside ``[start, end]``, are left out (and counted by the caller).
    """
    try:
        idx = np.array([int(c) for c in cells])
    except ValueError:
        idx = None
    if idx is not None:
        lo = -np.inf if start is None else int(start)
        hi = np.inf if end is None else int(end)
        keep = (idx >= lo) & (idx <= hi) & (idx >= base)
        n_steps = len(getattr(model, "time", ())) or None
        if n_steps is not None:
            keep &= idx - base < n_steps
        return keep, idx[keep] - base
    try:
        dates = np.array(cells, dtype="datetime64[D]")
        lo, hi = (None if v is None else np.datetime64(str(v), "D") for v in (start, end))
    except ValueError as err:
        raise w.error(where, f"{file}: column {column!r} (or start/end) must hold integer "
                             f"time indices or dates YYYY-MM-DD ({err})", DataError) from None
    axis = getattr(model, "time", None)
    if axis is None:
        raise w.error(where, f"{file}: column {column!r} holds dates but the model has no time "
                             f"axis (attribute 'time'); give integer time indices")
    axis = np.asarray(axis, dtype="datetime64[D]")
    keep = (dates >= axis[0]) & (dates <= axis[-1])
    if lo is not None:
        keep &= dates >= lo
    if hi is not None:
        keep &= dates <= hi
    if not keep.any():
        raise w.error(where, f"{file}: no row of column {column!r} falls in the run period "
                             f"{axis[0]} .. {axis[-1]}" + (f" and the window {lo} .. {hi}"
                                                           if lo or hi else ""), DataError)
    pos = np.searchsorted(axis, dates[keep])
    pos = np.minimum(pos, axis.size - 1)
    off = np.flatnonzero(axis[pos] != dates[keep])
    if off.size:
        raise w.error(where, f"{file}: date {dates[keep][off[0]]} in column {column!r} is not "
                             f"a model step date", DataError)
    return keep, pos


def _times(w, spec, where):
    if isinstance(spec, dict):
        w.keys(spec, {"start", "stop", "step"}, where + "] [times")
        start = w.get(spec, "start", (int,), where, 0)
        stop = w.get(spec, "stop", (int,), where)
        step = w.get(spec, "step", (int,), where, 1)
        if step <= 0 or stop <= start:
            raise w.error(where, f"'times' range needs stop > start and step > 0, got {spec}")
        return np.arange(start, stop, step)
    if isinstance(spec, list) and spec and all(isinstance(t, int) for t in spec):
        return np.array(spec)
    raise w.error(where, "'times' must be a list of integer indices or {start, stop, step}")


def _vector_from(w, spec, where, prior, free, sites=None):
    """A parameter vector from a table of values (others at the prior mean).

    With ``sites = (site names, site-specific parameters)`` (multi-site), ``name@site``
    sets one site's copy and a bare site-specific name sets the copies of all sites (a
    ``name@site`` entry wins over it).
    """
    if not isinstance(spec, dict):
        raise w.error(where, f"expected a table of parameter values, got {spec!r}")
    x = prior.mean.copy()
    for name in sorted(spec, key=lambda n: sites is not None and SEP in n):
        value = w.get(spec, name, (float,), where)
        if name in free:
            x[free.index(name)] = value
            continue
        if sites is not None:
            site_names, specific = sites
            base, site = split_parameter_name(name)
            if site and site not in site_names:
                raise w.error(where, f"{name!r}: there is no site {site!r}; the sites are "
                                     f"{site_names}")
            if site and base in free:
                raise w.error(where, f"{name!r}: {base!r} is shared by all sites; give it "
                                     f"without '@{site}'")
            if not site and name in specific:
                x[[i for i, n in enumerate(free) if split_parameter_name(n)[0] == name]] = value
                continue
        raise w.error(where, f"{name!r} is not an estimated parameter ({free})")
    return x


def _truth(w, tab, prior, free, seed, sites=None):
    spec = tab.get("truth")
    if spec is None:
        raise w.error("twin", "missing required key 'truth' (a table of values or \"sample\")")
    if spec == "sample":
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
        return prior.sample(1, rng)[0]
    truth = _vector_from(w, spec, "twin", prior, free, sites)
    if not prior.inside(truth):
        raise w.error("twin", f"truth {dict(zip(free, truth))} lies outside the bounds")
    return truth


def _x0(w, spec, prior, free, truth, sites=None):
    if spec == "background":
        return None
    if spec == "truth":
        if truth is None:
            raise w.error("method", "x0 = \"truth\" needs a [twin] table")
        return truth
    if isinstance(spec, str):
        raise w.error("method", f"x0 {spec!r}: expected \"background\", \"truth\" or a table")
    x0 = _vector_from(w, spec, "method", prior, free, sites)
    _wrap(w, "method", lambda: prior.transform.check_inside(x0, "x0"))
    return x0


def _fix_operator_parameters(stream, sl, free, op_means, n_model):
    """``stream`` with its operator's non-estimated parameters fixed at their prior mean."""
    if sl is None:
        return stream
    names = [stream.name + ":" + getattr(p, "name", p) for p in stream.operator.parameters]
    keep = [i for i, n in enumerate(names) if n in free]
    if len(keep) == len(names):
        return stream
    values = np.array(op_means[sl.start - n_model:sl.stop - n_model], dtype=float)
    new = copy.copy(stream)
    new.operator = FixedOperatorParameters(stream.operator, keep, values)
    return new


class FixedOperatorParameters:
    """A parameterised operator with some parameters fixed; exposes the others only.

    Parameters
    ----------
    operator : object
        Follows the parameterised-operator protocol (see `pdaframe.problem`).
    keep : list of int
        Indices of the operator's parameters that stay free.
    values : array_like, shape (n_op_param,)
        Values of all of the operator's parameters (the free ones are overwritten).
    """

    def __init__(self, operator, keep, values):
        self.operator, self.keep = operator, list(keep)
        self.values = np.asarray(values, dtype=float)
        self.parameters = tuple(operator.parameters[i] for i in self.keep)
        self.inputs = tuple(getattr(operator, "inputs", ()))

    def _full(self, params):
        v = self.values.copy()
        if params is not None:
            v[self.keep] = params
        return v

    def apply(self, outputs, params=None):
        return self.operator.apply(outputs, params=self._full(params))

    def tangent(self, outputs, d_outputs, params=None):
        return self.operator.tangent(outputs, d_outputs, params=self._full(params))

    def adjoint(self, outputs, d_obs, params=None):
        return self.operator.adjoint(outputs, d_obs, params=self._full(params))

    def param_tangent(self, outputs, params, d_params):
        d = np.zeros(self.values.size)
        d[self.keep] = d_params
        return self.operator.param_tangent(outputs, self._full(params), d)

    def param_adjoint(self, outputs, params, d_obs):
        full = self.operator.param_adjoint(outputs, self._full(params), d_obs)
        return np.asarray(full, dtype=float)[self.keep]
