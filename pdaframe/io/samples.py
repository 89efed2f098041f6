"""Write MCMC samples as ArviZ-compatible NetCDF (``arviz.from_netcdf`` opens it).

Groups (arviz schema): ``posterior`` (``theta``, dims ``chain, draw, param``),
``unconstrained_posterior`` (``u``, the control-space draws), ``sample_stats`` (``lp`` =
``-J``, ``accepted``, ``acceptance_rate``), ``observed_data`` (one variable per stream, dim
``<stream>_obs``, masked values NaN) and ``prior`` (draws from the prior).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_path


def _ds(variables, names, attrs=None):
    import xarray as xr
    ds = xr.Dataset(variables, coords={"param": ("param", list(names))}) if names is not None \
        else xr.Dataset(variables)
    ds.attrs.update(attrs or {})
    return ds


def samples_to_inference_data(result, problem=None, n_prior=1000, seed=0):
    """`arviz.InferenceData` of a sampler's `pdaframe.Result`.

    Parameters
    ----------
    result : Result
        With ``samples`` (and optionally ``samples_u``, ``log_prob``, ``accepted``,
        ``acceptance_rate``), shape ``(n_chain, n_draw, n_param)``.
    problem : Problem, optional
        Adds ``observed_data`` and ``prior`` (``n_prior`` draws, ``default_rng(seed)``).
    """
    import arviz as az
    names = list(result["parameter_names"])
    attrs = {"method": str(result.get("method", "")), "success": int(bool(result.get(
        "success", False))), "message": str(result.get("message", "")),
        "nfev": int(result.get("nfev", 0)), "inference_library": "pdaframe"}
    cd = ("chain", "draw")
    theta = np.asarray(result["samples"], dtype=float)
    groups = {"posterior": _ds({"theta": (cd + ("param",), theta, {
        "long_name": "parameters (physical space)"})}, names, attrs)}
    if "samples_u" in result:
        groups["unconstrained_posterior"] = _ds({"u": (cd + ("param",), np.asarray(
            result["samples_u"], dtype=float), {"long_name": "control variable u"})}, names)
    stats = {}
    if "log_prob" in result:
        stats["lp"] = (cd, np.asarray(result["log_prob"], dtype=float),
                       {"long_name": "log posterior density -J(theta) (up to a constant)"})
    if "accepted" in result:
        stats["accepted"] = (cd, np.asarray(result["accepted"], dtype=np.int8),
                             {"long_name": "1 if the step to this draw was accepted"})
    if "acceptance_rate" in result:
        stats["acceptance_rate"] = (("chain",), np.asarray(result["acceptance_rate"],
                                                          dtype=float))
    if stats:
        groups["sample_stats"] = _ds(stats, None)
    if problem is not None:
        obs = {}
        for s in problem.streams:
            values = np.where(s.mask, s.values, np.nan).astype(float)
            obs[s.name] = ((f"{s.name}_obs",), values,
                           {"units": str(getattr(s, "units", "") or "1"),
                            "long_name": f"observations of {s.variable}"})
        groups["observed_data"] = _ds(obs, None)
        draws = problem.prior.sample(int(n_prior), np.random.default_rng(seed))
        groups["prior"] = _ds({"theta": (cd + ("param",), draws[None])}, names,
                              {"seed": int(seed)})
    return az.InferenceData(**groups)


def write_samples(path, result, problem=None, n_prior=1000, seed=0) -> Path:
    """Write a sampler's result as ArviZ NetCDF at ``path``, atomically.

    Parameters
    ----------
    path : str or Path
    result : Result
        From ``adaptive-metropolis``, ``dream-zs`` or ``emcee``.
    problem : Problem, optional
        Adds ``observed_data`` and ``prior`` groups.
    n_prior, seed : int
        Number of prior draws and their seed.

    Returns
    -------
    Path
    """
    path = Path(path)
    idata = samples_to_inference_data(result, problem, n_prior=n_prior, seed=seed)
    with atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp), engine="netcdf4")
    return path
