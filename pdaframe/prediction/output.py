"""Files of a prediction: one CF-NetCDF file and one PNG per scenario, and the changed
drivers of each scenario, all written atomically.

``predict_<scenario>.nc`` (``<scenario>`` is ``baseline`` for the unchanged drivers)::

    time(time)                         CF time ("days since ...") when the model has dates,
                                       else the 0-based step (units "1"); step(time) with dates
    quantile(quantile)                 the band levels (e.g. 0.05, 0.5, 0.95)
    param(param)                       parameter names
    theta_posterior(draw, param)       the posterior draws that ran; weight_posterior(draw)
                                       for a weighted sample / ensemble
    theta_prior(prior_draw, param)     the prior draws that ran
    <o>_estimate(time)                 output <o> at the result's estimate
    <o>_posterior(draw, time)          trajectories of the posterior draws
    <o>_posterior_credible(quantile, time)    quantiles of the trajectories (parameter
                                       uncertainty only)
    <o>_posterior_predictive(quantile, time)  quantiles of trajectories plus observation
                                       noise N(0, σ²) (outputs a stream observes; attributes
                                       observation_error_std and stream)
    <o>_prior, <o>_prior_credible, <o>_prior_predictive   the same for the prior draws

Global attributes: the provenance of every pdaframe file (`pdaframe.io.netcdf.provenance`:
config text, versions, ``data_files`` with the driver files' sha256 added), the prediction's
``run_id``, ``source_run_id`` (the calibration's), ``scenario``, ``scenario_changes``,
``drivers_file`` (the name of the driver file run: a scenario's CSV kept beside the file, or
the given one, whose full path and sha256 are in ``data_files``),
``members``, ``n_failed_posterior``, ``n_failed_prior``.
"""
from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

from ..io.atomic import atomic_path
from ..io.cf_time import step_attrs, time_variable
from ..io.netcdf import _strings, _var, provenance
from ..io.provenance import file_sha256
from .runner import keep_drivers

BAND_NOTE = ("credible: quantiles over parameter draws (parameter uncertainty only); "
             "predictive: of the draws plus observation noise N(0, sigma^2), sigma^2 the mean "
             "error variance of the stream observing the output")


def write_prediction(folder, prediction, provenance_kw, plots=True) -> dict:
    """Write every scenario of ``prediction`` into ``folder``.

    Parameters
    ----------
    folder : Path
    prediction : Prediction
    provenance_kw : dict
        ``title, config_text, plugin_versions, run_id, data_files, method`` of the files.
    plots : bool
        Also the PNG of each scenario.

    Returns
    -------
    dict
        ``{"predict_<scenario>": nc path, "predict_<scenario>_plot": png path,
        "drivers_<scenario>": csv path}``.
    """
    folder = Path(folder)
    paths = {}
    for sp in prediction.scenarios:
        name = sp.scenario.name
        kept = keep_drivers(sp, folder)
        files = dict(provenance_kw.get("data_files") or {})
        given = sp.options.get("drivers_file")
        if kept is not None:
            paths[f"drivers_{name}"] = kept
            files[kept.name] = file_sha256(kept)
        elif given and Path(given).is_file():
            files[str(given)] = file_sha256(given)
        paths[f"predict_{name}"] = _netcdf(folder / f"predict_{name}.nc", prediction, sp,
                                           {**provenance_kw, "data_files": files},
                                           Path(kept or given or "").name)
        if plots:
            paths[f"predict_{name}_plot"] = plot_prediction(
                folder / f"predict_{name}.png", prediction, sp)
    prediction.paths = paths
    return paths


