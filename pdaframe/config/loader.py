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
    aggregate = { period = "monthly" }  # optional: the file's daily values averaged per
                                        # month (or windows = [edges]; statistic = "sum";
                                        # min_fraction = 0.8 of valid days; sums), with
                                        # errors std / sqrt(valid days); not with operator
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
    directory = "results"               # checked when the config is read: it must be
                                        # possible to make it and write in it
    plots = true
    report = true                       # report.html (default true; pdaframe.report)
    checkpoint_every = 10               # optional: checkpoint every 10 rounds / iterations
                                        # (0: never); the method option of the same name wins
    max_memory_gb = 8.0                 # optional: refuse (ConfigError, before any model run)
                                        # ensembles and 'times' ranges estimated to need more;
                                        # default 8, or half the machine's memory if less
    hide = ["model.options.token"]      # optional: dotted keys whose values the config copy
                                        # in the results shows as "<hidden>" (as it always
                                        # does the values of every env table); in an array
                                        # of tables the key applies to each ("sites.options.x")

    [predict]                           # optional: predictions after the calibration and
    members = 200                       # for `pdaframe predict` (keys, scenarios:
                                        # `pdaframe.prediction.spec`)

Method options are checked at load against the method's declaration
(`pdaframe.methods.contract`: an unknown name is refused with the list of valid ones; a
bool for a bool, a whole number >= 0 for an int, a finite number for a float; member counts
at least their minimum; ``seed`` 0 <= seed < 2**63), and an ``x0`` given to a method that
does not use one is refused, so ``pdaframe check`` finds these mistakes.

Multi-site configs (`pdaframe.problem.multisite.MultiSiteProblem`) replace ``[[streams]]`` and
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

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, PdaframeError, check_seed
from ..io.provenance import data_files
from ..prediction.spec import read_predict_table
from .streams import stream_from_table
from .parameters import _override, _parameter_table, _truth, _x0
from .settings import RunSettings, _check_method, _max_memory, _method_output
from ..problem.fixed import FixedParameters, fix_operator_parameters
from ..problem.multisite import (SEP, SITE_NAME, MultiSiteProblem, Site, site_parameter_name,
                                 split_parameter_name, stream_name)
from .toml_file import read_toml
from .mapping import apply_site_defaults, build_mapping, site_table, uses_mapping
from ..interfaces import declared_outputs
from ..plugins import registry
from ..problem.layout import likelihood_parameters
from ..problem.single import Problem, operator_parameter_layout
from ..problem.twin import check_stream_outputs

TOP = {"title", "seed", "model", "parameters", "prior", "streams", "evaluate", "twin", "method",
       "output", "sites", "predict"}
SITE_KEYS = {"name", "options", "parameters", "streams", "evaluate"}
PATH_SUFFIXES = ("file", "path", "dir", "directory")


class LoadedConfig(NamedTuple):
    """What `load_config` returns: ``problem, settings = load_config(path)``.

    Attributes
    ----------
    problem : Problem or MultiSiteProblem
        Ready to minimise (`pdaframe.minimise`).
    settings : RunSettings
        The rest of the config: method and options, start, output, twin truth, held-out
        streams, provenance (`pdaframe.run.run_problem` takes both).
    """

    problem: Problem | MultiSiteProblem
    settings: RunSettings


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

    def wrap(self, table, build):
        """Run ``build()``; re-raise pdaframe errors with the file and table in front."""
        try:
            return build()
        except PdaframeError as err:
            if str(err).startswith(str(self.path)):
                raise
            raise type(err)(f"{self.path}: [{table}] {err}") from err
        except TypeError as err:      # a factory called with options it does not take
            raise ConfigError(f"{self.path}: [{table}] {err}") from err


