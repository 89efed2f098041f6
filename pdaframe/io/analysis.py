"""Outputs of analyses without a point estimate: sensitivity analysis and history matching.

``sensitivity.nc`` (dimensions ``param``, ``param_j``, ``run``)::

    param(param)                      parameter names, in the prior's order
    <index>(param), <index>_conf(param)   e.g. S1, ST, mu_star: index and its confidence
                                      half-width (S2: (param, param_j))
    rank(param)                       1 = most influential (by the ``rank_by`` index)
    shortlisted(param)                1 if in the shortlist
    X(run, param), Y(run)             the sample and its quantity of interest (NaN: failed)

``history_matching.nc`` (dimensions ``param``, ``wave``, ``run``, ``output``, ``nroy``)::

    lower(param), upper(param)        the box of wave 1
    z(output), var_obs(output), var_disc(output)   observations and their variances
    nroy_fraction(wave)               fraction of the candidates not ruled out after each wave
    X(run, param), Y(run, output), run_wave(run)    every simulator run, and its wave (1..)
    nroy(nroy, param)                 the candidates not ruled out yet

Global attributes as `pdaframe.io.netcdf.provenance`, plus the analysis settings.
`write_analysis` chooses the files by the result's class. ``shortlist.toml`` holds ``[parameters] estimate = [...]``, the file a later config names in
``[parameters] estimate_from``.
"""
from __future__ import annotations

import json
from pathlib import Path

import netCDF4
import numpy as np

from .atomic import atomic_path
from .netcdf import _strings, _var, provenance


def write_analysis(out, result, source="", **prov) -> dict:
    """Write an `~pdaframe.result.AnalysisResult` in folder ``out``, by its class: a
    `~pdaframe.methods.emulation.history_matching.HistoryMatchResult` to
    ``history_matching.nc``; a `~pdaframe.analysis.sensitivity.SensitivityResult` to
    ``sensitivity.nc`` and ``shortlist.toml`` (``source``: the config's path, a comment).

    Returns ``{"netcdf": Path}``, plus ``"shortlist"`` for a sensitivity analysis.
    """
    from ..analysis.sensitivity import SensitivityResult
    from ..methods.emulation.history_matching import HistoryMatchResult
    out = Path(out)
    if isinstance(result, HistoryMatchResult):
        return {"netcdf": write_history_matching(out / "history_matching.nc", result, **prov)}
    if isinstance(result, SensitivityResult):
        return {"netcdf": write_sensitivity(out / "sensitivity.nc", result, **prov),
                "shortlist": write_shortlist(out / "shortlist.toml", result, source=source,
                                             run_id=prov.get("run_id", ""),
                                             data_files=prov.get("data_files"))}
    raise ValueError(f"no analysis files for a {type(result).__name__} (expected a "
                     f"SensitivityResult or a HistoryMatchResult)")


def write_sensitivity(path, result, **prov) -> Path:
    """Write a `pdaframe.analysis.sensitivity.SensitivityResult` to ``path`` (atomically)."""
    names = list(result["parameter_names"])
    X, Y = np.asarray(result["X"], dtype=float), np.asarray(result["Y"], dtype=float)
    rank = {n: i + 1 for i, n in enumerate(result.ranking())}
    short = result.get("shortlist", [])
    with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        provenance(ds, result, **prov)
        ds.qoi, ds.rank_by = str(result["qoi"]), str(result["rank_by"])
        ds.shortlist = json.dumps(short)
        ds.shortlist_rule = str(result.get("shortlist_rule", ""))
        ds.createDimension("param", len(names))
        ds.createDimension("param_j", len(names))
        ds.createDimension("run", len(Y))
        _strings(ds, "param", "param", names, "parameter name")
        for key, value in result["indices"].items():
            dims = ("param",) if np.ndim(value) == 1 else ("param", "param_j")
            _var(ds, key, dims, value, units="1", long_name=f"{result['method']} index {key}")
            _var(ds, f"{key}_conf", dims, result["conf"][key], units="1",
                 long_name=f"confidence half-width of {key}")
        _var(ds, "rank", ("param",), np.array([rank[n] for n in names], dtype=np.int64),
             units="1", long_name=f"rank by {result['rank_by']} (1 = most influential)")
        _var(ds, "shortlisted", ("param",), np.array([n in short for n in names],
                                                      dtype=np.int64),
             units="1", long_name="1 if shortlisted for calibration")
        _var(ds, "X", ("run", "param"), X, long_name="parameter sample")
        _var(ds, "Y", ("run",), Y, long_name=f"quantity of interest {result['qoi']}")
    return Path(path)


