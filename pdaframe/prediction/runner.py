"""Run the calibrated model forward: prior and posterior draws of θ through the config's
model, rebuilt with other drivers, option overrides or a scenario's driver changes.

`run_predictions` does the work for a problem, its `PredictSpec` and a result held in
memory (``pdaframe run`` after a calibration); `pdaframe.prediction.predict` reads a
finished run back from its folder first. Every rank of an MPI run draws the same θ (keyed by
the seed), runs its share of the members (`pdaframe.parallel`) and gets every result, so the
prediction is the same on any number of ranks; only the writing rank writes.

Seeds: the posterior and prior draws come from ``SeedSequence(seed, spawn_key=(DRAWS, 0|1))``,
the observation noise of the predictive bands from ``SeedSequence(seed, spawn_key=(NOISE, k,
0|1))`` (output ``k``); every scenario uses the same draws and noise (common random numbers,
so scenario differences are not sampling noise).
"""
from __future__ import annotations

import inspect
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError
from ..interfaces import selects_outputs
from ..io.cf_time import model_dates
from ..models.driver_file import COLUMNS
from ..models.fluxnet_drivers import read_site_drivers
from ..parallel import Failed, SerialExecutor
from ..parallel.base import MemberTask
from .draws import posterior_draws, prior_draws, require_posterior
from .scenario import BASELINE, Scenario, write_driver_file
from .spec import check_members, check_quantiles

DRAWS, NOISE = 2 ** 31 + 1, 2 ** 31 + 2       # spawn keys (members use their index)
CHUNK = 16                                     # members per executor call (progress bar)
MIN_RUNS = 10
#: model options that choose the drivers: dropped when predict gives a drivers file
DRIVER_OPTIONS = ("site", "drivers", "drivers_file", "start", "end", "format")
LABELS = ("posterior", "prior")


@dataclass
class ScenarioPrediction:
    """The predictions of one scenario.

    Attributes
    ----------
    scenario : Scenario
    time : ndarray
        Dates (datetime64) when ``dated``, else the 0-based model steps.
    dated : bool
    estimate : dict
        ``{output: (n_time,)}``: the run at the result's estimate ``x``.
    runs : dict
        ``{label: {output: (n_ok, n_time)}}`` for ``label`` in ``posterior``, ``prior``.
    credible, predictive : dict
        ``{label: {output: (n_quantile, n_time)}}``: quantiles of the runs (parameter
        uncertainty only), and of the runs plus observation noise (outputs a stream
        observes only).
    kept : dict
        ``{label: indices of the draws that ran}``.
    failures : dict
        ``{label: (count, first failure message or None)}``.
    drivers : DriverTable or None
        The drivers given to the model (a scenario's, changed), to keep as a file.
    options : dict
        The model options used.
    """

    scenario: Scenario
    time: np.ndarray
    dated: bool
    estimate: dict
    runs: dict = field(default_factory=dict)
    credible: dict = field(default_factory=dict)
    predictive: dict = field(default_factory=dict)
    kept: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    drivers: object = None
    options: dict = field(default_factory=dict)


