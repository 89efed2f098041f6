"""Run a configured problem end to end: minimise, report, write NetCDF and plots."""
from __future__ import annotations

import inspect
import logging
import tomllib
from pathlib import Path

import numpy as np

from .io.checkpoint import FILENAME as CHECKPOINT_FILE
from .io.checkpoint import Checkpoint, config_hash
from .analysis.diagnostics import diagnose, format_diagnostics
from .errors import ConfigError
from .analysis.scores import evaluate, format_scores
from .io.netcdf import write_result
from .io.output import claim_for_run, new_run_id, public_config_text, write_or_rescue
from .io.provenance import data_files
from .methods.contract import takes_checkpoint
from .minimise import minimise
from .problem.multisite import MultiSiteProblem
from .parallel import SerialExecutor
from .io.pareto import front_summary
from .prediction.discrepancy import decompose, discrepancy_streams
from .plots import plot_front, plot_parameters, plot_streams, posterior_band
from .plugins import get_method, get_plugins
from .report import write_report
from .report.figures import plot_correlation
from .result import AnalysisResult, SampleResult, as_kind

log = logging.getLogger(__name__)


def summary_table(result, problem, truth=None) -> str:
    """Truth / background / analysis / posterior σ per parameter, as aligned text.

    Dispatches on the result's kind (`pdaframe.result`): an `AnalysisResult` gives its own
    summary; the kinds with an estimate the table below. Multi-site problems list every
    parameter (site-specific copies as ``name@site``) and add a line per site with its
    observation count and cost at the analysis. A `SampleResult` adds R-hat and bulk/tail
    ESS columns. A stepwise result adds a line per step (with the parameters it estimates
    when not all);
    ``result["diagnostics"]`` (`pdaframe.analysis.diagnostics`) adds the χ² check, the parameters at a bound and the per-stream residual statistics. A method
    that gives no posterior (DE, GA without ``posterior = true``) shows σ as "-" with a
    footnote saying how to get one. Failed ensemble members add the `failed_members` line.
    """
    result = as_kind(result)
    if isinstance(result, AnalysisResult):     # sensitivity analysis, history matching
        return "\n".join(filter(None, [result.summary(), failed_members(result)]))
    names = list(result["parameter_names"])
    x0 = np.asarray(result.get("x0", problem.prior.mean))
    post = result.get("posterior_std", ["-"] * len(names))      # "-": no posterior
    width = max(9, *(len(n) for n in names))
    cols = ["truth"] if truth is not None else []
    cols += ["background", "analysis", "post. σ"]
    chains = [k for k in ("rhat", "ess_bulk", "ess_tail") if k in result] \
        if isinstance(result, SampleResult) else []
    cols += [{"rhat": "R-hat", "ess_bulk": "ESS bulk", "ess_tail": "ESS tail"}[k]
             for k in chains]
    lines = [f"{'parameter':<{width}}" + "".join(f"{c:>13}" for c in cols)]
    for i, n in enumerate(names):
        vals = ([truth[i]] if truth is not None else []) + [x0[i], result["x"][i], post[i]]
        vals += [np.ravel(result[k])[i] for k in chains]
        lines.append(f"{n:<{width}}" + "".join(f"{v:>13}" if isinstance(v, str) else
                                               f"{v:>13.5g}" for v in vals))
    lines.append(f"J: {result['history']['cost'][0]:.6g} -> {result['fun']:.6g} "
                 f"({problem.n_obs} observations; 2J/m = {2 * result['fun'] / problem.n_obs:.3g})"
                 f"; {result['nit']} iterations, {result['nfev']} model runs; "
                 f"{result['message']}" +
                 (f"; gradient: {result['gradient']}" if "gradient" in result else ""))
    if "posterior_std" not in result:
        lines.append(f"post. σ -: {result.get('method', 'this method')} gives no posterior "
                     f"(an optimiser); ask for the Gauss–Newton covariance at the optimum "
                     f"with option posterior = true (minimisers, de, ga) or use a sampler "
                     f"(adaptive-metropolis, dream-zs, emcee)")
    if front_summary(result):                  # nsga2: front size, hypervolume, knee
        lines.append(front_summary(result))
    if isinstance(problem, MultiSiteProblem):
        terms = result.get("cost_terms", {})
        for site, site_problem in zip(problem.site_names, problem.site_problems):
            m = site_problem.n_obs
            jo = sum(terms.get(s.name, np.nan) for s in site_problem.streams)
            lines.append(f"  site {site}: {m} observations" +
                         (f"; J_o = {jo:.6g} (2J_o/m = {2 * jo / m:.3g})" if terms else ""))
    for k, step in enumerate(result.get("steps", ())):
        active = step.get("parameters", result["parameter_names"])
        lines.append(f"  step {k} ({', '.join(step.get('streams', ()))}): J_step = "
                     f"{step['fun']:.6g}, {step['nit']} iterations, {step['nfev']} model runs"
                     + (f"; estimates {', '.join(active)}"
                        if len(active) < len(result["parameter_names"]) else ""))
    if "diagnostics" in result:
        lines += ["", format_diagnostics(result["diagnostics"])]
    if "evaluation" in result:
        lines += ["", format_scores(result["evaluation"])]
    if failed_members(result):
        lines.append(failed_members(result))
    return "\n".join(lines)


