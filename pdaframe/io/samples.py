"""Write MCMC samples as ArviZ-compatible NetCDF (``arviz.from_netcdf`` opens it).

Groups (arviz schema): ``posterior`` (``theta``, dims ``chain, draw, param``),
``unconstrained_posterior`` (``u``, the control-space draws), ``sample_stats`` (``lp`` =
``-J``, ``accepted``, ``acceptance_rate``), ``observed_data`` (one variable per stream, dim
``<stream>_obs``, masked values NaN, with the coordinate ``<stream>_time``: dates when the
model has them, `pdaframe.io.cf_time`) and ``prior`` (draws from the prior).
NUTS and HMC add their per-draw statistics to ``sample_stats`` (ArviZ names: ``diverging``,
``tree_depth``, ``n_steps`` = leapfrog steps, ``energy``, ``step_size``, and
``accept_stat``, Stan's mean acceptance statistic of the trajectory).

``log_likelihood`` (a sampler's result with ``log_likelihood``,
`pdaframe.methods.mcmc.pointwise`): one variable per stream, the normalised log density of
each *valid* observation at each draw, dims ``(chain, draw, <stream>_valid)``, with the
coordinates ``<stream>_obs_index`` (the observation's position on ``<stream>_obs``) and
``<stream>_observed`` (its value: `pdaframe.analysis.model_selection` refuses to compare runs
whose values differ). Masked observations have no entry (ArviZ's WAIC and LOO take no NaN).

Flat draws ``(n_draw, param)`` (``ces``: random-walk Metropolis on the *emulated*
posterior) are one chain (chain axis of length 1), or, when the result says
``n_chains = C > 1``, ``C`` chains stored step by step (row ``k`` is step ``k // C`` of
chain ``k % C``: ``chain.reshape(-1, n_param)`` of an ``(n_step, C, n_param)`` array); use
``(chain, draw, param)`` samples to avoid the convention. Per-draw arrays (``log_posterior``
etc.) follow the same layout. ``lp`` is then the emulated log posterior
(``log_posterior``), and the posterior group's attributes say so (``emulated = 1``) and
carry the emulator check (``emulator_check_*``: coverage, RMSE, and the real and
emulated costs of the check runs). Tempered SMC (``smc``) writes its final particles as one
chain, the log evidence as posterior attributes (``log_evidence``, ``log_evidence_se``,
``log_evidence_se_method``) and its stages as ``sample_stats`` variables of dimension
``stage`` (``stage_beta``, ``stage_ess``, ``stage_acceptance``, ...). Only a sample result
(``kind == "sample"``, `pdaframe.result.SampleResult`) is written: a weighted sample
(importance sampling, GLUE: an ensemble result) is not a chain and is refused, see
`pdaframe.io.ensembles`.
"""
from __future__ import annotations

import json
from pathlib import Path

import netCDF4
import numpy as np

from .atomic import atomic_path
from .cf_time import step_attrs, stream_dates, time_variable
from .provenance import data_files_json, dependency_versions


def _ds(variables, names, attrs=None):
    import xarray as xr
    ds = xr.Dataset(variables, coords={"param": ("param", list(names))}) if names is not None \
        else xr.Dataset(variables)
    ds.attrs.update(attrs or {})
    return ds