@dataclass
class Prediction:
    """Everything `run_predictions` computed, and the files written (``paths``)."""

    scenarios: list
    thetas: dict
    weights: dict
    outputs: list
    noise: dict
    quantiles: tuple
    members: int
    seed: int
    parameter_names: list
    source_run_id: str = ""
    paths: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line per scenario and output: the posterior median's mean and the band
        widths, plus failed members."""
        q = self.quantiles
        lo, hi = 0, len(q) - 1
        lines = [f"predict: {len(self.thetas['posterior'])} posterior" +
                 (f" and {len(self.thetas['prior'])} prior" if "prior" in self.thetas else "")
                 + f" draws (seed {self.seed}); bands {q[lo]:g}-{q[hi]:g}"]
        for sp in self.scenarios:
            lines.append(f"  scenario {sp.scenario.name!r} ({sp.scenario.describe()}): "
                         f"{sp.time.size} steps" + (f", {sp.time[0]} .. {sp.time[-1]}"
                                                    if sp.dated else ""))
            for o in self.outputs:
                cred = sp.credible["posterior"][o]
                width = np.mean(cred[hi] - cred[lo])
                pred = sp.predictive.get("posterior", {}).get(o)
                lines.append(f"    {o}: mean of the estimate run {np.mean(sp.estimate[o]):.6g}; "
                             f"mean credible width {width:.4g}" +
                             (f", predictive width {np.mean(pred[hi] - pred[lo]):.4g}"
                              if pred is not None else ", no predictive band (no stream "
                                                       "observes it)"))
            for label, (n, first) in sp.failures.items():
                if n:
                    lines.append(f"    {n} {label} members failed; first: {first}")
        return "\n".join(lines)


def run_predictions(problem, spec, result, *, drivers=None, scenarios=None, members=None,
                    seed=None, outputs=None, quantiles=None, executor=None, progress=True,
                    source_run_id="", prior=None, baseline=None) -> Prediction:
    """Predict with ``problem``'s model, rebuilt as ``spec`` says, from ``result``'s draws.

    Parameters
    ----------
    problem : Problem
        The calibrated problem (prior, streams, parameter layout, model).
    spec : PredictSpec
        The config's ``[predict]`` table (`pdaframe.prediction.spec`).
    result : Result
        A kind of `pdaframe.result` with a posterior (samples, members, covariance).
    drivers : path, optional
        A driver file replacing the config's drivers (``--drivers``; default ``spec``'s).
    scenarios : sequence of Scenario, optional
        Default: ``spec``'s.
    members, seed, outputs, quantiles, prior, baseline
        Override ``spec``'s (``seed`` default: ``spec.seed``, else 0; the callers pass the
        config's seed).
    executor : object with ``map``, optional
        Spreads the members (default serial).
    progress : bool
        A tqdm bar over the members.

    Raises
    ------
    ConfigError
        No posterior in ``result``, an unknown output, a scenario for a model without a
        ``drivers_file`` option or without a driver file, bad members/quantiles: all before
        the first member runs.
    DataError
        A driver file that cannot be read (gaps, ...), a scenario column it lacks.
    ModelError
        Fewer than 10 members of a kind ran.
    """
    members = check_members(spec.members if members is None else members, "members")
    quantiles = check_quantiles(list(spec.quantiles if quantiles is None else quantiles))
    seed = int(next(s for s in (seed, spec.seed, 0) if s is not None))
    prior = spec.prior if prior is None else prior
    baseline = spec.baseline if baseline is None else baseline
    executor = executor or SerialExecutor()
    chosen = [Scenario(BASELINE)] * bool(baseline) + spec.selected(scenarios)
    if not chosen:
        raise ConfigError("predict: nothing to predict (no baseline and no scenario)")

    thetas, weights = {}, {}
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DRAWS, 0)))
    thetas["posterior"], weights["posterior"] = posterior_draws(result, members, rng)
    require_posterior(thetas["posterior"], f"the result of {result.get('method', 'this run')}")
    if prior:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DRAWS, 1)))
        thetas["prior"], weights["prior"] = prior_draws(problem.prior, members, rng), None

    drivers = spec.drivers_file if drivers is None else Path(drivers)
    prepared = [_prepare(spec, drivers, s) for s in chosen]     # checks all before any run
    outputs = list(outputs or spec.outputs or dict.fromkeys(s.variable for s in problem.streams))
    noise = observation_noise(problem, outputs)
    out = []
    with tempfile.TemporaryDirectory(prefix="pdaframe-predict-") as tmp:
        models = [_build(problem, spec, options, table, Path(tmp), s)
                  for s, options, table in prepared]
        estimates = [_estimate(m, problem, np.asarray(result["x"], dtype=float), outputs, s)
                     for m, (s, _, _) in zip(models, prepared)]
        for model, est, (s, options, table) in zip(models, estimates, prepared):
            time, dated = _time_axis(model, est)
            sp = ScenarioPrediction(s, time, dated, est, drivers=table, options=options)
            func = _MemberRun(model, problem.n_model, outputs, time.size)
            for label, th in thetas.items():
                results = _run_members(func, th, executor, seed, progress,
                                       f"predict {s.name} {label}")
                _collect(sp, label, results, weights[label], outputs, noise, quantiles, seed)
            out.append(sp)
    return Prediction(out, thetas, weights, outputs, noise, quantiles, members, seed,
                      list(problem.parameter_names), source_run_id)


def observation_noise(problem, outputs) -> dict:
    """``{output: (σ, stream name)}`` of the outputs a stream observes (its ``variable``; the
    first such stream): σ² is the mean of the stream's error variances over its valid
    observations (the stream ``weight`` left out: it tunes the cost, not the data)."""
    noise = {}
    for s in problem.streams:
        std = np.asarray(getattr(s.error, "std", ()), dtype=float).reshape(-1)
        if s.variable in outputs and s.variable not in noise and std.size:
            sigma = std[0] if np.all(std == std[0]) else np.sqrt(np.mean(std ** 2))
            noise[s.variable] = (float(sigma), s.name)
    return noise


def model_factory(name):
    """The registered model factory ``name``."""
    from ..plugins import registry
    return registry("model").get(name)


def takes_drivers_file(factory) -> bool:
    """Whether the model factory has a ``drivers_file`` option."""
    try:
        return "drivers_file" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _prepare(spec, drivers, scenario):
    """``(scenario, model options, changed DriverTable or None)``, checked without a run."""
    factory = model_factory(spec.model_name)
    options = dict(spec.model_options)
    if drivers is not None:
        if not takes_drivers_file(factory):
            raise ConfigError(f"predict: model {spec.model_name!r} has no drivers_file option, "
                              f"so it cannot take the drivers {drivers}")
        for key in DRIVER_OPTIONS:
            options.pop(key, None)
        options["drivers_file"] = str(drivers)
    options.update(spec.model)
    if not scenario.changes:
        return scenario, options, None
    if not takes_drivers_file(factory):
        raise ConfigError(f"predict: scenario {scenario.name!r} changes drivers, but model "
                          f"{spec.model_name!r} has no drivers_file option")
    path = options.get("drivers_file")
    if path is None or "site" in options:
        raise ConfigError(f"predict: scenario {scenario.name!r} needs a driver file in the "
                          f"documented layout (pdaframe.models.driver_file) or a FLUXNET file: "
                          f"give --drivers FILE or [predict] drivers_file (the config's model reads "
                          f"{'a bundled site' if 'site' in options else 'no drivers_file'})")
    table = read_site_drivers(path, format=options.get("format"), required=(),
                              optional=tuple(COLUMNS), latitude=options.get("latitude"))
    return scenario, options, scenario.apply(table)


def _build(problem, spec, options, table, tmp, scenario):
    """The model of one scenario, with the problem's fixed parameters."""
    from ..problem.fixed import FixedParameters
    options = dict(options)
    if table is not None:       # every rank reads the same changed file
        path = write_driver_file(tmp / f"drivers_{scenario.name}.csv", table)
        options["drivers_file"] = str(path)
        options.pop("format", None)
    try:
        model = model_factory(spec.model_name)(**options)
    except TypeError as err:            # an override the factory does not take
        raise ConfigError(f"predict: model {spec.model_name!r}: {err}") from None
    inner = problem.model
    if isinstance(inner, FixedParameters):
        model = FixedParameters(model, inner.parameter_names, inner.values)
    if list(model.parameter_names) != list(inner.parameter_names):
        raise ConfigError(f"predict: the rebuilt model has parameters "
                          f"{list(model.parameter_names)}, the calibrated one "
                          f"{list(inner.parameter_names)}")
    return model