def failed_members(result) -> str | None:
    """``"5 of 19 members failed; first failure (member 3): <reason>"``, None if none failed.

    ``nfev`` counts every run of the method; ``first_failure`` is set by the ensemble
    drivers (`pdaframe.methods.ensemble.drive`, emcee).
    """
    n = int(result.get("n_failed", 0) or 0)
    if not n:
        return None
    text = f"{n} of {result.get('nfev', '?')} members failed"
    who, _, why = str(result.get("first_failure") or "").partition(": ")
    return text + (f"; first failure ({who}): {why}" if why else "")


def run_problem(problem, settings, output_dir=None, progress=True, executor=None, write=True,
                resume=False):
    """Minimise a problem as its config says and write its results.

    ``run_problem(*pdaframe.load_config(path))`` runs a config as ``pdaframe run`` does.

    Parameters
    ----------
    problem : Problem
        The problem of `pdaframe.load_config`.
    settings : RunSettings
        Its run settings (`pdaframe.config.settings.RunSettings`, also of `load_config`):
        method and options, start, output folder, checkpoints, memory limit.
    output_dir : path, optional
        Overrides the config's ``[output] directory``.
    progress : bool
        Show a progress bar (tqdm) of iterations and cost; with the total (and so an ETA)
        when the method reports it (the MCMC samplers: burn-in plus draws).
    executor : object, optional
        Evaluates ensemble members (see `pdaframe.parallel`). For a multi-site problem and
        a method without members (the minimisers), it evaluates the sites instead.
    write : bool
        Write the NetCDF file and plots (under MPI only rank 0 does; every rank computes).
    resume : bool
        Continue an ask/tell method, a scipy minimiser or emcee from ``<output dir>/checkpoint.npz``
        if it exists (`pdaframe.io.checkpoint`: loading it runs no code; a checkpoint of other
        settings, comments and layout aside, is refused).

    Checkpoints: the method option ``checkpoint_every = N`` (or, when it is absent, the
    config's ``[output] checkpoint_every``) writes the ask/tell state to
    ``<output dir>/checkpoint.npz`` every N rounds (0 or unset: never, except that
    ``resume`` implies 1). The scipy minimisers (``lbfgsb``, ``lbfgsb-fd``,
    ``nelder-mead``) checkpoint their iterate and history every N iterations; a resumed
    minimisation restarts scipy from the checkpointed iterate, so it reaches the same
    optimum within tolerance but not bit for bit (`pdaframe.methods.scipy_minimisers`).
    DE and emcee checkpoint every N generations / steps and resume bit for bit (DE by
    replaying scipy up to the checkpoint without model runs); history matching checkpoints
    after every wave, CES after every batch of real runs (replayed on resume); other
    methods (sensitivity analyses: one batch; any method without a ``checkpoint`` argument,
    `pdaframe.methods.contract.takes_checkpoint`) run without it, with a warning.

    Returns
    -------
    result : Result
    paths : dict
        ``{"netcdf": Path, "streams_plot": Path, "parameters_plot": Path}`` (plots if
        enabled), plus ``"samples"`` (MCMC chains, ``samples.nc``) or ``"ensemble"``
        (weighted samples and member ensembles, ``ensemble.nc``; `pdaframe.io.ensembles`).
        A config with a ``[predict]`` table adds its prediction files
        (`pdaframe.prediction`: ``"predict_<scenario>"``, ``"predict_<scenario>_plot"``,
        ``"drivers_<scenario>"``).
        Sensitivity analyses give ``"netcdf"`` (``sensitivity.nc``), ``"shortlist"`` and
        ``"sensitivity_plot"``; history matching ``"netcdf"`` (``history_matching.nc``).
        Every run adds ``"report"`` (``report.html``, `pdaframe.report`; not with
        ``[output] report = false``) and, with plots, samplers ``"trace_plot"`` and
        ``"corner_plot"``, ensembles ``"members_plot"``, every estimate with a posterior
        covariance ``"correlation_plot"`` (`pdaframe.analysis.identifiability`).

    Output folder (`pdaframe.io.output`): with ``write``, the folder is made, checked and
    locked before the first model run (`OutputError` if another run holds it), temporary
    files of killed runs are removed, and every file written carries the same ``run_id``
    attribute. A failed write (disk full, ...) saves the results in a temporary folder and
    raises an `OutputError` saying where.
    """
    out = Path(output_dir) if output_dir is not None else settings.output_dir
    run_id = new_run_id()
    with claim_for_run(out, run_id, write, executor):
        result, paths = _run(problem, settings, out, run_id, progress, executor, write, resume)
        paths.update(_predict(problem, settings, result, out, run_id, executor, progress,
                              write))
        return result, paths