def samples_to_inference_data(result, problem=None, n_prior=1000, seed=0):
    """`arviz.InferenceData` of a `pdaframe.SampleResult` (its `to_inference_data`).

    Parameters
    ----------
    result : SampleResult
        With ``samples`` (and optionally ``samples_u``, ``log_prob``, ``accepted``,
        ``acceptance_rate``), shape ``(n_chain, n_draw, n_param)``, or one chain
        ``(n_draw, n_param)`` (``ces``: ``log_posterior``, ``acceptance``, ``check``).
    problem : Problem, optional
        Adds ``observed_data`` and ``prior`` (``n_prior`` draws, ``default_rng(seed)``).

    Raises
    ------
    ValueError
        ``result`` is not a sample result (its ``kind`` is not ``"sample"``).
    """
    import arviz as az
    kind = getattr(result, "kind", None)    # not isinstance: pdaframe.result imports us
    if kind != "sample":
        raise ValueError(f"a {kind or 'plain'} result is not an MCMC chain (SampleResult); "
                         f"ensembles and weighted samples go to "
                         f"pdaframe.io.ensembles.write_ensemble")
    names = list(result["parameter_names"])
    flat = np.ndim(result["samples"]) == 2            # ces: flat draws, see the docstring
    n_chains = int(result.get("n_chains", 1) or 1) if flat else None

    def chains(key, dtype=float):
        """``result[key]`` as ``(chain, draw, ...)``; None if its layout does not fit."""
        a = np.asarray(result[key], dtype=dtype)
        if flat:
            if len(a) % n_chains:
                return None
            a = a[None] if n_chains == 1 else \
                np.swapaxes(a.reshape(-1, n_chains, *a.shape[1:]), 0, 1)
        return a if a.shape[:2] == shape else None

    attrs = {"method": str(result.get("method", "")), "success": int(bool(result.get(
        "success", False))), "message": str(result.get("message", "")),
        "nfev": int(result.get("nfev", 0)), "inference_library": "pdaframe",
        "dependency_versions": json.dumps(dependency_versions())}
    cd = ("chain", "draw")
    if "n_design" in result:                          # ces: an emulated posterior
        attrs.update(emulated=1)
        for key in ("n_design", "n_train", "n_refine_runs"):
            if isinstance(result.get(key), (int, np.integer)):
                attrs[key] = int(result[key])
        for key in ("max_extrapolation", "extrapolated_fraction"):   # > 0: extrapolated
            if key in result:
                attrs[f"emulator_{key}"] = float(result[key])
        for key, value in (result.get("check") or {}).items():
            try:
                value = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                continue
            if key != "standardised_errors" and value.ndim <= 1:
                attrs[f"emulator_check_{key}"] = value if value.ndim else float(value)
    theta = np.asarray(result["samples"], dtype=float)
    if flat:
        theta = theta[None] if n_chains == 1 else \
            np.swapaxes(theta.reshape(-1, n_chains, theta.shape[1]), 0, 1)
    shape = theta.shape[:2]
    groups = {"posterior": _ds({"theta": (cd + ("param",), theta, {
        "long_name": "parameters (physical space)"})}, names, attrs)}
    if "samples_u" in result and chains("samples_u") is not None:
        groups["unconstrained_posterior"] = _ds({"u": (cd + ("param",), chains("samples_u"),
                                                       {"long_name": "control variable u"})},
                                                names)
    stats = {}
    if "log_prob" in result and chains("log_prob") is not None:
        stats["lp"] = (cd, chains("log_prob"),
                       {"long_name": "log posterior density -J(theta) (up to a constant)"})
    elif "log_posterior" in result and chains("log_posterior") is not None:
        stats["lp"] = (cd, chains("log_posterior"), {
            "long_name": "emulated log posterior density (up to a constant)"
            if "n_design" in result else "log posterior density (up to a constant)"})
    if "accepted" in result and chains("accepted", np.int8) is not None:
        stats["accepted"] = (cd, chains("accepted", np.int8),
                             {"long_name": "1 if the step to this draw was accepted"})
    rate = result.get("acceptance_rate", result.get("acceptance"))
    if rate is not None:
        rate = np.atleast_1d(np.asarray(rate, dtype=float))
        if rate.size == 1 and shape[0] > 1:       # one overall rate (ces): an attribute
            groups["posterior"].attrs["acceptance_rate"] = float(rate[0])
        elif rate.size == shape[0]:
            stats["acceptance_rate"] = (("chain",), rate)
    for key, values in (result.get("stage_stats") or {}).items():     # smc: per stage
        stats[f"stage_{key}"] = (("stage",), np.asarray(values, dtype=float))
    for key in ("log_evidence", "log_evidence_se", "log_evidence_se_method"):   # smc
        if key in result:
            value = result[key]
            groups["posterior"].attrs[key] = value if isinstance(value, str) else float(value)
    stats.update(_hamiltonian_stats(result, chains, shape))
    if stats:
        groups["sample_stats"] = _ds(stats, None)
    if result.get("log_likelihood"):
        groups["log_likelihood"] = _log_likelihood_group(result, shape, attrs)
    if problem is not None:
        obs, times = {}, {}
        for s in problem.streams:
            dim = (f"{s.name}_obs",)
            values = np.where(s.mask, s.values, np.nan).astype(float)
            obs[s.name] = (dim, values, {"units": str(getattr(s, "units", "") or "1"),
                                         "long_name": f"observations of {s.variable}"})
            steps = np.arange(s.values.size) if s.times is None else np.asarray(s.times)
            what = f"the {s.name} observations"
            t, attrs, dated = time_variable(steps, stream_dates(problem, s), what)
            times[f"{s.name}_time"] = (dim, t, attrs)
            if dated:
                times[f"{s.name}_step"] = (dim, steps.astype(np.int64), step_attrs(what))
        groups["observed_data"] = _ds(obs, None).assign_coords(times)
        draws = problem.prior.sample(int(n_prior), np.random.default_rng(seed))
        groups["prior"] = _ds({"theta": (cd + ("param",), draws[None])}, names,
                              {"seed": int(seed)})
    return az.InferenceData(**groups)