def load_config(path, run_model=True, output_dir=None) -> LoadedConfig:
    """Read a TOML config: its ready `Problem` and its run settings (`LoadedConfig`).

    A config with ``[[sites]]`` tables gives a `pdaframe.problem.multisite.MultiSiteProblem`.
    The settings' ``data_files`` field holds the sha256 of the config and of every file
    it names (`pdaframe.io.provenance.data_files`), recorded in every output.

    Parameters
    ----------
    path : str or Path
        The config file.
    run_model : bool
        False (``pdaframe check``): validate without running the model, so a twin keeps
        its template values (no synthetic observations) and operators that are fitted on
        a reference run (CDF matching) stay unfitted. Stream variables are checked against
        the outputs the model declares either way
        (`pdaframe.interfaces.declared_outputs`).
    output_dir : str or Path, optional
        Overrides ``[output] directory`` (``pdaframe run -o``): this folder is the one
        checked (it can be made and written) and written to.

    Returns
    -------
    LoadedConfig
        ``(problem, settings)``: the `Problem` (or `MultiSiteProblem`) and the
        `RunSettings`; the problem does not hold the settings.

    Raises
    ------
    ConfigError, DataError, PluginError
        Naming the file, the table and the field at fault.
    """
    path = Path(path)
    text, data = read_toml(path)
    w = _Where(path)
    w.keys(data, TOP, "top level")
    base = path.parent.resolve()
    settings = RunSettings(path=path, text=text, title=w.get(data, "title", (str,), "top level",
                                                               ""),
                           seed=_seed(w, data, "top level", 0))
    # provenance: the sha256 of the config and every file it names, as read now
    settings.data_files = data_files(path, data)
    w.max_memory_gb = settings.max_memory_gb = _max_memory(w, data)
    w.output_dir = output_dir

    model_tab = w.table(data, "model", "top level")
    w.keys(model_tab, {"name", "options"}, "model")
    settings.model_name = w.get(model_tab, "name", (str,), "model")
    options = _resolve_paths(w.get(model_tab, "options", (dict,), "model", {}), base)
    settings.predict = read_predict_table(data, path, base, settings.model_name, options,
                                          "sites" in data)       # [predict]: pdaframe.predict
    settings.predict.model = _resolve_paths(settings.predict.model, base)
    if "sites" in data:
        return LoadedConfig(_load_sites(w, data, settings, base, options, run_model), settings)
    model = w.wrap("model", lambda: registry("model").get(settings.model_name)(**options))

    streams_tab = data.get("streams")
    if not isinstance(streams_tab, list) or not streams_tab:
        raise w.error("streams", "at least one [[streams]] table is required")
    twin_tab = w.table(data, "twin", "top level", required=False)
    streams = [stream_from_table(w, s, i, base, bool(twin_tab), model) for i, s in enumerate(streams_tab)]
    model_names = list(model.parameter_names)
    op_names, slices = w.wrap("streams", lambda: operator_parameter_layout(streams,
                                                                             model_names))
    op_params = [p for s in streams for p in getattr(s.operator, "parameters", None) or ()]
    hyper = likelihood_parameters(streams)           # estimated error hyperparameters
    extra = [{"name": n, "mean": p.default, "std": p.std, "lower": p.lower, "upper": p.upper,
              "units": p.units, "long_name": p.long_name}
             for n, p in [*zip(op_names, op_params), *hyper]]

    params, free = _parameter_table(w, model, data, extra)
    free_model = [n for n in free if n in model_names]
    if not free_model:
        raise w.error("parameters", "'estimate' must name at least one model parameter "
                                    f"(of {model_names})")
    free = free_model + [n for n in op_names if n in free] + [n for n, _ in hyper]
    streams = [fix_operator_parameters(s, sl, free, [params[n]["mean"] for n in op_names],
                                        len(model_names)) for s, sl in zip(streams, slices)]
    prior_tab = w.table(data, "prior", "top level", required=False)
    family = w.get(prior_tab, "family", (str,), "prior", "gaussian")
    prior_opts = {k: v for k, v in prior_tab.items() if k != "family"}
    prior = w.wrap("prior", lambda: registry("prior").get(family)(
        [params[n] for n in free], **prior_opts))
    full_values = np.array([params[n]["mean"] for n in model_names])
    if free_model != model_names:
        model = FixedParameters(model, free_model, full_values)

    eval_tab = data.get("evaluate", [])
    if not isinstance(eval_tab, list):
        raise w.error("evaluate", "must be an array of tables [[evaluate]]")
    settings.evaluate = [
        stream_from_table(w, s if {"std", "std_column", "covariance"} & set(s) else {"std": 1.0, **s},
                i, base, False, model, "evaluate") for i, s in enumerate(eval_tab)]
    clash = {s.name for s in settings.evaluate} & {s.name for s in streams}
    if clash:
        raise w.error("evaluate", f"names {sorted(clash)} are also [[streams]] names; "
                                  f"give held-out data their own names")

    _check_variables(w, "streams", model, streams + settings.evaluate)
    fd_scheme = _method_output(w, data, settings, base)
    problem = w.wrap("streams", lambda: Problem(model, prior, streams, fd_scheme=fd_scheme))
    _check_method(w, settings, problem)
    if not twin_tab and run_model:   # CDF matching and the like: fitted once on the prior run
        w.wrap("streams", problem.fit_operators)
    if twin_tab:
        w.keys(twin_tab, {"truth", "seed"}, "twin")
        settings.truth = _truth(w, twin_tab, prior, free, settings.seed)
        seed = _seed(w, twin_tab, "twin", settings.seed)
        if run_model:
            problem = w.wrap("twin", lambda: problem.synthetic(settings.truth, seed))
    settings.x0 = _x0(w, data.get("method", {}).get("x0", "background"), prior, free,
                      settings.truth)
    return LoadedConfig(problem, settings)