def _run_model(model, theta, outputs):
    if selects_outputs(model.run):
        return model.run(theta, outputs=list(outputs))
    return model.run(theta)


def _estimate(model, problem, x, outputs, scenario) -> dict:
    """The run at ``x``: checks the outputs (present, one value per step) before members."""
    try:
        run = _run_model(model, x[:problem.n_model].copy(), outputs)
    except ModelError as err:
        raise ModelError(f"predict, scenario {scenario.name!r}: the model fails at the "
                         f"result's estimate: {err}") from None
    missing = [o for o in outputs if o not in run]
    if missing:
        raise ConfigError(f"predict: outputs {missing} are not outputs of the model (it "
                          f"gives {sorted(run)}); set [predict] outputs")
    est = {o: np.asarray(run[o], dtype=float) for o in outputs}
    sizes = {o: v.shape for o, v in est.items()}
    if any(len(s) != 1 for s in sizes.values()) or len(set(sizes.values())) != 1:
        raise ConfigError(f"predict: outputs must be time series of one length, got shapes "
                          f"{sizes}; choose them with [predict] outputs")
    return est


def _time_axis(model, estimate):
    n = next(iter(estimate.values())).size
    dates = model_dates(model)
    if dates is not None and dates.size == n:
        return dates, True
    return np.arange(n), False