#: NUTS/HMC per-draw statistics: result key -> (ArviZ sample_stats name, dtype, long name)
HAMILTONIAN_STATS = {
    "diverging": ("diverging", bool, "divergent transition (energy error > max_delta_h)"),
    "tree_depth": ("tree_depth", np.int64, "NUTS tree depth (0 for HMC)"),
    "n_leapfrog": ("n_steps", np.int64, "leapfrog steps of the trajectory"),
    "energy": ("energy", float, "Hamiltonian at the draw"),
    "accept_stat": ("accept_stat", float, "mean acceptance statistic of the trajectory"),
}


def _hamiltonian_stats(result, chains, shape) -> dict:
    """NUTS/HMC ``sample_stats`` variables (`HAMILTONIAN_STATS`, and ``step_size``: the
    adapted step size of each chain, the same at every draw)."""
    out = {}
    for key, (name, dtype, long_name) in HAMILTONIAN_STATS.items():
        if key in result and np.ndim(result[key]) == 2:
            values = chains(key, dtype)
            if values is not None:
                out[name] = (("chain", "draw"), values, {"long_name": long_name})
    if out and np.size(result.get("step_size", ())) == shape[0]:
        step = np.broadcast_to(np.asarray(result["step_size"], float)[:, None], shape)
        out["step_size"] = (("chain", "draw"), step.copy(),
                            {"long_name": "leapfrog step size (adapted in warm-up)"})
    return out


def _log_likelihood_group(result, shape, attrs):
    """The ``log_likelihood`` group: one variable per stream (see the module docstring)."""
    variables, coords = {}, {}
    observed = result.get("log_likelihood_observed", {})
    for name, values in result["log_likelihood"].items():
        values = np.asarray(values, dtype=float)
        if values.shape[:2] != shape:
            raise ValueError(f"log_likelihood of stream {name!r} has shape {values.shape}, "
                             f"the draws {shape}")
        dim = f"{name}_valid"
        variables[name] = (("chain", "draw", dim), values, {
            "units": "1", "long_name": f"log density of each valid {name} observation"})
        if name in observed:
            index, y = observed[name]
            coords[f"{name}_obs_index"] = (dim, np.asarray(index, dtype=np.int64), {
                "long_name": f"position of the observation on {name}_obs"})
            coords[f"{name}_observed"] = (dim, np.asarray(y, dtype=float),
                                          {"long_name": f"observed {name}"})
    group = _ds(variables, None, {"method": attrs["method"],
                                  "inference_library": "pdaframe",
                                  "n_pointwise_runs": int(result.get("n_pointwise_runs", 0))})
    return group.assign_coords(coords)


def write_samples(path, result, problem=None, n_prior=1000, seed=0, run_id="",
                  data_files=None) -> Path:
    """Write a sampler's result as ArviZ NetCDF at ``path``, atomically.

    Parameters
    ----------
    path : str or Path
    result : SampleResult
        From ``adaptive-metropolis``, ``dream-zs``, ``emcee`` or ``ces``.
    problem : Problem, optional
        Adds ``observed_data`` and ``prior`` groups.
    n_prior, seed : int
        Number of prior draws and their seed.
    run_id : str
        The run's id, a global attribute of the file.
    data_files : dict, optional
        ``{path: sha256}`` of the data files the run read
        (`pdaframe.io.provenance.data_files`): the global attribute ``data_files`` (JSON).

    Returns
    -------
    Path
    """
    path = Path(path)
    idata = samples_to_inference_data(result, problem, n_prior=n_prior, seed=seed)
    with atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp), engine="netcdf4")
        with netCDF4.Dataset(tmp, "a") as ds:
            ds.run_id = str(run_id or "")
            ds.data_files = data_files_json(data_files)
    return path