def _netcdf(path, pred, sp, prov, drivers):
    labels = [label for label in ("posterior", "prior") if label in sp.runs]
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            provenance(ds, {"method": prov.get("method", "")}, prov.get("title", ""),
                       pred.seed, prov.get("config_text", ""), prov.get("plugin_versions"),
                       prov.get("run_id", ""), prov.get("data_files"))
            ds.title = f"pdaframe prediction, scenario {sp.scenario.name}"
            ds.source_run_id = pred.source_run_id
            ds.scenario = sp.scenario.name
            ds.scenario_changes = sp.scenario.describe()
            ds.drivers_file = str(drivers or "")
            ds.members = int(pred.members)
            ds.bands = BAND_NOTE
            for label in ("posterior", "prior"):
                setattr(ds, f"n_failed_{label}", int(sp.failures.get(label, (0, None))[0]))
            n = sp.time.size
            ds.createDimension("time", n)
            ds.createDimension("quantile", len(pred.quantiles))
            ds.createDimension("param", len(pred.parameter_names))
            steps = np.arange(n)
            values, attrs, dated = time_variable(steps, sp.time if sp.dated else None,
                                                 "the predictions")
            _var(ds, "time", ("time",), values, **attrs)
            if dated:
                _var(ds, "step", ("time",), steps, **step_attrs("the predictions"))
            _var(ds, "quantile", ("quantile",), np.array(pred.quantiles), units="1",
                 long_name="quantile level of the bands")
            _strings(ds, "param", "param", pred.parameter_names, "parameter name")
            for label in labels:
                dim = "draw" if label == "posterior" else "prior_draw"
                kept = sp.kept[label]
                ds.createDimension(dim, kept.size)
                _var(ds, f"theta_{label}", (dim, "param"), pred.thetas[label][kept],
                     long_name=f"{label} parameter draws that ran (physical space)")
                if pred.weights.get(label) is not None:
                    w = np.asarray(pred.weights[label], dtype=float)[kept]
                    _var(ds, f"weight_{label}", (dim,), w / w.sum(), units="1",
                         long_name="weight of each draw (sum 1)")
            for o in pred.outputs:
                _var(ds, f"{o}_estimate", ("time",), sp.estimate[o],
                     long_name=f"{o} at the result's estimate")
                for label in labels:
                    dim = "draw" if label == "posterior" else "prior_draw"
                    _var(ds, f"{o}_{label}", (dim, "time"), sp.runs[label][o],
                         long_name=f"{o} of each {label} draw")
                    _var(ds, f"{o}_{label}_credible", ("quantile", "time"),
                         sp.credible[label][o], long_name=f"quantiles of {o} over the "
                         f"{label} draws (parameter uncertainty only)")
                    if o in sp.predictive[label]:
                        sigma, stream = pred.noise[o]
                        _var(ds, f"{o}_{label}_predictive", ("quantile", "time"),
                             sp.predictive[label][o], long_name=f"quantiles of {o} over the "
                             f"{label} draws plus observation noise",
                             observation_error_std=sigma, stream=stream)
    return path


def plot_prediction(path, pred, sp) -> Path:
    """One panel per output: prior and posterior credible bands (outer quantiles), the
    posterior predictive band's edges, the estimate run; a date axis when dated."""
    from ..plots import _date_axis, _figure, _save
    outputs = pred.outputs
    plt, (fig, axes) = _figure(len(outputs), 1, squeeze=False,
                               figsize=(9, 2.6 * len(outputs)))
    lo, hi = 0, len(pred.quantiles) - 1
    level = f"{pred.quantiles[lo]:g}-{pred.quantiles[hi]:g}"
    for ax, o in zip(axes[:, 0], outputs):
        for label, colour in (("prior", "tab:gray"), ("posterior", "tab:red")):
            if label in sp.credible:
                band = sp.credible[label][o]
                ax.fill_between(sp.time, band[lo], band[hi], color=colour, alpha=0.25, lw=0,
                                label=f"{label} credible {level}")
        pred_band = sp.predictive.get("posterior", {}).get(o)
        if pred_band is not None:
            for edge in (lo, hi):
                ax.plot(sp.time, pred_band[edge], ":", color="tab:red", lw=0.8,
                        label="posterior predictive" if edge == lo else None)
        ax.plot(sp.time, sp.estimate[o], "-", color="tab:red", lw=1, label="estimate")
        ax.set_ylabel(o)
        ax.legend(loc="best", fontsize="small")
        if sp.dated:
            _date_axis(ax)
    axes[0, 0].set_title(f"scenario {sp.scenario.name} ({sp.scenario.describe()})")
    axes[-1, 0].set_xlabel("date" if sp.dated else "model time index")
    fig.tight_layout()
    return _save(plt, fig, path)
