"""CF-style NetCDF results, written atomically and readable by xarray.

Layout (dimensions ``param``, ``param_j``, ``iteration`` and ``<stream>_obs``)::

    param(param)                      parameter names (string coordinate)
    param_units, param_long_name      per-parameter metadata
    background, analysis, truth       prior mean, estimate, twin truth       (param)
    prior_std, posterior_std, lower_bound, upper_bound                       (param)
    posterior_lower95, posterior_upper95   95 % Laplace interval (in the transform's
                                      space, so inside the bounds)               (param)
    prior_covariance, posterior_covariance                           (param, param_j)
    cost(iteration)                   J per iteration (0 = start)
    <s>_time, <s>_observed, <s>_obs_std                                  (<s>_obs)
    <s>_prior, <s>_posterior, <s>_truth   model equivalents              (<s>_obs)
    <s>_discrepancy, <s>_discrepancy_std, <s>_predictive_std               (<s>_obs)
                                      a stream with a model discrepancy: the posterior mean
                                      and std of delta at the estimate, and the std of a new
                                      observation (signal + observation error;
                                      `pdaframe.prediction.discrepancy`)

``<s>_time`` is a CF time coordinate when the model has dates (``days since`` its first date,
decoded to datetime64 by xarray; the 0-based model step is then ``<s>_step``), else the step
index (units "1"); see `pdaframe.io.cf_time`. Tempered SMC adds the global attributes
``log_evidence`` and ``log_evidence_se`` (`pdaframe.methods.smc`).

Multi-site problems (`pdaframe.problem.multisite`) name site-specific parameters ``name@site`` and
streams ``<site>_<stream>``, and add::

    site(site)                        site names (string coordinate)
    param_site(param)                 site of each parameter ("" = shared by all sites)
    site_n_obs(site), site_cost(site) valid observations and J_o per site at the analysis

with a ``site`` attribute on each stream's variables.

Diagnostics (``result["diagnostics"]``, `pdaframe.analysis.diagnostics`) add::

    at_bound(param)                   -1 at the lower bound, +1 at the upper, 0 neither
    stream(stream)                    stream names (string coordinate)
    stream_n_obs, stream_residual_mean, stream_residual_rms, stream_normalised_rms,
    stream_cost, stream_cost_per_obs                                       (stream)

and global attributes ``chi2_two_j chi2_dof chi2_low chi2_high chi2_verdict``; their
identifiability (`pdaframe.analysis.identifiability`) adds::

    posterior_correlation(param, param_j)   correlation of the posterior covariance
    hessian_eigenvalues(direction)          eigenvalues of B^1/2 H B^1/2 (descending;
                                            attributes n_constrained, dfs)
    hessian_eigenvectors(direction, param)  its eigenvectors, prior-σ units per parameter
    uncertainty_reduction(param)            1 - posterior σ / prior σ
    output(output), sensitivity(output, param)   d output / d parameter * prior σ

(or the global attributes ``identifiability_missing``: why there is no covariance, and
``sensitivity_missing``: why there are no sensitivities). A stepwise
result adds ``step(step)`` with ``step_streams`` and ``step_parameters`` (each step's active
parameters; both comma-separated) and ``step_cost`` (J of each step's own cost at its
minimum); ``cost(iteration)`` is then the full J per step. A multi-objective result
(``nsga2``) adds its Pareto front (`pdaframe.io.pareto`).

Global attributes carry the result summary and provenance: the config text (secrets hidden:
`pdaframe.io.output.public_config_text`), the package and plugin versions, the seed, the git
revision, the ``run_id`` shared by every file of one run, ``dependency_versions`` (JSON:
Python and every installed dependency of pdaframe and its plugins) and ``data_files`` (JSON:
``{path relative to the config's folder: sha256}`` of the config and every data file it
names; `pdaframe.io.provenance`); the last three also on ``samples.nc`` and ``ensemble.nc``.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import netCDF4
import numpy as np

from .atomic import atomic_path
from .cf_time import step_attrs, stream_dates, time_variable
from .pareto import write_front
from .provenance import data_files_json, dependency_versions, git_revision

FILL = netCDF4.default_fillvals["f8"]


def provenance(ds, result, title="", seed=None, config_text="", plugin_versions=None,
               run_id="", data_files=None):
    """Global attributes of every pdaframe NetCDF file: conventions, the result's summary
    (method, success, message, counters) and provenance (seed, run id, git revision,
    package and dependency versions, config text, ``data_files``: the sha256 of every data
    file the run read, `pdaframe.io.provenance.data_files`). ``seed`` None: the result's own
    ``seed`` (the one its method used), else -1."""
    ds.Conventions = "CF-1.8"
    ds.title = title or "pdaframe parameter estimation"
    ds.institution = ""
    ds.source = "pdaframe"
    ds.history = f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}" \
                 f" written by pdaframe"
    ds.method = str(result.get("method", ""))
    ds.success = int(bool(result.get("success", False)))
    ds.message = str(result.get("message", ""))
    for key in ("fun", "nit", "nfev", "njev", "n_failed", "n_rejected", "log_evidence",
                "log_evidence_se"):
        if key in result:
            setattr(ds, key, result[key])
    seed = result.get("seed") if seed is None else seed
    ds.seed = -1 if seed is None else int(seed)
    ds.run_id = str(run_id or "")
    ds.git_revision = git_revision(Path(__file__).parent)
    ds.package_versions = json.dumps(plugin_versions or {})
    ds.dependency_versions = json.dumps(dependency_versions())
    ds.data_files = data_files_json(data_files)
    ds.config = config_text


def _var(ds, name, dims, data, units=None, long_name=None, **attrs):
    arr = np.asarray(data)
    if np.issubdtype(arr.dtype, np.integer):
        v = ds.createVariable(name, "i8", dims)
        v[:] = arr
    else:
        v = ds.createVariable(name, "f8", dims, fill_value=FILL)
        v[:] = np.ma.masked_invalid(arr.astype(float))
    if units is not None:
        v.units = units
    if long_name:
        v.long_name = long_name
    for k, val in attrs.items():
        setattr(v, k, val)
    return v


def _strings(ds, name, dim, values, long_name):
    v = ds.createVariable(name, str, (dim,))
    for i, s in enumerate(values):
        v[i] = s
    v.long_name = long_name


def write_result(path, result, problem=None, equivalents=None, truth=None, config_text="",
                 seed=None, title="", plugin_versions=None, evaluation_streams=(), run_id="",
                 data_files=None):
    """Write ``result`` (and the problem's observations) to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Target ``.nc`` file; its folder is created.
    result : OptimisationResult, SampleResult or EnsembleResult
        A result with an estimate ``x`` (`pdaframe.result`; a plain `Result` or dict with
        ``x`` too); an analysis result is refused (`pdaframe.io.analysis` writes it).
    problem : Problem, optional
        Adds priors, bounds and the observation streams.
    equivalents : dict, optional
        ``{"prior": {stream: values}, "posterior": {...}, "truth": {...}}``.
    truth : array_like, optional
        Twin-experiment truth.
    config_text, seed, title, plugin_versions, run_id, data_files
        Provenance (`provenance`).
    evaluation_streams : sequence of DataStream
        Held-out streams scored in ``result["evaluation"]`` (see `pdaframe.analysis.scores`):
        written like streams, with the scores as attributes of ``<name>_posterior`` etc.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        An analysis result (``kind == "analysis"``): it has no estimate.
    """
    # the kind attribute, not isinstance: pdaframe.result imports this module
    if getattr(result, "kind", None) == "analysis":
        raise ValueError(f"a {type(result).__name__} has no estimate for result.nc; write "
                         f"it with pdaframe.io.analysis")
    path = Path(path)
    names = list(result["parameter_names"])
    n = len(names)
    units = ["1"] * n
    long_names = [""] * n
    if problem is not None:
        table = {p.name: p for p in (getattr(problem, "parameters", None) or
                                     getattr(getattr(problem, "model", None), "parameters", ()))}
        units = [table[nm].units if nm in table else "1" for nm in names]
        long_names = [table[nm].long_name if nm in table else "" for nm in names]
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            provenance(ds, result, title, seed, config_text, plugin_versions, run_id,
                       data_files)
            ds.createDimension("param", n)
            ds.createDimension("param_j", n)
            _strings(ds, "param", "param", names, "parameter name")
            _strings(ds, "param_units", "param", units, "units of each parameter")
            _strings(ds, "param_long_name", "param", long_names, "description of each parameter")
            sites = list(getattr(problem, "site_names", ()) or ())
            if sites:
                ds.createDimension("site", len(sites))
                _strings(ds, "site", "site", sites, "site name")
                _strings(ds, "param_site", "param", problem.parameter_sites,
                         "site of each parameter (empty: shared by all sites)")
                _var(ds, "site_n_obs", ("site",), np.array(
                    [p.n_obs for p in problem.site_problems], dtype=np.int64), units="1",
                    long_name="number of valid observations per site")
                terms = result.get("cost_terms")
                if terms:
                    _var(ds, "site_cost", ("site",), [
                        sum(terms[s.name] for s in p.streams) for p in problem.site_problems],
                        units="1", long_name="observation cost J_o per site at the analysis")
            _var(ds, "analysis", ("param",), result["x"], long_name="posterior estimate")
            _var(ds, "background", ("param",), result.get("x0", np.full(n, np.nan)),
                 long_name="start of the minimisation (background)")
            if truth is not None:
                _var(ds, "truth", ("param",), truth, long_name="twin-experiment truth")
            if "posterior_covariance" in result:
                _var(ds, "posterior_covariance", ("param", "param_j"),
                     result["posterior_covariance"], long_name="Gauss-Newton posterior covariance")
                _var(ds, "posterior_std", ("param",), result["posterior_std"],
                     long_name="posterior standard deviation")
                if hasattr(result, "posterior_interval"):
                    lo, hi = result.posterior_interval(0.95)
                    for name, ends, which in (("posterior_lower95", lo, "lower"),
                                              ("posterior_upper95", hi, "upper")):
                        _var(ds, name, ("param",), ends, long_name=f"{which} end of the 95 % "
                             f"Laplace interval, in the bounds transform's space mapped back")
            if problem is not None:
                prior = problem.prior
                _var(ds, "prior_mean", ("param",), prior.mean, long_name="prior mean")
                cov = prior.scale @ prior.scale.T
                _var(ds, "prior_std", ("param",), np.sqrt(np.diag(cov)),
                     long_name="prior standard deviation")
                _var(ds, "prior_covariance", ("param", "param_j"), cov,
                     long_name="prior covariance B")
                _var(ds, "lower_bound", ("param",), np.where(np.isfinite(prior.lower),
                                                             prior.lower, np.nan))
                _var(ds, "upper_bound", ("param",), np.where(np.isfinite(prior.upper),
                                                             prior.upper, np.nan))
                _streams(ds, problem, problem.streams, equivalents or {})
                _discrepancy(ds, result.get("discrepancy") or {})
                evaluation = result.get("evaluation", {})
                _streams(ds, problem, evaluation_streams, {
                    label: {name: rows[label]["equivalent"] for name, rows in
                            evaluation.items()} for label in ("prior", "posterior")},
                    scores=evaluation)
            _diagnostics(ds, result)
            write_front(ds, result, _var, _strings)     # nsga2: `pdaframe.io.pareto`
            hist = result.get("history", {}).get("cost")
            if hist is not None:
                ds.createDimension("iteration", len(hist))
                _var(ds, "iteration", ("iteration",), np.arange(len(hist)), units="1",
                     long_name="iteration")
                _var(ds, "cost", ("iteration",), hist, units="1", long_name="cost function J")
    return path


def _streams(ds, problem, streams, equivalents, scores=None):
    """One ``<s>_obs`` dimension per stream: times (`pdaframe.io.cf_time`), observations,
    errors and model equivalents."""
    for s in streams:
        dim = f"{s.name}_obs"
        ds.createDimension(dim, s.values.size)
        u = s.units or None
        steps = np.arange(s.values.size) if s.times is None else s.times
        site = {"site": s.site} if getattr(s, "site", None) else {}
        what = f"the {s.name} observations"
        times, attrs, dated = time_variable(steps, stream_dates(problem, s), what)
        _var(ds, f"{s.name}_time", (dim,), times, **attrs, **site)
        if dated:       # CF: the data variables below name their time coordinate
            _var(ds, f"{s.name}_step", (dim,), np.asarray(steps, dtype=np.int64),
                 **step_attrs(what), **site)
        coords = {"coordinates": f"{s.name}_time {s.name}_step"} if dated else {}
        _var(ds, f"{s.name}_observed", (dim,), np.where(s.mask, s.values, np.nan), units=u,
             long_name=f"observed {s.variable}", missing_values=int(s.n_missing),
             weight=s.weight, **site, **coords)
        std = np.full(s.values.size, np.nan)
        std[s.mask] = s.error.std
        _var(ds, f"{s.name}_obs_std", (dim,), std, units=u,
             long_name=f"observation error std of {s.name}", **coords)
        for label, eq in equivalents.items():
            if s.name in eq:
                stats = {k: v for k, v in (scores or {}).get(s.name, {}).get(label, {}).items()
                         if k != "equivalent"}
                _var(ds, f"{s.name}_{label}", (dim,), eq[s.name], units=u,
                     long_name=f"{label} model equivalent of {s.name}", **stats, **site,
                     **coords)
        for key, value in getattr(s, "attrs", {}).items():   # reader, thinning, superobs
            ds.variables[f"{s.name}_observed"].setncattr(key, value)


def _discrepancy(ds, parts):
    """``<s>_discrepancy``, ``<s>_discrepancy_std``, ``<s>_predictive_std`` of the streams
    in ``parts`` (`pdaframe.prediction.discrepancy.decompose`)."""
    for name, p in parts.items():
        obs = ds.variables[f"{name}_observed"]
        extra = {k: obs.getncattr(k) for k in ("units", "coordinates") if k in obs.ncattrs()}
        dim = (f"{name}_obs",)
        _var(ds, f"{name}_discrepancy", dim, p["discrepancy"], long_name=f"posterior mean of "
             f"the model discrepancy of {name} (observed minus model, structural error)",
             **extra)
        _var(ds, f"{name}_discrepancy_std", dim, p["discrepancy_std"], long_name=f"posterior "
             f"std of the model discrepancy of {name}", **extra)
        _var(ds, f"{name}_predictive_std", dim, p["predictive_std"], long_name=f"std of a new "
             f"observation of {name}: model and discrepancy (the signal) and observation "
             f"error", **extra)


def _identifiability(ds, ident):
    """The identifiability variables (`pdaframe.analysis.identifiability.netcdf_variables`)."""
    from ..analysis.identifiability import netcdf_variables
    dims, variables, attrs = netcdf_variables(ident)
    for dim, size in dims.items():
        ds.createDimension(dim, size if isinstance(size, int) else len(size))
        if not isinstance(size, int):
            _strings(ds, dim, dim, size, f"{dim} name")
    for name, vdims, data, long_name, extra in variables:
        _var(ds, name, vdims, data, units="1", long_name=long_name, **extra)
    ds.strong_correlation = float(ident["strong"])
    for key, value in attrs.items():
        setattr(ds, key, value)


def _diagnostics(ds, result):
    """Diagnostics and stepwise steps of ``result`` (see the module docstring)."""
    diag = result.get("diagnostics")
    if diag:
        c = diag["chi2"]
        ds.chi2_two_j, ds.chi2_dof = float(c["two_j"]), int(c["dof"])
        ds.chi2_low, ds.chi2_high, ds.chi2_verdict = float(c["low"]), float(c["high"]), \
            str(c["verdict"])
        side = {"lower": -1, "upper": 1}
        _var(ds, "at_bound", ("param",), np.array(
            [side.get(diag["edge"].get(n), 0) for n in result["parameter_names"]],
            dtype=np.int64), units="1", long_name="estimate at a bound (-1 lower, +1 upper)",
             fraction_of_range=float(diag["edge_fraction"]))
        streams = diag["streams"]
        ds.createDimension("stream", len(streams))
        _strings(ds, "stream", "stream", list(streams), "stream name")
        cols = {"n": ("stream_n_obs", "number of valid observations"),
                "mean": ("stream_residual_mean", "mean residual, model minus observation "
                                                 "(in each stream's units)"),
                "rms": ("stream_residual_rms", "RMS residual (in each stream's units)"),
                "nrms": ("stream_normalised_rms", "RMS of the whitened residuals"),
                "jo": ("stream_cost", "observation cost J_o of the stream at the analysis"),
                "jo_per_obs": ("stream_cost_per_obs", "J_o per valid observation")}
        for key, (name, long_name) in cols.items():
            values = [st[key] for st in streams.values()]
            _var(ds, name, ("stream",), np.array(values, dtype=np.int64 if key == "n"
                                                 else float), units=None if key in ("mean", "rms") else "1",
                 long_name=long_name)
        if diag.get("identifiability"):
            _identifiability(ds, diag["identifiability"])
    steps = result.get("steps")
    if steps:
        ds.createDimension("step", len(steps))
        _strings(ds, "step_streams", "step", [",".join(s.get("streams", ())) for s in steps],
                 "streams assimilated in each step")
        _strings(ds, "step_parameters", "step",
                 [",".join(s.get("parameters", result["parameter_names"])) for s in steps],
                 "parameters estimated in each step (the others held at the chain's mean)")
        _var(ds, "step_cost", ("step",), [s["fun"] for s in steps], units="1",
             long_name="J of each step's own cost at its minimum")