def _predict(problem, cfg, result, out, run_id, executor, progress, write) -> dict:
    """The config's ``[predict]`` table, run after the calibration into its output folder
    (`pdaframe.prediction.predict_after_run`; nothing without the table)."""
    if isinstance(result, AnalysisResult) or getattr(cfg, "predict", None) is None:
        return {}
    from .prediction import predict_after_run
    return predict_after_run(problem, cfg, result, out, run_id, executor, progress, write)


def _run(problem, cfg, out, run_id, progress, executor, write, resume):
    """`run_problem` (``cfg``: its settings) in its claimed output folder ``out``."""
    from tqdm.auto import tqdm

    multisite = isinstance(problem, MultiSiteProblem)
    if multisite:
        # the executor spreads either the method's members or, for methods that evaluate
        # one point at a time, the sites; never both (no collective map inside a member)
        problem.executor = SerialExecutor() if _spreads_members(cfg.method) or \
            executor is None else executor
    maxiter = cfg.method_options.get("maxiter")
    # disable=None: tqdm shows the bar only on a terminal
    with tqdm(total=maxiter, disable=None if progress else True, desc=cfg.method, unit="it",
              leave=False) as bar:
        def callback(state):
            if state.get("total") is not None:   # samplers know their length: total, ETA
                bar.total = state["total"]
                bar.update(int(state["nit"]) - bar.n)
            else:
                bar.update(1)
            # nfev of ensemble methods counts every rank's runs; nrun only this rank's
            runs = state.get("nfev", problem.nrun)
            if state.get("fun") is not None:
                bar.set_postfix(cost=f"{state.fun:.6g}", runs=runs)

        options = dict(cfg.method_options)
        options.setdefault("seed", cfg.seed)
        every = options.pop("checkpoint_every", None)
        if every is None:
            every = cfg.checkpoint_every
        cp = _checkpoint(every, out, cfg, resume)
        if cp is not None and not takes_checkpoint(_method(cfg.method)):
            log.warning("method %r cannot checkpoint (one batch of runs, or no checkpoint "
                        "argument): no checkpoint written%s",
                        cfg.method, " and nothing resumed" if resume else "")
            cp = None
        result = minimise(problem, cfg.method, x0=cfg.x0, callback=callback,
                          executor=executor, checkpoint=cp, max_memory_gb=cfg.max_memory_gb,
                          **options)
        if failed_members(result):
            log.warning("%s", failed_members(result))
    if isinstance(result, AnalysisResult):    # sensitivity, history matching: no estimate
        return result, write_or_rescue(lambda folder: _write_analysis(
            folder, result, cfg, run_id), out, result) if write else {}
    start = result.get("x0", problem.prior.mean)
    equivalents = {"prior": problem.equivalents(start),
                   "posterior": problem.equivalents(result["x"])}
    truth_eq = {s.name: s.truth_values for s in problem.streams if hasattr(s, "truth_values")}
    if truth_eq:
        equivalents["truth"] = truth_eq
    if multisite:
        result["cost_terms"] = problem.cost_terms(result["x"])
    elif discrepancy_streams(problem):      # model discrepancy at the estimate (result.nc)
        result["discrepancy"] = decompose(problem, result["x"])
    result["diagnostics"] = diagnose(problem, result,
                                     options=getattr(cfg, "identifiability", None))
    if cfg.evaluate:
        estimates = {"prior": start, "posterior": result["x"]}
        result["evaluation"] = _evaluate_sites(problem, cfg.evaluate, estimates) if multisite \
            else evaluate(problem, cfg.evaluate, estimates)
    if not write:
        return result, {}
    return result, write_or_rescue(lambda folder: _write_estimate(
        folder, result, problem, cfg, equivalents, run_id), out, result)