def _seed(w, tab, where, default):
    """``tab``'s ``seed`` (or ``default``): a whole number 0 <= seed < 2**63."""
    value = w.get(tab, "seed", (int,), where, default)
    return w.wrap(where, lambda: check_seed(value, "'seed'"))


def _check_variables(w, where, model, streams):
    """The streams' variables against the outputs the model declares (no run)."""
    declared = declared_outputs(model)
    if declared is not None:
        w.wrap(where, lambda: check_stream_outputs(streams, declared))


def _load_sites(w, data, settings, base, model_options, run_model=True) -> MultiSiteProblem:
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
        model = w.wrap(where, lambda: registry("model").get(settings.model_name)(
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
    mapped = uses_mapping(ptab)
    table = site_table(w, ptab, base, settings.sites)
    overridden = []
    for e in entries:
        e["table"], free = _parameter_table(w, e["model"], data)
        over = w.get(e["tab"], "parameters", (dict,), e["where"], {})
        for key, value in over.items():
            where = f"{e['where']}] [parameters.{key}"
            if key not in names:
                raise w.error(where, f"unknown parameter {key!r}; the model has {names}")
            _override(w, e["table"], key, value, where)
            if not np.isfinite(e["table"][key].get("mean", np.nan)):
                raise w.error(where, "no 'mean' given and the model has no default")
            overridden.append((where, key))
    shared = [n for n in free if n not in site_specific]
    specific = [n for n in free if n in site_specific]
    if mapped:
        apply_site_defaults(w, ptab, table, entries)
        mapping = build_mapping(w, ptab, table, entries, free, site_specific)
        shared = [n for n in shared if n in mapping.names]
        params = mapping.entries
    else:
        params = [entries[0]["table"][n] for n in shared] + \
            [{**e["table"][n], "name": site_parameter_name(n, e["name"])}
             for e in entries for n in specific]
    for where, key in overridden:
        if key in shared:
            raise w.error(where, f"{key!r} is shared by all sites; only parameters with "
                                 f"per-site values (site-specific, scaled, fixed) take them "
                                 f"(list it in [parameters] site_specific)")
    prior_tab = w.table(data, "prior", "top level", required=False)
    family = w.get(prior_tab, "family", (str,), "prior", "gaussian")
    prior_opts = {k: v for k, v in prior_tab.items() if k != "family"}
    prior = w.wrap("prior", lambda: registry("prior").get(family)(params, **prior_opts))
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
        streams = [stream_from_table(w, s, i, base, bool(twin_tab), model, f"{where}] [streams")
                   for i, s in enumerate(streams_tab)]
        eval_tab = tab.get("evaluate", [])
        if not isinstance(eval_tab, list):
            raise w.error(where, "'evaluate' must be an array of tables [[sites.evaluate]]")
        held_out = [stream_from_table(w, s if {"std", "std_column", "covariance"} & set(s) else
                            {"std": 1.0, **s}, i, base, False, model, f"{where}] [evaluate")
                    for i, s in enumerate(eval_tab)]
        _check_variables(w, where, model, streams + held_out)
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
    problem = w.wrap("sites", lambda: MultiSiteProblem(
        sites, prior, shared, specific, fd_scheme=fd_scheme,
        mapping=mapping if mapped else None))
    _check_method(w, settings, problem)
    copies = sorted({split_parameter_name(n)[0] for n in global_names if SEP in n})
    naming = (settings.sites, copies)
    if twin_tab:
        w.keys(twin_tab, {"truth", "seed"}, "twin")
        settings.truth = _truth(w, twin_tab, prior, global_names, settings.seed, naming)
        seed = _seed(w, twin_tab, "twin", settings.seed)
        if run_model:
            problem = w.wrap("twin", lambda: problem.synthetic(settings.truth, seed))
    settings.x0 = _x0(w, data.get("method", {}).get("x0", "background"), prior, global_names,
                      settings.truth, naming)
    return problem


def _resolve_paths(options, base):
    return {k: str(base / v) if isinstance(v, str) and k.endswith(PATH_SUFFIXES) else v
            for k, v in options.items()}
