"""Write the samples and ensembles of a result: ``samples.nc`` (chains) or ``ensemble.nc``.

`write_outputs` chooses by the result's kind (`pdaframe.result`):

* A `~pdaframe.result.SampleResult`: MCMC chains (``adaptive-metropolis``, ``dream-zs``,
  ``emcee``: ``samples`` of shape ``(chain, draw, param)``; ``ces``: one chain ``(draw,
  param)`` of the emulated posterior) go to ``samples.nc`` in ArviZ groups
  (`pdaframe.io.samples`).
* An `~pdaframe.result.EnsembleResult` goes to ``ensemble.nc``: a weighted sample
  (``importance``, ``glue``: ``samples`` ``(member, param)`` with ``weights``) is *not* a
  chain, so never an ArviZ ``posterior`` group (ArviZ would summarise it unweighted); member
  ensembles (``es-mda``, ``enkf``, ``particle-filter``, and ``4denvar``'s posterior
  ensemble: ``posterior_ensemble``). An ensemble result without members (4DEnVar stopped
  before its first analysis) writes no ``ensemble.nc``.
* Other kinds (`~pdaframe.result.OptimisationResult`) write neither.

Layout of ``ensemble.nc`` (plain NetCDF-4, ``xarray.open_dataset`` opens it)::

    param(param), member(member)      parameter names, member index
    theta(member, param)              the sample / the posterior (final) ensemble
    weight(member)                    normalised weights, sum 1 (uniform for ES-MDA/EnKF)
    ess, ess_fraction                 Kong's 1/sum(w^2) and ESS/N (scalars)
    log_weight(member)                IS: unnormalised log-weights
    prior_theta(prior_member, param)  ES-MDA/EnKF/PF/4DEnVar: the initial (prior) members
    weighted_mean(param), weighted_std(param)   of theta with weight

GLUE adds::

    behavioural(member)               1 if behavioural (weight > 0), else 0
    log_likelihood(member)            log of the informal likelihood (-inf: zero)
    stream(stream), nse(member, stream)   Nash–Sutcliffe efficiency per stream
    quantile(quantile)                prediction-bound levels (e.g. 0.05, 0.95)
    <s>_time(<s>_obs), <s>_bounds(quantile, <s>_obs)   weighted quantiles of the
                                      behavioural runs' equivalents, per stream and time
                                      (times: `pdaframe.io.cf_time`, with <s>_step)

and the global attributes ``likelihood``, ``likelihood_shape``, ``threshold`` (NaN when
none), ``top_fraction`` (NaN when none) and ``n_behavioural``.

The joint EnKF (``joint-enkf``) adds ``state(state)``, ``cycle_state_mean(cycle, state)``,
``cycle_state_std(cycle, state)``, ``cycle_theta(cycle, member, param)`` (the parameter
ensemble after each cycle) and, with a truth, ``cycle_state_rmse(cycle)`` and
``cycle_parameter_rmse(cycle)``.

ES-MDA, EnKF and the particle filter add, per assimilation round (``cycle``)::

    cycle(cycle), cycle_cost(cycle), cycle_spread(cycle), cycle_ess(cycle)  (PF only)

and, when the method records them (``history`` keys ``time``, ``theta_mean`` and
``theta_quantiles`` with ``trajectory_quantiles``), the parameter trajectory::

    cycle_time(cycle)                 last observation time assimilated in the cycle: a
                                      CF date (with cycle_step) when the model has dates
    trajectory_quantile(trajectory_quantile)
    trajectory_mean(cycle, param)     (weighted) ensemble mean after each cycle
    trajectory_quantiles(cycle, trajectory_quantile, param)

Global attributes: ``method``, ``kind`` (``"weighted sample"`` or ``"ensemble"``),
``weights`` (what the weights mean), ``seed``, ``n_members``, ``n_failed``, the method's
counters, ``run_id``, ``dependency_versions`` and ``data_files``. Files are written
atomically (`pdaframe.io.atomic`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..result import EnsembleResult, SampleResult
from .atomic import atomic_path
from .cf_time import model_dates, step_attrs, stream_dates, time_variable
from .provenance import data_files_json, dependency_versions

WEIGHTED = ("importance", "glue")
WEIGHT_NOTE = {
    "importance": "self-normalised importance weights (sum 1); estimates are weighted "
                  "sums over members, not plain means",
    "glue": "normalised informal-likelihood weights of the behavioural runs (sum 1; 0 "
            "for non-behavioural runs)",
    "particle-filter": "normalised particle weights after the last cycle (sum 1)",
}


def write_outputs(out, result, problem=None, seed=0, options=None, run_id="",
                  data_files=None) -> dict:
    """Write ``samples.nc`` or ``ensemble.nc`` in folder ``out`` as ``result``'s kind needs
    (see the module; global attributes ``run_id`` and ``data_files``,
    `pdaframe.io.provenance.data_files`).

    Returns ``{"samples": Path}``, ``{"ensemble": Path}`` or ``{}``.
    """
    out = Path(out)
    if isinstance(result, SampleResult):
        from .samples import write_samples
        return {"samples": write_samples(out / "samples.nc", result, problem, seed=seed,
                                         run_id=run_id, data_files=data_files)}
    if isinstance(result, EnsembleResult) and _members(result) is not None:
        return {"ensemble": write_ensemble(out / "ensemble.nc", result, problem,
                                           seed=seed, options=options, run_id=run_id,
                                           data_files=data_files)}
    return {}


def _members(result):
    """The members of an ensemble result: ``posterior_ensemble``, else ``samples`` (a
    weighted sample); None if it has none."""
    return result.get("posterior_ensemble", result.get("samples"))


def ensemble_dataset(result, problem=None, seed=0, options=None):
    """The ``ensemble.nc`` content of ``result`` (an `~pdaframe.result.EnsembleResult`) as an
    `xarray.Dataset`."""
    import xarray as xr
    from ..methods.importance import effective_sample_size, weighted_moments

    if not isinstance(result, EnsembleResult) or _members(result) is None:
        raise ValueError(f"ensemble.nc holds an EnsembleResult with members "
                         f"(posterior_ensemble or samples), got a {type(result).__name__}; "
                         f"MCMC draws (SampleResult) go to samples.nc (write_samples)")
    options = dict(options or {})
    method = str(result.get("method", ""))
    names = list(result["parameter_names"])
    theta = np.asarray(_members(result), dtype=float)
    n_member = theta.shape[0]
    w = np.asarray(result.get("weights", np.full(n_member, 1.0 / n_member)), dtype=float)
    ess = float(result.get("ess", effective_sample_size(w)))
    mean, cov = weighted_moments(theta, w)
    pm = ("member", "param")
    data = {
        "theta": (pm, theta, {"long_name": "posterior ensemble (physical space)"
                              if "posterior_ensemble" in result else
                              "sampled parameter vectors (physical space)"}),
        "weight": (("member",), w, {"long_name": WEIGHT_NOTE.get(
            method, "member weights (uniform, sum 1)"), "units": "1"}),
        "ess": ((), ess, {"long_name": "effective sample size 1/sum(w^2) (Kong 1992)"}),
        "ess_fraction": ((), ess / n_member, {"long_name": "ESS / number of members"}),
        "weighted_mean": (("param",), mean, {"long_name": "weighted mean of theta"}),
        "weighted_std": (("param",), np.sqrt(np.diag(cov)),
                         {"long_name": "weighted standard deviation of theta"}),
    }
    if "log_weights" in result:
        data["log_weight"] = (("member",), np.asarray(result["log_weights"], dtype=float),
                              {"long_name": "unnormalised log-weight (-inf: zero weight)"})
    if "ensemble" in result:
        prior = np.asarray(result["ensemble"], dtype=float)
        data["prior_theta"] = (("prior_member", "param"), prior,
                               {"long_name": "initial (prior) members, physical space"})
    coords = {"param": ("param", names), "member": ("member", np.arange(n_member))}
    if "ensemble" in result:
        coords["prior_member"] = ("prior_member", np.arange(len(prior)))
    attrs = {"method": method, "seed": int(seed if seed is not None else -1),
             "n_members": int(n_member), "inference_library": "pdaframe",
             "dependency_versions": json.dumps(dependency_versions()),
             "kind": "weighted sample" if method in WEIGHTED or "samples" in result
             else "ensemble",
             "weights": "the 'weight' variable: normalised (sum 1); a weighted sample "
                        "is not an MCMC chain, weigh every statistic"}
    for key in ("n_failed", "n_redrawn", "n_resampled", "nfev", "n_rounds"):
        if key in result:
            attrs[key] = int(result[key])
    if "behavioural" in result:
        _glue(data, coords, attrs, result, problem, options)
    _cycles(data, coords, result, problem)
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["param"].attrs["long_name"] = "parameter name"
    ds["member"].attrs["long_name"] = "member (sample) index"
    return ds


def _glue(data, coords, attrs, result, problem, options):
    data["behavioural"] = (("member",), np.asarray(result["behavioural"], dtype=np.int8),
                           {"long_name": "1 if the run is behavioural, else 0"})
    data["log_likelihood"] = (("member",), np.asarray(result["log_likelihood"], dtype=float),
                              {"long_name": f"log informal likelihood "
                                            f"({result.get('likelihood', '')})"})
    streams = list(result.get("prediction_bounds", {}))
    if problem is not None:
        streams = [s.name for s in problem.streams]
    coords["stream"] = ("stream", streams)
    data["nse"] = (("member", "stream"), np.asarray(result["nse"], dtype=float),
                   {"long_name": "Nash-Sutcliffe efficiency per stream"})
    q = np.asarray(result["quantiles"], dtype=float)
    coords["quantile"] = ("quantile", q)
    by_name = {s.name: s for s in getattr(problem, "streams", ())}
    for name, bounds in result["prediction_bounds"].items():
        dim = f"{name}_obs"
        b = np.asarray(bounds, dtype=float)
        s = by_name.get(name)
        units = str(getattr(s, "units", "") or "1")
        if s is not None:
            steps = np.arange(b.shape[1]) if s.times is None else np.asarray(s.times)
            what = f"the {name} values"
            times, t_attrs, dated = time_variable(steps, stream_dates(problem, s), what)
            data[f"{name}_time"] = ((dim,), times, t_attrs)
            if dated:
                data[f"{name}_step"] = ((dim,), steps.astype(np.int64), step_attrs(what))
        data[f"{name}_bounds"] = (("quantile", dim), b, {
            "long_name": f"GLUE prediction bounds of {name}: weighted quantiles of the "
                         f"behavioural runs' equivalents (not calibrated intervals)",
            "units": units})
    attrs.update(likelihood=str(result.get("likelihood", "")),
                 likelihood_shape=float(result.get("shape", np.nan)),
                 n_behavioural=int(result.get("n_behavioural",
                                              np.sum(result["behavioural"]))))
    for key in ("threshold", "top_fraction"):
        value = result.get(key, options.get(key))
        attrs[key] = float("nan") if value is None else float(value)


def _cycles(data, coords, result, problem=None):
    hist = result.get("history", {})
    if "posterior_ensemble" not in result or "spread" not in hist:
        return
    n_cycle = len(hist["spread"])
    coords["cycle"] = ("cycle", np.arange(1, n_cycle + 1))
    data["cycle_cost"] = (("cycle",), np.asarray(hist["cost"], dtype=float)[:n_cycle],
                          {"long_name": "mean J_o of the members before the cycle's update"})
    data["cycle_spread"] = (("cycle",), np.asarray(hist["spread"], dtype=float),
                            {"long_name": "trace of the control-space covariance after the "
                                          "cycle's update"})
    if "ess" in hist:
        data["cycle_ess"] = (("cycle",), np.asarray(hist["ess"], dtype=float),
                             {"long_name": "ESS after the cycle's reweighting (before any "
                                           "resampling)"})
    if "theta_mean" in hist:
        data["trajectory_mean"] = (("cycle", "param"), np.asarray(hist["theta_mean"],
                                                                 dtype=float),
                                   {"long_name": "(weighted) ensemble mean after each cycle"})
    if "theta_quantiles" in hist:
        q = np.asarray(result.get("trajectory_quantiles", hist.get("trajectory_quantiles")),
                       dtype=float)
        coords["trajectory_quantile"] = ("trajectory_quantile", q)
        data["trajectory_quantiles"] = (
            ("cycle", "trajectory_quantile", "param"),
            np.asarray(hist["theta_quantiles"], dtype=float),
            {"long_name": "(weighted) ensemble quantiles after each cycle"})
    _states(data, coords, result, hist)
    if "time" in hist:            # a step index; a date when the problem's model has dates
        steps = np.asarray(hist["time"], dtype=float)
        what = "the last observation assimilated by the end of the cycle"
        dates = model_dates(getattr(problem, "model", None)) \
            if not getattr(problem, "site_problems", None) else None
        times, t_attrs, dated = time_variable(steps, dates, what)
        if dated:
            data["cycle_time"] = (("cycle",), times, t_attrs)
            data["cycle_step"] = (("cycle",), steps.astype(np.int64), step_attrs(what))
        else:
            data["cycle_time"] = (("cycle",), steps, {
                "long_name": "last observation time (model time index; the model has no "
                             "dates) assimilated by the end of the cycle"})


def _states(data, coords, result, hist):
    """The joint EnKF's state analysis per cycle (and the RMSEs when a truth was given)."""
    if "state_mean" in hist:
        coords["state"] = ("state", list(result["state_names"]))
        for key, what in (("state_mean", "ensemble mean"), ("state_std", "ensemble std")):
            data[f"cycle_{key}"] = (("cycle", "state"), np.asarray(hist[key], dtype=float),
                                    {"long_name": f"state analysis {what} after each cycle"})
    if "theta_ensemble" in hist:
        data["cycle_theta"] = (("cycle", "member", "param"),
                               np.asarray(hist["theta_ensemble"], dtype=float),
                               {"long_name": "parameter ensemble after each cycle"})
    for key in ("state_rmse", "parameter_rmse"):
        if key in hist:
            data[f"cycle_{key}"] = (("cycle",), np.asarray(hist[key], dtype=float), {
                "long_name": f"RMSE of the {key.split('_')[0]} analysis mean against the "
                             f"given truth"})


def write_ensemble(path, result, problem=None, seed=0, options=None, run_id="",
                   data_files=None) -> Path:
    """Write ``result``'s weighted sample or ensemble to ``path`` atomically (see module),
    with the global attributes ``run_id`` and ``data_files`` (JSON of
    `pdaframe.io.provenance.data_files`)."""
    path = Path(path)
    ds = ensemble_dataset(result, problem, seed=seed, options=options)
    ds.attrs["run_id"] = str(run_id or "")
    ds.attrs["data_files"] = data_files_json(data_files)
    with atomic_path(path) as tmp:
        ds.to_netcdf(str(tmp), engine="netcdf4")
    return path