def _write_estimate(out, result, problem, cfg, equivalents, run_id) -> dict:
    """Files of a run with an estimate: result.nc, samples.nc or ensemble.nc, plots and
    report.html (`pdaframe.report`)."""
    prov = _provenance(cfg, run_id, result)
    paths = {"netcdf": write_result(out / "result.nc", result, problem, equivalents,
                                    truth=cfg.truth, evaluation_streams=cfg.evaluate, **prov)}
    # by kind: samples -> samples.nc (ArviZ groups); ensembles, weighted samples -> ensemble.nc
    from .io.ensembles import write_outputs
    paths.update(write_outputs(out, result, problem, seed=prov["seed"],
                               options=cfg.method_options, run_id=run_id,
                               data_files=prov["data_files"]))
    if cfg.plots:
        paths["streams_plot"] = plot_streams(problem, equivalents, out / "streams.png",
                                             band=posterior_band(problem, result))
        paths["parameters_plot"] = plot_parameters(result, problem.prior,
                                                   out / "parameters.png", truth=cfg.truth)
        if "front_objectives" in result:
            paths["front_plot"] = plot_front(result, out / "front.png")
        if "correlation" in result["diagnostics"].get("identifiability", {}):
            paths["correlation_plot"] = plot_correlation(
                result["diagnostics"]["identifiability"], out / "correlation.png")
    if cfg.report:
        paths.update(write_report(out, result, problem, summary=summary_table(
            result, problem, cfg.truth), provenance=prov, figures=paths, truth=cfg.truth,
            draw=cfg.plots))
    return paths


def _provenance(cfg, run_id, result) -> dict:
    """Provenance keywords of the NetCDF writers (`pdaframe.io.netcdf.provenance`): the seed
    the method used (``result["seed"]``, drawn when the config gave none; the config's seed
    for a method without one), the config text with its secrets hidden
    (`pdaframe.io.output.public_config_text`), the data files read (`_data_files`)."""
    return {"title": cfg.title, "seed": result.get("seed", cfg.seed), "run_id": run_id,
            "config_text": public_config_text(cfg.text, getattr(cfg, "hide", ())),
            "plugin_versions": {name: v for name, (_, v) in get_plugins().dists.items()},
            "data_files": _data_files(cfg)}


def _data_files(cfg) -> dict:
    """``{path: sha256}`` of the config and the files it names: as `load_config` recorded
    them (``cfg.data_files``), else hashed now from ``cfg.path`` and ``cfg.text`` (settings
    made in Python), else none."""
    files = getattr(cfg, "data_files", None)
    if files is not None:
        return files
    path = getattr(cfg, "path", None)
    if path is None or not Path(path).is_file():
        return {}
    try:
        data = tomllib.loads(cfg.text or "")
    except tomllib.TOMLDecodeError:
        data = {}
    return data_files(path, data)


def _write_analysis(out, result, cfg, run_id) -> dict:
    """Files of a sensitivity analysis or history matching (`pdaframe.io.analysis`) and
    report.html."""
    from .analysis.sensitivity import SensitivityResult, plot_sensitivity
    from .io.analysis import write_analysis
    prov = _provenance(cfg, run_id, result)
    paths = write_analysis(out, result, source=str(cfg.path or ""), **prov)
    if cfg.plots and isinstance(result, SensitivityResult):
        paths["sensitivity_plot"] = plot_sensitivity(result, out / "sensitivity.png")
    if cfg.report:
        paths.update(write_report(out, result, summary=summary_table(result, None),
                                  provenance=prov, figures=paths, draw=cfg.plots))
    return paths


def _checkpoint(every, out, cfg, resume):
    """The `Checkpoint` of a run, or None when checkpoints are off."""
    if every is None:
        every = 1 if resume else 0
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError(f"checkpoint_every must be an integer >= 0 (0: no "
                          f"checkpoints), got {every!r}")
    if every == 0:
        if resume:
            raise ConfigError("--resume needs checkpoints, but checkpoint_every = 0")
        return None
    return Checkpoint(Path(out) / CHECKPOINT_FILE, every=every,
                      config_hash=config_hash(cfg.text), resume=resume)


def _method(method):
    """The callable of ``method`` (a registered name or a callable)."""
    return get_method(method) if isinstance(method, str) else method


def _spreads_members(method) -> bool:
    """Whether ``method`` evaluates ensemble members through an executor (it takes an
    ``executor`` argument), rather than one point at a time."""
    func = _method(method)
    try:
        return "executor" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _evaluate_sites(problem, streams, estimates) -> dict:
    """`evaluate` for a multi-site problem: each held-out stream by its site's run."""
    out = {}
    for s in streams:
        k = problem.site(s.site)
        out.update(evaluate(problem.site_problems[k], [s], {
            label: problem.site_theta(theta, k) for label, theta in estimates.items()}))
    return out