def write_history_matching(path, result, **prov) -> Path:
    """Write a `pdaframe.methods.emulation.history_matching.HistoryMatchResult` to ``path``
    (atomically)."""
    names = list(result.get("parameter_names") or
                 [f"x{i}" for i in range(len(result["lower"]))])
    waves = result["waves"]
    X = np.concatenate([w["X"] for w in waves])
    Y = np.concatenate([np.asarray(w["Y"], dtype=float).reshape(len(w["X"]), -1)
                        for w in waves])
    z = np.asarray(result["z"], dtype=float)
    with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        provenance(ds, result, **prov)
        ds.cutoff, ds.which = float(result["cutoff"]), int(result["which"])
        for dim, size in (("param", len(names)), ("wave", len(waves)), ("run", len(X)),
                          ("output", z.size), ("nroy", len(result["nroy"]))):
            ds.createDimension(dim, size)
        _strings(ds, "param", "param", names, "parameter name")
        _var(ds, "lower", ("param",), result["lower"], long_name="box of wave 1: lower")
        _var(ds, "upper", ("param",), result["upper"], long_name="box of wave 1: upper")
        _var(ds, "z", ("output",), z, long_name="observations")
        for key in ("var_obs", "var_disc"):
            _var(ds, key, ("output",), np.broadcast_to(result[key], z.shape),
                 long_name=f"{key} variance")
        _var(ds, "nroy_fraction", ("wave",), [w["nroy_fraction"] for w in waves], units="1",
             long_name="fraction of the candidates not ruled out yet")
        _var(ds, "X", ("run", "param"), X, long_name="simulator runs: parameters")
        _var(ds, "Y", ("run", "output"), Y, long_name="simulator runs: outputs")
        _var(ds, "run_wave", ("run",), np.repeat(np.arange(1, len(waves) + 1),
                                                 [len(w["X"]) for w in waves]),
             units="1", long_name="wave of each run")
        _var(ds, "nroy", ("nroy", "param"), result["nroy"],
             long_name="candidates not ruled out yet (NROY)")
    return Path(path)


def write_shortlist(path, result, source="", run_id="", data_files=None) -> Path:
    """``[parameters] estimate = [...]`` of ``result["shortlist"]``, for ``estimate_from``.

    A multi-site copy ``name@site`` lists ``name`` (once): a multi-site config estimates
    model parameters by name and says which are site-specific in ``site_specific``. The
    comments name the run id and each data file the run read with its sha256
    (``data_files``, `pdaframe.io.provenance.data_files`).
    """
    names = ", ".join(json.dumps(n) for n in dict.fromkeys(
        n.split("@")[0] for n in result["shortlist"]))
    run = f"# run id {run_id}\n" if run_id else ""
    run += "".join(f"# data file {name} sha256 {digest}\n"
                   for name, digest in (data_files or {}).items())
    text = (f"# Parameters to calibrate: {result['method']} sensitivity of {result['qoi']}, "
            f"ranked by {result['rank_by']}; rule: {result.get('shortlist_rule', '')}\n"
            f"# written by pdaframe{f' from {source}' if source else ''}. Use it in a config:\n"
            f"#   [parameters]\n#   estimate_from = \"{Path(path).name}\"   (relative to the "
            f"config)\n{run}[parameters]\nestimate = [{names}]\n")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)
