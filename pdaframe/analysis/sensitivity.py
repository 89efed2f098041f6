"""Global sensitivity analysis of a Problem: one-at-a-time, Morris, Sobol, eFAST.

Sampling and analysis are SALib's (Method notes §8); the model runs go through an executor
(``executor.map`` over the sample rows, order kept), so they scale over MPI. The quantity of
interest (QoI) is the cost ``J`` or a statistic of one model output, and each run computes
only the outputs the QoI reads (`QuantityOfInterest`)::

    res = sobol(problem, n=1024, seed=1)          # qoi "misfit" (J_o), "cost", "nee:mean"
    res.indices["ST"], res.conf["ST"]                         # per parameter
    res.shortlist(top=5)          # -> ["p1", "p4", ...] for ``[parameters] estimate``
    plot_sensitivity(res, "results/sobol.png")

The sampling box is the prior's bounds (every parameter needs finite bounds), or with
``box_width=k`` the prior mean ± k prior standard deviations, clipped to the bounds (the
prior's plausible range, e.g. for Gaussian priors with wide physical bounds).

Failed runs (`pdaframe.parallel.Failed`, e.g. a `ModelError`) are dropped by whole SALib
blocks where the estimator allows it (a Morris trajectory, a Sobol base row with its
``A_B`` rows), with a warning; eFAST needs its complete frequency curves, so a failed run
there is a `ModelError`.
"""
from __future__ import annotations

import inspect
import logging
import warnings

import numpy as np

from ..errors import ConfigError, ModelError, check_int
from ..parallel import Failed, with_members
from ..result import AnalysisResult
from .scores import run_outputs

log = logging.getLogger(__name__)

STATISTICS = {"mean": np.mean, "sum": np.sum, "std": np.std, "min": np.min, "max": np.max,
              "median": np.median}


class QuantityOfInterest:
    """What one run computes: ``J(theta)`` or a statistic of a model output (picklable).

    Each run asks the model only for the outputs the QoI reads (with the problem's own
    ``needed_outputs``, `pdaframe.analysis.scores.run_outputs`): ``"misfit"`` and ``"cost"``
    go through the problem's cost (the outputs its streams read), ``"<output>:<statistic>"``
    reads ``output``. A callable may read any output: it gets every output, unless it lists
    those it reads in an ``inputs`` attribute (like an observation operator's, e.g.
    ``nee_sum.inputs = ("nee",)``).

    Parameters
    ----------
    problem : Problem
    qoi : str or callable
        ``"misfit"`` (default): the observation term ``J_o`` (what the data constrain; over
        the bounds box ``J_b`` would otherwise dominate for parameters with tight priors);
        ``"misfit:<stream>"``: one stream's ``J_o``; ``"cost"``: ``J = J_o + J_b``;
        ``"<output>:<statistic>"`` with statistic one of `STATISTICS` (e.g.
        ``"nee:mean"``, NaNs ignored); or ``callable(outputs) -> float`` on the model
        outputs (a module-level function, for MPI).

    Attributes
    ----------
    inputs : tuple of str or None
        The outputs a run of ``problem.run`` is asked for (None: every output; not used by
        ``"misfit"`` and ``"cost"``).
    """

    def __init__(self, problem, qoi="misfit"):
        self.problem, self.qoi = problem, qoi
        self.output = self.statistic = self.inputs = None
        if callable(qoi):
            inputs = getattr(qoi, "inputs", None)
            self.inputs = tuple(inputs) if inputs else None
            return
        if qoi in ("cost", "misfit"):
            return
        if isinstance(qoi, str) and qoi.startswith("misfit:"):
            names = [s.name for s in getattr(problem, "streams", ())]
            if qoi[7:] not in names:
                raise ConfigError(f"sensitivity qoi {qoi!r}: no stream {qoi[7:]!r}; the "
                                  f"problem has {names}")
            return
        if not isinstance(qoi, str) or ":" not in qoi:
            raise ConfigError(f"sensitivity qoi {qoi!r}: expected 'cost', "
                              f"'<output>:<statistic>' or a callable")
        self.output, self.statistic = qoi.rsplit(":", 1)
        if self.statistic not in STATISTICS:
            raise ConfigError(f"sensitivity qoi {qoi!r}: statistic {self.statistic!r} not one "
                              f"of {sorted(STATISTICS)}")
        self.inputs = (self.output,)

    def __call__(self, theta) -> float:
        if self.qoi == "cost":
            return self.problem.cost(theta)
        if isinstance(self.qoi, str) and self.qoi.startswith("misfit"):
            terms = self.problem.cost_terms(theta)
            if self.qoi == "misfit":
                return float(sum(v for k, v in terms.items() if k != "prior"))
            return float(terms[self.qoi[7:]])
        outputs = run_outputs(self.problem, theta, self.inputs)
        if callable(self.qoi):
            return float(self.qoi(outputs))
        if self.output not in outputs:          # a selecting model leaves unknown names out
            raise ConfigError(f"sensitivity qoi {self.qoi!r}: the model has no output "
                              f"{self.output!r}; it has {sorted(self.problem.run(theta))}")
        arr = np.asarray(outputs[self.output], dtype=float)
        return float(STATISTICS[self.statistic](arr[np.isfinite(arr)]))


