"""Predictions: the calibrated model run forward with its parameter uncertainty on other
periods, other drivers or scenarios (``pdaframe predict RESULT``, ``pdaframe.predict``, the
``[predict]`` table run by ``pdaframe run``).

- `pdaframe.prediction.spec`: the ``[predict]`` table;
- `pdaframe.prediction.stored`: a finished run read back (``result.nc``, ``samples.nc``,
  ``ensemble.nc``; no pickle) and its config found and checked;
- `pdaframe.prediction.draws`: posterior and prior draws of θ;
- `pdaframe.prediction.scenario`: driver changes and the driver files they give;
- `pdaframe.prediction.runner`: the runs and the credible / predictive bands;
- `pdaframe.prediction.output`: the NetCDF files and plots.
- `pdaframe.prediction.discrepancy`: model, discrepancy and observation error kept apart at
  the observation times of a stream with a model discrepancy.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ConfigError
from .scenario import Scenario, parse_cli_scenario

__all__ = ["predict", "predict_after_run"]
log = logging.getLogger(__name__)


def predict(result, drivers=None, scenarios=None, members=None, output=None, seed=None,
            config=None, outputs=None, executor=None, progress=False, write=True,
            plots=True):
    """Predict from a finished run: ``pdaframe.predict("results/run")``.

    Reads ``result.nc`` (with ``samples.nc`` or ``ensemble.nc`` beside it) of the run's
    folder, finds its config (`pdaframe.prediction.stored.find_config`: unchanged since the
    run, by its sha256), rebuilds the problem and runs prior and posterior draws through the
    model with ``drivers``, the config's ``[predict]`` table and ``scenarios``.

    Parameters
    ----------
    result : path
        The run's output folder, or its ``result.nc``.
    drivers : path, optional
        A driver file (`pdaframe.models.driver_file`) for the model's ``drivers_file``
        option (the config's drivers options ``site``, ``start``, ``end``, ``format`` are
        dropped; ``[predict.model]`` may set them again).
    scenarios : sequence of str or Scenario, optional
        Scenario names of ``[predict.scenarios]`` or ``"NAME:COLUMN=EXPR,..."``; default:
        the config's.
    members, seed, outputs
        Override ``[predict]`` (draws per kind, seed, model outputs).
    output : path, optional
        Folder of the files (default: the run's folder).
    config : path, optional
        The run's config, when it is not found from the stored name.
    executor : object with ``map``, optional
        Spreads the members (`pdaframe.parallel.get_executor`).
    progress : bool
        A progress bar over the members.
    write, plots : bool
        Write the files (MPI: rank 0 only), and the PNGs.

    Returns
    -------
    Prediction
        With ``paths`` (`pdaframe.prediction.output.write_prediction`).

    Raises
    ------
    DataError
        No ``result.nc`` in the folder, unreadable files, driver files with gaps, ...
    ConfigError
        The config changed since the run, the rebuilt problem's parameters or the model's
        plugin version differ from the result's, no posterior in the result, bad scenarios.
    """
    from ..config.loader import load_config
    from ..io.output import claim_for_run, new_run_id
    from .runner import run_predictions
    from .stored import RESULT, find_config, read_stored

    run = read_stored(result)
    path = find_config(run, config)
    problem, settings = load_config(path, run_model=False)
    _check_match(run, problem, settings, run.folder / RESULT)
    chosen = None if scenarios is None else [
        s if isinstance(s, Scenario) else parse_cli_scenario(s, settings.predict.scenarios)
        for s in scenarios]
    folder = Path(output) if output is not None else run.folder
    run_id = new_run_id()
    with claim_for_run(folder, run_id, write, executor):
        prediction = run_predictions(
            problem, settings.predict, run.result(problem.prior.transform), drivers=drivers,
            scenarios=chosen, members=members, seed=_seed(seed, settings), outputs=outputs,
            executor=executor, progress=progress, source_run_id=run.run_id)
        if write:
            _write(folder, prediction, settings, run_id, run.method, plots)
    return prediction


def predict_after_run(problem, settings, result, folder, run_id, executor=None,
                      progress=False, write=True) -> dict:
    """The ``[predict]`` table of a config, run by ``pdaframe run`` after the calibration
    (in its claimed output folder); ``{}`` when the config has no ``[predict]`` table, and
    (with a warning saying how to get one) when the result has no posterior.

    Raises
    ------
    ConfigError, DataError, ModelError
        As `predict`.
    """
    spec = getattr(settings, "predict", None)
    if spec is None or not spec.enabled:
        return {}
    from .draws import NO_POSTERIOR, has_posterior
    from .runner import run_predictions
    if not has_posterior(result):        # the calibration's files stay; say how to predict
        log.warning("[predict] skipped: the result of %s %s", result.get("method", "this run"),
                    NO_POSTERIOR)
        return {}
    prediction = run_predictions(problem, spec, result, seed=_seed(None, settings),
                                 executor=executor, progress=progress, source_run_id=run_id)
    if not write:
        return {}
    return _write(Path(folder), prediction, settings, run_id, result.get("method", ""),
                  settings.plots)


def _seed(seed, settings) -> int:
    """``seed``, else ``[predict] seed``, else the config's seed."""
    return next(s for s in (seed, settings.predict.seed, settings.seed) if s is not None)


def _write(folder, prediction, settings, run_id, method, plots):
    from ..io.output import public_config_text
    from ..plugins import get_plugins
    from .output import write_prediction
    prov = {"title": settings.title, "method": method, "run_id": run_id,
            "config_text": public_config_text(settings.text, settings.hide),
            "plugin_versions": {n: v for n, (_, v) in get_plugins().dists.items()},
            "data_files": settings.data_files}
    paths = write_prediction(folder, prediction, prov, plots)
    report = folder / "report.html"
    if report.is_file():        # the calibration's report (`pdaframe.report`) gains a section
        from ..report import add_section
        figures = [paths[k] for k in sorted(paths) if k.endswith("_plot")]
        paths["report"] = add_section(report, f"Predictions (run {run_id})",
                                      prediction.summary(), figures)
    return paths


def _check_match(run, problem, settings, where):
    """The rebuilt problem against the stored result: parameters, model plugin version."""
    from ..plugins import get_plugins, registry
    if hasattr(problem, "site_problems"):
        raise ConfigError(f"{where}: predictions of multi-site runs are not supported")
    names = list(problem.parameter_names)
    if names != list(run.names):
        raise ConfigError(f"{where}: the result's parameters {list(run.names)} do not match "
                          f"those of its config's problem {names}: a predict asked of a "
                          f"result whose model or parameters don't match")
    plugin = registry("model").sources.get(settings.model_name, ("pdaframe",))[0]
    now = get_plugins().dists.get(plugin, (plugin, "?"))[1]
    then = run.package_versions.get(plugin)
    if then is not None and then != now:
        raise ConfigError(f"{where}: model {settings.model_name!r} comes from plugin "
                          f"{plugin!r} {now}, the run used {then}: a predict asked of a "
                          f"result whose model doesn't match; rerun the calibration")