class _MemberRun:
    """One member: the model's outputs at θ (model part), stacked ``(n_output, n_time)``."""

    def __init__(self, model, n_model, outputs, n_time):
        self.model, self.n_model, self.outputs, self.n_time = model, n_model, outputs, n_time

    def __call__(self, theta):
        run = _run_model(self.model, np.array(theta[:self.n_model], dtype=float), self.outputs)
        out = np.array([np.asarray(run[o], dtype=float) for o in self.outputs])
        if out.shape != (len(self.outputs), self.n_time):
            raise ModelError(f"outputs of shape {out.shape}, expected "
                             f"{(len(self.outputs), self.n_time)}")
        return out


def _run_members(func, thetas, executor, seed, progress, desc) -> list:
    """``func`` of every θ through ``executor``, in chunks (member ``i`` is ``i``)."""
    from tqdm.auto import tqdm
    task, results = MemberTask(func, seed), []
    with tqdm(total=len(thetas), disable=None if progress else True, desc=desc,
              unit="member", leave=False) as bar:
        for start in range(0, len(thetas), CHUNK):
            pairs = [(i, thetas[i]) for i in range(start, min(start + CHUNK, len(thetas)))]
            results += list(executor.map(task, pairs))
            bar.update(len(pairs))
    return results


def _collect(sp, label, results, weights, outputs, noise, quantiles, seed):
    """Runs, credible and predictive quantiles of ``label``'s members into ``sp``."""
    kept = np.array([i for i, r in enumerate(results) if not isinstance(r, Failed)], dtype=int)
    failed = [r for r in results if isinstance(r, Failed)]
    sp.failures[label] = (len(failed), failed[0].error if failed else None)
    if kept.size < MIN_RUNS:
        raise ModelError(f"predict, scenario {sp.scenario.name!r}: only {kept.size} of "
                         f"{len(results)} {label} members ran (at least {MIN_RUNS} needed); "
                         f"first failure: {failed[0].error if failed else '-'}")
    stack = np.array([results[i] for i in kept])          # (member, output, time)
    w = None if weights is None else np.asarray(weights, dtype=float)[kept]
    sp.kept[label] = kept
    sp.runs[label], sp.credible[label], sp.predictive[label] = {}, {}, {}
    for k, o in enumerate(outputs):
        runs = stack[:, k, :]
        sp.runs[label][o] = runs
        sp.credible[label][o] = _quantiles(runs, w, quantiles)
        if o in noise:
            rng = np.random.default_rng(np.random.SeedSequence(
                seed, spawn_key=(NOISE, k, LABELS.index(label))))
            eps = rng.standard_normal((len(results), runs.shape[1]))[kept]
            sp.predictive[label][o] = _quantiles(runs + noise[o][0] * eps, w, quantiles)


def _quantiles(values, weights, quantiles) -> np.ndarray:
    if weights is None:
        return np.quantile(values, quantiles, axis=0)
    from ..methods.importance import weighted_quantile
    return weighted_quantile(values, weights, quantiles)


def keep_drivers(sp, folder):
    """Write ``sp``'s changed drivers as ``drivers_<scenario>.csv`` in ``folder`` (None for
    the baseline); the prediction's provenance."""
    if sp.drivers is None:
        return None
    note = (f"drivers of scenario {sp.scenario.name!r} ({sp.scenario.describe()}), written "
            f"by pdaframe predict from {Path(sp.drivers.source).name}")
    return write_driver_file(Path(folder) / f"drivers_{sp.scenario.name}.csv", sp.drivers,
                             note)