def salib_problem(prior, box_width=None) -> dict:
    """SALib's problem dict from the prior's names and box: its bounds (finite bounds
    required), or with ``box_width`` the prior mean ± ``box_width`` prior standard
    deviations clipped to the bounds (`pdaframe.methods.emulation.gp.prior_box`)."""
    if box_width is not None:
        from ..methods.emulation.gp import prior_box
        if not box_width > 0:
            raise ConfigError(f"sensitivity: box_width={box_width!r} must be positive (prior "
                              f"standard deviations each side of the mean)")
        lower, upper = prior_box(prior, box_width, use_bounds=False)
    else:
        lower, upper = prior.finite_bounds("sensitivity analysis samples the prior's bounds "
                                           "(or give box_width, prior sds about the mean)")
    return {"num_vars": prior.n, "names": list(prior.names),
            "bounds": [[float(lo), float(up)] for lo, up in zip(lower, upper)]}


def _evaluate(problem, X, qoi, executor, seed=None):
    """QoI at every row of ``X`` (row ``i`` as member ``i``, `with_members`), NaN where a
    run failed."""
    func = QuantityOfInterest(problem, qoi)
    out = with_members(executor, seed).map(func, list(np.asarray(X, dtype=float)))
    if out and all(isinstance(r, Failed) for r in out):
        raise ModelError(f"sensitivity: all {len(out)} runs failed; the first: {out[0].error}")
    Y = np.array([np.nan if isinstance(r, Failed) else float(r) for r in out])
    Y[~np.isfinite(Y)] = np.nan
    return Y


def _drop_blocks(X, Y, block, what):
    """Drop whole blocks of ``block`` rows containing a failed run (with a warning)."""
    bad = np.isnan(Y).reshape(-1, block).any(axis=1)
    if not bad.any():
        return X, Y, 0
    if bad.all():
        raise ModelError(f"{what}: every block has a failed run")
    msg = (f"{what}: {int(np.isnan(Y).sum())} failed run(s); dropping {int(bad.sum())} of "
           f"{bad.size} {'trajectories' if what == 'morris' else 'blocks'} "
           f"({block} runs each)")
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    log.warning(msg)
    keep = np.repeat(~bad, block)
    return X[keep], Y[keep], int(bad.sum())


