"""Leave-year-out cross-validation: fit once per held-out year, score that year.

For each calendar year with valid observations (the model's dates, `pdaframe.io.cf_time`),
`leave_year_out` fits the problem without that year's observations (every stream) with the
method given, and scores the held-out observations with the fit:

* ``rmse``: of the predictive mean (the mean model equivalent over the draws; the estimate
  itself when the method gives none) against the held-out values, all streams together and
  per stream (`pdaframe.analysis.scores.scores`);
* ``lppd``: the log pointwise predictive density ``sum_i log mean_s p(y_i | theta_s)`` of the
  held-out observations (normalised, `pdaframe.Problem.log_likelihood`), the quantity
  PSIS-LOO estimates, per year (``lppd_per_obs``: divided by their number);
* ``crps``: the mean CRPS of each observation's predictive distribution (equivalent plus
  observation error, `pdaframe.analysis.leave_out.crps_ensemble`).

The draws are a sampler's kept draws (evenly thinned to ``n_draws``) or the Laplace draws
of an optimiser with a posterior covariance (`pdaframe.Result.posterior_sample`); with
neither (DE, GA without ``posterior``) the estimate alone (``lppd`` is then the plug-in
density, CRPS that of the observation error around it). A year asked for without
observations is skipped with a warning; none left is a `ConfigError`. A stream whose only
valid observations fall in the held-out year is left out of that fold's fit.

Folds run one after another, each method using the executor, except the minimisers
(``lbfgsb``, ``nelder-mead``, ...: one point at a time), whose folds are spread over the
executor instead (one fold per member, so over MPI ranks; the same results on any number
of ranks). `write_cross_validation` writes the table to NetCDF atomically. From the command
line: ``pdaframe cross-validate CONFIG`` (the config's method and options).
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.special import logsumexp

from ..errors import ConfigError, DataError, ModelError
from ..observations.error_models import ExponentialCorrelation, ExponentialCovariance
from ..observations.streams import DataStream
from ..problem.single import Problem
from .leave_out import ensemble_scores, posterior_draws

log = logging.getLogger(__name__)

METRICS = ("n_test", "rmse", "lppd", "lppd_per_obs", "crps")


def observation_years(problem) -> list[np.ndarray]:
    """Per stream, the calendar year of each observation (NaN-free ints)."""
    dates = getattr(problem.model, "time", None)
    dates = None if dates is None else np.asarray(dates)
    if dates is None or dates.dtype.kind != "M":
        raise ConfigError("leave-year-out: the model has no dates (a 'time' axis of "
                          "datetime64): years cannot be told apart")
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    out = []
    for s in problem.streams:
        steps = np.arange(s.values.size) if s.times is None else np.asarray(s.times, int)
        out.append(years[steps])
    return out


def subset_stream(stream, keep) -> DataStream | None:
    """``stream`` with only the valid observations where ``keep`` (None if none is left).

    Errors are those of the kept observations: the diagonal, the rows and columns of a full
    covariance (the marginal of a Gaussian), or the same exponential correlation (the
    marginal of an exponentially correlated error on a subset of times is one too).
    """
    keep = np.asarray(keep, bool) & stream.mask
    if not keep.any():
        return None
    n, err, mask = stream.values.size, stream.error, stream.mask
    if isinstance(err, ExponentialCovariance):
        std = np.ones(n)
        std[mask] = err.std
        errors = {"std": std, "correlation": ExponentialCorrelation(err.length)}
    elif getattr(err, "_chol", None) is None:
        std = np.ones(n)
        std[mask] = err.std
        errors = {"std": std}
    else:
        cov = np.eye(n)
        cov[np.ix_(mask, mask)] = err.matrix()
        errors = {"covariance": cov}
    return DataStream(stream.name, stream.variable, np.where(keep, stream.values, np.nan),
                      times=stream.times, weight=stream.weight, operator=stream.operator,
                      units=stream.units, **errors)


def _draws(result, n_draws, seed):
    """Parameter draws of a fit (see the module docstring) and whether they are draws."""
    if "samples" in result or "posterior_covariance" in result:
        return posterior_draws(result, n_draws, seed), True
    return np.asarray(result["x"], dtype=float)[None], False


def score_fold(problem, result, n_draws=200, seed=0) -> dict:
    """Score the held-out ``problem`` (its streams: the held-out observations) under a fit.

    Returns
    -------
    dict
        ``n_test``, ``rmse``, ``lppd``, ``lppd_per_obs``, ``crps``, ``n_draws``,
        ``n_failed`` and ``streams`` (per stream ``n``, ``rmse``, ``bias``, ``crps``).
    """
    thetas, are_draws = _draws(result, n_draws, seed)
    rng = np.random.default_rng(seed + 1)
    eqs, lls = [], []
    for theta in thetas:
        try:
            ll = problem.log_likelihood(theta, pointwise=True)
            eq = problem.equivalents(theta)
        except ModelError:
            continue
        if np.all(np.isfinite(ll)):
            eqs.append(eq)
            lls.append(ll)
    if not eqs:
        raise ModelError(f"leave-year-out: every one of the {len(thetas)} runs at the "
                         f"fit's draws failed")
    lls = np.array(lls)
    lppd = float(np.sum(logsumexp(lls, axis=0) - np.log(len(lls))))
    per, overall = ensemble_scores(problem.streams, eqs, rng, 1 if are_draws else 200)
    return {"n_draws": len(thetas), "n_failed": len(thetas) - len(eqs), "streams": per,
            "n_test": overall["n"], "rmse": overall["rmse"], "lppd": lppd,
            "lppd_per_obs": lppd / overall["n"], "crps": overall["crps"]}


class _Fold:
    """Fit and score one held-out year (what the executor runs across folds; picklable)."""

    def __init__(self, problem, years, method, options, n_draws, seed, executor=None):
        self.problem, self.years, self.method = problem, years, method
        self.options, self.n_draws, self.seed = options, n_draws, seed
        self.executor = executor

    def split(self, year):
        train, test = [], []
        for s, y in zip(self.problem.streams, self.years):
            a, b = subset_stream(s, y != year), subset_stream(s, y == year)
            if a is not None:
                train.append(a)
            if b is not None:
                test.append(b)
        p = self.problem
        return (Problem(p.model, p.prior, train, fd_scheme=p.fd_scheme),
                Problem(p.model, p.prior, test, fd_scheme=p.fd_scheme))

    def __call__(self, year) -> dict:
        from ..minimise import minimise
        from ..parallel import SerialExecutor
        train, test = self.split(int(year))
        executor = self.executor if self.executor is not None else SerialExecutor()
        result = minimise(train, self.method, executor=executor, **self.options)
        score = score_fold(test, result, self.n_draws, self.seed)
        score.update(year=int(year), n_train=int(train.n_obs), x=np.asarray(result["x"]),
                     success=bool(result.get("success", False)),
                     message=str(result.get("message", "")))
        return score


def leave_year_out(problem, method="lbfgsb", years=None, executor=None, n_draws=200, seed=0,
                   **options) -> dict:
    """Leave-year-out cross-validation of ``problem`` with ``method`` (module docstring).

    Parameters
    ----------
    problem : Problem
        A single-site problem whose model has dates.
    method : str
        Any registered method (`pdaframe.minimise`).
    years : sequence of int, optional
        The years to hold out (default: every year with valid observations).
    executor : object, optional
        Spreads the folds (minimisers) or the method's members (other methods).
    n_draws : int
        Predictive draws per fold.
    seed : int
        Seeds the method (``seed`` option, unless given) and the predictive draws.
    **options
        The method's options.

    Returns
    -------
    dict
        ``folds`` (one `score_fold` dict per year, with ``year``, ``n_train``, ``x``,
        ``success``), ``mean`` (of `METRICS` over the folds; ``lppd`` summed:
        ``lppd_total``), ``method``, ``parameter_names``, ``skipped`` (years without
        observations).

    Raises
    ------
    ConfigError
        The model has no dates, the problem is not a single-site `Problem`, or no year
        asked for has observations (or only one year has: nothing left to fit).
    """
    from ..methods.contract import method_family
    from ..parallel import is_root, with_members
    from ..plugins import get_method
    if not isinstance(problem, Problem):
        raise ConfigError(f"leave-year-out: a single-site Problem is needed, got "
                          f"{type(problem).__name__}")
    per_stream = observation_years(problem)
    present = sorted({int(y) for s, ys in zip(problem.streams, per_stream)
                      for y in ys[s.mask]})
    asked = present if years is None else [int(y) for y in years]
    skipped = [y for y in asked if y not in present]
    for y in skipped:
        log.warning("leave-year-out: no observations in %d: skipped", y)
    todo = [y for y in asked if y in present]
    if not todo:
        raise ConfigError(f"leave-year-out: none of the years {asked} has observations "
                          f"(years with observations: {present})")
    if len(present) < 2:
        raise ConfigError(f"leave-year-out: all observations are in {present}: holding "
                          f"it out leaves nothing to fit")
    options = dict(options)
    options.setdefault("seed", seed)
    func = get_method(method) if isinstance(method, str) else method
    across_folds = method_family(func) == "minimiser"
    fold = _Fold(problem, per_stream, method, options, n_draws, seed,
                 None if across_folds else executor)
    if across_folds:
        results = with_members(executor, seed).map(fold, todo)
        bad = [r for r in results if not isinstance(r, dict)]
        if bad:
            raise ModelError(f"leave-year-out: {len(bad)} folds failed; first: "
                             f"{bad[0].error}")
    else:
        results = [fold(y) for y in todo]
    folds = sorted(results, key=lambda r: r["year"])
    mean = {k: float(np.mean([f[k] for f in folds])) for k in METRICS}
    mean["lppd_total"] = float(np.sum([f["lppd"] for f in folds]))
    if is_root():
        log.info("leave-year-out: %d folds", len(folds))
    return {"folds": folds, "mean": mean, "skipped": skipped,
            "method": method if isinstance(method, str) else getattr(method, "__name__", ""),
            "parameter_names": list(problem.parameter_names),
            "streams": [s.name for s in problem.streams]}


def format_cross_validation(cv) -> str:
    """A text table: one row per held-out year, then the mean."""
    lines = [f"{'year':<8}{'n_train':>9}{'n_test':>8}{'RMSE':>11}{'lppd':>12}{'lppd/n':>9}"
             f"{'CRPS':>10}"]
    for f in cv["folds"]:
        lines.append(f"{f['year']:<8}{f['n_train']:>9}{f['n_test']:>8}{f['rmse']:>11.4g}"
                     f"{f['lppd']:>12.2f}{f['lppd_per_obs']:>9.3f}{f['crps']:>10.4g}")
    m = cv["mean"]
    lines.append(f"{'mean':<8}{'':>9}{m['n_test']:>8.1f}{m['rmse']:>11.4g}{m['lppd']:>12.2f}"
                 f"{m['lppd_per_obs']:>9.3f}{m['crps']:>10.4g}")
    if cv["skipped"]:
        lines.append(f"skipped (no observations): {cv['skipped']}")
    return "\n".join(lines)


def write_cross_validation(path, cv, run_id=""):
    """Write a `leave_year_out` result to NetCDF at ``path``, atomically.

    Dimensions ``fold`` (the held-out years), ``param``, ``stream``; variables ``year``,
    ``n_train``, the `METRICS` per fold, ``estimate`` (fold, param), ``success``,
    ``stream_rmse``/``stream_crps`` (fold, stream; NaN where a stream has no held-out
    observation); the means as global attributes ``mean_<metric>``.
    """
    import netCDF4

    from ..io.atomic import atomic_path
    folds, names, streams = cv["folds"], cv["parameter_names"], cv["streams"]
    if not folds:
        raise DataError("leave-year-out: no folds to write")
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.title = "leave-year-out cross-validation"
            ds.method, ds.run_id = str(cv["method"]), str(run_id)
            ds.skipped_years = np.array(cv["skipped"] or [], dtype=np.int64)
            for k, v in cv["mean"].items():
                setattr(ds, f"mean_{k}", float(v))
            ds.createDimension("fold", len(folds))
            ds.createDimension("param", len(names))
            ds.createDimension("stream", len(streams))
            for dim, values in (("param", names), ("stream", streams)):
                var = ds.createVariable(dim, str, (dim,))
                for i, v in enumerate(values):
                    var[i] = v
            ds.createVariable("year", "i8", ("fold",))[:] = [f["year"] for f in folds]
            ds.createVariable("n_train", "i8", ("fold",))[:] = [f["n_train"] for f in folds]
            ds.createVariable("success", "i1", ("fold",))[:] = [int(f["success"]) for f in folds]
            for k in METRICS:
                ds.createVariable(k, "f8", ("fold",))[:] = [f[k] for f in folds]
            ds.createVariable("estimate", "f8", ("fold", "param"))[:] = \
                np.array([f["x"] for f in folds])
            for k in ("rmse", "crps"):
                ds.createVariable(f"stream_{k}", "f8", ("fold", "stream"))[:] = np.array(
                    [[f["streams"].get(s, {}).get(k, np.nan) for s in streams] for f in folds])
    return path


def cross_validate_config(config, years=None, n_draws=200, output_dir=None, show=None,
                          executor=None) -> dict:
    """`pdaframe cross-validate`: `leave_year_out` of a config with its method, options,
    start and seed; writes ``<output directory>/cross_validation.nc`` and ``show``s the
    table and the path (MPI rank 0 only). Returns the `leave_year_out` dict."""
    from pathlib import Path

    from ..config.loader import load_config
    from ..parallel import get_executor, is_root
    from ..plugins import get_method
    problem, settings = load_config(config, output_dir=output_dir)
    options = dict(settings.method_options)
    options.pop("checkpoint_every", None)
    if settings.x0 is not None and getattr(get_method(settings.method), "uses_x0", True):
        options["x0"] = settings.x0
    cv = leave_year_out(problem, settings.method, years=years, n_draws=n_draws,
                        seed=settings.seed, executor=executor or get_executor(), **options)
    if is_root():
        path = Path(settings.output_dir) / "cross_validation.nc"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_cross_validation(path, cv)
        if show is not None:
            show(format_cross_validation(cv))
            show(f"wrote {path}")
    return cv