def _result(problem, method, indices, conf, rank_by, X, Y, qoi, **extra):
    names = list(problem.prior.names)
    res = SensitivityResult(method=method, parameter_names=names,
                            indices={k: np.asarray(v, dtype=float) for k, v in indices.items()},
                            conf={k: np.asarray(v, dtype=float) for k, v in conf.items()},
                            rank_by=rank_by, X=np.asarray(X), Y=np.asarray(Y), qoi=str(qoi),
                            nfev=int(len(Y)), n_failed=int(np.isnan(Y).sum()), success=True,
                            message=f"{len(Y)} runs analysed")
    res.update(extra)
    return res


def _conf(value) -> str:
    """A confidence half-width for the summary ("-" where the method gives none)."""
    return "-" if not np.isfinite(value) else f"{value:.2g}"


class SensitivityResult(AnalysisResult):
    """Indices (``indices[name]``, shape ``(n_param,)``) with confidence half-widths
    (``conf[name]``), ``rank_by`` (the index that ranks parameters: ``ST``, ``mu_star`` or
    ``effect``), the sample ``X`` ``(n_run, n_param)`` and QoI ``Y`` ``(n_run,)`` (NaN:
    failed), ``nfev``, ``n_failed``."""

    def ranking(self) -> list[str]:
        """Parameter names, most influential first (by ``rank_by``)."""
        v = np.nan_to_num(self.indices[self.rank_by], nan=-np.inf)
        return [self.parameter_names[i] for i in np.argsort(-v, kind="stable")]

    def shortlist(self, top=None, threshold=None, relative=False) -> list[str]:
        """Parameters to calibrate, ready for ``[parameters] estimate = [...]``.

        Parameters
        ----------
        top : int, optional
            Keep at most the ``top`` most influential.
        threshold : float, optional
            Keep those whose ``rank_by`` index is ≥ ``threshold`` (with ``relative``: ≥
            ``threshold`` times the largest, e.g. 0.1 for μ*). Both given: both apply.
            Neither: all, ranked.
        """
        v = self.indices[self.rank_by]
        order = self.ranking()
        if threshold is not None:
            cut = threshold * np.nanmax(v) if relative else threshold
            big = {n for n, x in zip(self.parameter_names, v) if x >= cut}
            order = [n for n in order if n in big]
        return order[:top] if top is not None else order

    def summary(self) -> str:
        """Indices per parameter (most influential first) and the shortlist, as text."""
        keys = [k for k, v in self.indices.items() if np.ndim(v) == 1]
        width = max(9, *(len(n) for n in self.parameter_names))
        lines = [f"{self.method} sensitivity of {self.qoi} ({self.nfev} model runs, "
                 f"{self.n_failed} failed); ranked by {self.rank_by}",
                 f"{'parameter':<{width}}" + "".join(f"{k:>12}   {'± conf.':<10}"
                                                      for k in keys)]
        for name in self.ranking():
            i = self.parameter_names.index(name)
            lines.append(f"{name:<{width}}" + "".join(
                f"{self.indices[k][i]:>12.4g}   {_conf(self.conf[k][i]):<10}" for k in keys))
        if "shortlist" in self:
            lines.append(f"shortlist ({self.shortlist_rule}): {', '.join(self['shortlist'])}")
        return "\n".join(lines)


def oat(problem, levels=5, qoi="misfit", executor=None, x0=None, box_width=None, **_):
    """One-at-a-time: each parameter over ``levels`` equally spaced values of its bounds,
    the others at ``x0`` (default the prior mean).

    Indices: ``effect`` (max − min of the QoI over the parameter's range) and ``slope``
    (least-squares slope per unit of the bounds' width, signed). ``conf`` is zero: the
    design is deterministic. ``1 + n_param * levels`` runs.

    Parameters
    ----------
    problem, qoi, executor, box_width
        As `sobol`.
    levels : int
        Values per parameter, equally spaced over its range, both ends included (at least
        2).
    x0 : array_like, optional
        Where the other parameters stay (physical space; default the prior mean).
    """
    levels = check_int(levels, "oat: levels", 2, "values per parameter, both bounds")
    sp = salib_problem(problem.prior, box_width)
    x0 = np.array(problem.prior.mean if x0 is None else x0, dtype=float)
    grid = np.linspace(0.0, 1.0, levels)
    X = [x0]
    for i, (lo, up) in enumerate(sp["bounds"]):
        for g in grid:
            x = x0.copy()
            x[i] = lo + g * (up - lo)
            X.append(x)
    X = np.array(X)
    Y = _evaluate(problem, X, qoi, executor, _.get("seed"))
    yy = Y[1:].reshape(problem.prior.n, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        effect = np.nanmax(yy, axis=1) - np.nanmin(yy, axis=1)
    slope = np.full(problem.prior.n, np.nan)
    for i, row in enumerate(yy):
        ok = np.isfinite(row)
        if ok.sum() >= 2:
            slope[i] = np.polyfit(grid[ok], row[ok], 1)[0]
    if np.isnan(Y).any():
        warnings.warn(f"oat: {int(np.isnan(Y).sum())} failed run(s) ignored", RuntimeWarning,
                      stacklevel=2)
    zeros = np.zeros(problem.prior.n)
    return _result(problem, "oat", {"effect": effect, "slope": slope},
                   {"effect": zeros, "slope": zeros}, "effect", X, Y, qoi, levels=int(levels))


def morris(problem, n=20, num_levels=4, optimal_trajectories=None, qoi="misfit", seed=None,
           executor=None, num_resamples=100, conf_level=0.95, box_width=None, **_):
    """Morris elementary effects (SALib): ``n`` trajectories, ``n * (n_param + 1)`` runs.

    Indices ``mu``, ``mu_star``, ``sigma`` (conf for ``mu_star`` only, bootstrap); ranked by
    ``mu_star``. With ``optimal_trajectories`` (e.g. 10–20), the best-spread ones out of
    ``n`` candidates (Campolongo et al. 2007).

    Parameters
    ----------
    problem, qoi, seed, executor, num_resamples, conf_level, box_width
        As `sobol`.
    n : int
        Trajectories (at least 2), or candidate trajectories with ``optimal_trajectories``.
    num_levels : int
        Grid levels per parameter (SALib's ``p``).
    optimal_trajectories : int, optional
        Keep this many best-spread trajectories of the ``n`` candidates (then
        ``optimal_trajectories * (n_param + 1)`` runs).
    """
    from SALib.analyze import morris as analyse
    from SALib.sample import morris as sample
    n = check_int(n, "morris: n", 2, "trajectories, for sigma and the bootstrap")
    num_levels = check_int(num_levels, "morris: num_levels", 2, "grid levels")
    sp = salib_problem(problem.prior, box_width)
    X = sample.sample(sp, n, num_levels=num_levels,
                      optimal_trajectories=optimal_trajectories, seed=seed)
    Y = _evaluate(problem, X, qoi, executor, seed)
    Xk, Yk, dropped = _drop_blocks(X, Y, problem.prior.n + 1, "morris")
    si = analyse.analyze(sp, Xk, Yk, num_resamples=num_resamples, conf_level=conf_level,
                         num_levels=num_levels, seed=seed)
    nan = np.full(problem.prior.n, np.nan)
    return _result(problem, "morris",
                   {"mu": si["mu"], "mu_star": si["mu_star"], "sigma": si["sigma"]},
                   {"mu_star": si["mu_star_conf"], "mu": nan, "sigma": nan},
                   "mu_star", X, Y, qoi, n_dropped=dropped)


def sobol(problem, n=1024, calc_second_order=False, qoi="misfit", seed=None, executor=None,
          num_resamples=100, conf_level=0.95, box_width=None, **_):
    """Sobol indices (Saltelli sampling, Jansen total-effect; SALib).

    ``n`` base samples (a power of 2); ``n * (n_param + 2)`` runs, ``n * (2 n_param + 2)``
    with ``calc_second_order``. Indices ``S1``, ``ST`` (and ``S2``, shape
    ``(n_param, n_param)``) with bootstrap confidence half-widths; ranked by ``ST``.

    Parameters
    ----------
    problem : Problem
        Every parameter needs finite prior bounds, unless ``box_width`` is given.
    n : int
        Base samples, a power of 2.
    calc_second_order : bool
        Also compute the second-order indices ``S2`` (about twice the runs).
    qoi : str or callable
        The quantity analysed (`QuantityOfInterest`): "misfit" (``J_o``),
        "misfit:<stream>", "cost" (``J``), "<output>:<statistic>" or a callable.
    seed : int, optional
        Seed of the sample and of the bootstrap.
    executor : object, optional
        Runs the sample rows (ordered ``map``); default serial.
    num_resamples : int
        Bootstrap resamples for the confidence half-widths ``conf``.
    conf_level : float
        Confidence level of those half-widths.
    box_width : float, optional
        Sample the prior mean ± ``box_width`` prior standard deviations, clipped to the
        bounds, instead of the prior's bounds.
    """
    from SALib.analyze import sobol as analyse
    from SALib.sample import sobol as sample
    n = int(n)
    if n < 2 or n & (n - 1):
        raise ConfigError(f"sobol: n={n} base samples must be a power of 2 (e.g. 512, 1024)")
    sp = salib_problem(problem.prior, box_width)
    X = sample.sample(sp, n, calc_second_order=calc_second_order, scramble=True, seed=seed)
    Y = _evaluate(problem, X, qoi, executor, seed)
    d = problem.prior.n
    block = 2 * d + 2 if calc_second_order else d + 2
    Xk, Yk, dropped = _drop_blocks(X, Y, block, "sobol")
    si = analyse.analyze(sp, Yk, calc_second_order=calc_second_order,
                         num_resamples=num_resamples, conf_level=conf_level, seed=seed)
    ind = {"S1": si["S1"], "ST": si["ST"]}
    conf = {"S1": si["S1_conf"], "ST": si["ST_conf"]}
    if calc_second_order:
        ind["S2"], conf["S2"] = si["S2"], si["S2_conf"]
    return _result(problem, "sobol", ind, conf, "ST", X, Y, qoi, n_dropped=dropped)


def efast(problem, n=1000, M=4, qoi="misfit", seed=None, executor=None, num_resamples=100,
          conf_level=0.95, box_width=None, **_):
    """eFAST first-order and total indices (SALib): ``n`` (> 4 M²) runs per parameter.

    A failed run is a `ModelError` (the estimator needs the complete frequency curves).

    Parameters
    ----------
    problem, qoi, seed, executor, num_resamples, conf_level, box_width
        As `sobol`.
    n : int
        Runs per parameter (more than ``4 M^2``): ``n * n_param`` runs.
    M : int
        Interference factor: the number of harmonics summed (SALib's ``M``).
    """
    from SALib.analyze import fast as analyse
    from SALib.sample import fast_sampler as sample
    if n <= 4 * M * M:
        raise ConfigError(f"efast: n={n} runs per parameter must exceed 4 M^2 = {4 * M * M}")
    sp = salib_problem(problem.prior, box_width)
    X = sample.sample(sp, int(n), M=M, seed=seed)
    Y = _evaluate(problem, X, qoi, executor, seed)
    if np.isnan(Y).any():
        raise ModelError(f"efast: {int(np.isnan(Y).sum())} of {Y.size} runs failed; eFAST "
                         f"needs every run (use sobol or morris, which drop failed blocks)")
    si = analyse.analyze(sp, Y, M=M, num_resamples=num_resamples, conf_level=conf_level,
                         seed=seed)
    return _result(problem, "efast", {"S1": si["S1"], "ST": si["ST"]},
                   {"S1": si["S1_conf"], "ST": si["ST_conf"]}, "ST", X, Y, qoi)


METHODS = {"oat": oat, "morris": morris, "sobol": sobol, "efast": efast}
SHORTLIST = {"threshold": 0.05, "relative": True}


def _shortlist_rule(options) -> str:
    top, cut = options.get("top"), options.get("threshold")
    parts = ([f"top {top}"] if top is not None else []) + (
        [f"index >= {cut:g}{' x the largest' if options.get('relative') else ''}"]
        if cut is not None else [])
    return " and ".join(parts) or "all, ranked"


def _config_method(name):
    """Sensitivity method ``name`` as a registered method (``[method] name = "sobol"``).

    Unknown options are a `ConfigError`; ``shortlist = { top, threshold, relative }``
    (default `SHORTLIST`: index at least 5 % of the largest) picks the parameters to
    calibrate, stored as ``result["shortlist"]``; ``pdaframe run`` writes them to
    ``shortlist.toml`` for ``[parameters] estimate_from``.
    """
    func = METHODS[name]

    def method(problem, x0=None, callback=None, executor=None, shortlist=None, **options):
        """A sensitivity function of `METHODS` as a config method (see `_config_method`).

        Parameters
        ----------
        shortlist : dict, optional
            The rule of ``result["shortlist"]``, the parameters to calibrate: a table of
            ``top``, ``threshold``, ``relative`` (`SensitivityResult.shortlist`; default
            `SHORTLIST`, an index at least 5 % of the largest).
        """
        if "seed" not in inspect.signature(func).parameters:
            options.pop("seed", None)              # deterministic design (oat)
        rule = SHORTLIST if shortlist is None else shortlist
        if not isinstance(rule, dict) or set(rule) - {"top", "threshold", "relative"}:
            raise ConfigError(f"{name}: option shortlist takes a table of top, threshold, "
                              f"relative; got {shortlist!r}")
        if "x0" in inspect.signature(func).parameters:
            options["x0"] = x0
        res = func(problem, executor=executor, **options)
        res["shortlist"] = res.shortlist(**rule)
        res["shortlist_rule"] = _shortlist_rule(rule)
        return res

    method.__name__ = name
    method.option_sources = (func,)        # its options (`pdaframe.methods.contract`)
    method.option_docs = (sobol,)          # those it shares with sobol
    method.family = "sensitivity"
    method.uses_x0 = "x0" in inspect.signature(func).parameters     # oat's centre only
    return method


CONFIG_METHODS = {name: _config_method(name) for name in METHODS}


def analyse(problem, method="sobol", **options) -> SensitivityResult:
    """Run the sensitivity method ``method`` (a name of `METHODS`) with ``options``."""
    if method not in METHODS:
        raise ConfigError(f"sensitivity method {method!r}: expected one of {sorted(METHODS)}")
    return METHODS[method](problem, **options)


def plot_sensitivity(result, path, index=None):
    """Ranked horizontal bar plot of ``index`` (default ``rank_by``, with ST also S1) with
    confidence bars; written atomically as PNG. Returns the path."""
    from ..plots import _figure, _save
    index = index or result.rank_by
    order = result.ranking()[::-1]
    pos = [result.parameter_names.index(n) for n in order]
    plt, (fig, ax) = _figure(figsize=(6, 0.35 * len(order) + 1.5))
    y = np.arange(len(order))
    if index == "ST" and "S1" in result.indices:
        ax.barh(y + 0.2, result.indices["ST"][pos], height=0.4, xerr=result.conf["ST"][pos],
                label="ST", color="tab:blue")
        ax.barh(y - 0.2, result.indices["S1"][pos], height=0.4, xerr=result.conf["S1"][pos],
                label="S1", color="tab:orange")
        ax.legend()
    else:
        err = result.conf.get(index)
        ax.barh(y, result.indices[index][pos], xerr=None if err is None else err[pos],
                color="tab:blue")
    ax.set_yticks(y, order)
    ax.set_xlabel(index)
    ax.set_title(f"{result.method} sensitivity of {result.qoi}")
    fig.tight_layout()
    return _save(plt, fig, path)
