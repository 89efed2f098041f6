"""Model comparison from the samplers' pointwise log-likelihood: WAIC, PSIS-LOO and a table
of several runs, through ArviZ (``az.waic``, ``az.loo``, ``az.compare``).

Which runs have it: the MCMC samplers (`POINTWISE_METHODS`) keep ``log p(y_i | theta_s)`` of
every valid observation ``i`` at every kept draw ``s`` (`pdaframe.methods.mcmc.pointwise`;
in memory as the result's ``log_likelihood``, on disk as the ``log_likelihood`` group of
``samples.nc``). Optimisers (``lbfgsb``, ``de``, ``ga``, ...) give no draws, and the
ensemble methods (importance sampling, GLUE, ES-MDA, EnKF, particle filter, 4DEnVar, CES)
give weighted or emulated draws that ArviZ's estimators do not take: asking WAIC or LOO of
them is a `PointwiseLikelihoodError` naming the methods that work.

A *source* is any of: a sampler's result, an ``arviz.InferenceData``, a ``samples.nc``
file or a run folder holding one (``pdaframe run``'s output). The streams' log-likelihoods
are joined into one vector of observations (stream order), so WAIC and LOO are over all
observations of the run. ``compare`` refuses runs fitted to different data (stream names,
positions or values of the valid observations differ): their scores would not be
comparable.

The table has a column ``log_evidence`` (the log marginal likelihood), NaN unless given:
the place for the evidence of tempered SMC.

From the command line: ``pdaframe compare results/run_a results/run_b [--ic waic]``.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: the methods whose results hold the pointwise log-likelihood
POINTWISE_METHODS = ("adaptive-metropolis", "dream-zs", "emcee", "nuts", "hmc")
#: Pareto k above this: the PSIS estimate of that observation's LOO density is unreliable
K_THRESHOLD = 0.7


class PointwiseLikelihoodError(ConfigError):
    """A run without the pointwise log-likelihood (an optimiser, an ensemble method, or a
    sampler run with ``pointwise_log_likelihood = false``)."""


class ParetoKWarning(UserWarning):
    """PSIS-LOO: some observations have Pareto k above `K_THRESHOLD`."""


def _missing(what, method=""):
    used = f" (method {method!r})" if method else ""
    return PointwiseLikelihoodError(
        f"{what}{used} has no pointwise log-likelihood: WAIC and PSIS-LOO need the MCMC "
        f"draws of {', '.join(POINTWISE_METHODS)} (with the method option "
        f"pointwise_log_likelihood not false); optimisers and ensemble methods (importance "
        f"sampling, GLUE, ES-MDA, EnKF, particle filter, 4DEnVar, CES) do not give it")


def read_run(path):
    """The ``arviz.InferenceData`` of ``samples.nc`` (a file, or a run folder holding it)."""
    import arviz as az
    path = Path(path)
    if path.is_dir():
        if not (path / "samples.nc").is_file():
            method = _method_of(path / "result.nc")
            raise _missing(f"run folder {str(path)!r} (no samples.nc)", method)
        path = path / "samples.nc"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r}: no such file or run folder")
    return az.from_netcdf(str(path))


def _method_of(result_nc) -> str:
    """The ``method`` attribute of a ``result.nc`` (empty if there is none)."""
    if not Path(result_nc).is_file():
        return ""
    import netCDF4
    with netCDF4.Dataset(result_nc) as ds:
        return str(getattr(ds, "method", ""))


def _is_result(source) -> bool:
    """A result (a dict with attributes), not an InferenceData (also a Mapping)."""
    return isinstance(source, Mapping) and not callable(getattr(source, "groups", None))


def pointwise_data(source, label="run"):
    """The joined pointwise log-likelihood of a source and its observations.

    Parameters
    ----------
    source : Result, arviz.InferenceData, str or Path
        See the module docstring.
    label : str
        The run's name, for messages.

    Returns
    -------
    log_lik : xarray.DataArray, dims (chain, draw, obs)
        Every stream's valid observations, in stream order.
    observed : dict
        ``{stream: (index, values)}`` of the valid observations (what `compare` checks).

    Raises
    ------
    PointwiseLikelihoodError
        The source has none.
    """
    import xarray as xr
    if isinstance(source, (str, Path)):
        label = str(source)
        source = read_run(source)
    if _is_result(source):
        per_stream = source.get("log_likelihood")
        if not per_stream:
            raise _missing(f"result {label!r}", source.get("method", ""))
        observed = dict(source.get("log_likelihood_observed", {}))
        arrays = [np.asarray(v, dtype=float) for v in per_stream.values()]
        names = list(per_stream)
    else:                                               # InferenceData
        group = getattr(source, "log_likelihood", None) if "log_likelihood" in \
            getattr(source, "groups", lambda: [])() else None
        if group is None or not group.data_vars:
            method = source.posterior.attrs.get("method", "") if "posterior" in \
                source.groups() else ""
            raise _missing(f"run {label!r}", method)
        names = list(group.data_vars)
        arrays = [np.asarray(group[n].values, dtype=float) for n in names]
        observed = {}
        for n in names:
            if f"{n}_observed" in group.coords:
                observed[n] = (np.asarray(group[f"{n}_obs_index"].values),
                               np.asarray(group[f"{n}_observed"].values, dtype=float))
    joined = np.concatenate(arrays, axis=2)
    if not np.all(np.isfinite(joined)):
        raise DataError(f"run {label!r}: the pointwise log-likelihood has non-finite values")
    observed = {n: observed.get(n) for n in names}
    return xr.DataArray(joined, dims=("chain", "draw", "obs")), observed


def _idata(source, label="run"):
    """``(InferenceData with posterior theta and log_likelihood y, observed)`` of a source
    (ArviZ's LOO takes the relative efficiency from the posterior's ESS)."""
    import arviz as az
    import xarray as xr
    if isinstance(source, (str, Path)):
        label, source = str(source), read_run(source)
    log_lik, observed = pointwise_data(source, label)
    if _is_result(source):
        theta = np.asarray(source["samples"], dtype=float)
        posterior = xr.Dataset({"theta": (("chain", "draw", "param"), theta)})
    else:
        posterior = source.posterior
    return az.InferenceData(posterior=posterior,
                            log_likelihood=log_lik.to_dataset(name="y")), observed


def waic(source, label="run"):
    """WAIC of a run (``arviz.waic``, pointwise, log scale: ``elpd_waic`` and its ``se``)."""
    idata, _ = _idata(source, label)
    import arviz as az
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # ArviZ's p_waic note: in the table
        return az.waic(idata, pointwise=True)


def loo(source, label="run", k_threshold=K_THRESHOLD):
    """PSIS-LOO of a run (``arviz.loo``, pointwise: ``elpd_loo``, ``se``, ``pareto_k``).

    A `ParetoKWarning` names the number of observations with Pareto k above
    ``k_threshold`` (their LOO densities are unreliable: refit without them, or use
    leave-year-out cross-validation, `pdaframe.analysis.cross_validation`).
    """
    idata, _ = _idata(source, label)
    import arviz as az
    # ArviZ's own k warning: ours below; exp overflow in its Pareto fit: weights of 0
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore", UserWarning)
        result = az.loo(idata, pointwise=True)
    k = np.asarray(result.pareto_k)
    bad = int(np.sum(k > k_threshold))
    if bad:
        warnings.warn(f"PSIS-LOO of {label!r}: {bad} of {k.size} observations have Pareto "
                      f"k > {k_threshold} (max {k.max():.2f}): their LOO estimates are "
                      f"unreliable", ParetoKWarning, stacklevel=2)
    return result


def check_same_data(observed) -> None:
    """Refuse runs fitted to different data (`DataError` naming the runs and the stream).

    Parameters
    ----------
    observed : dict
        ``{label: {stream: (index, values) or None}}`` (`pointwise_data`).
    """
    labels = list(observed)
    ref_label, ref = labels[0], observed[labels[0]]
    for label in labels[1:]:
        obs = observed[label]
        if list(obs) != list(ref):
            raise DataError(f"runs {ref_label!r} and {label!r} have different streams "
                            f"({list(ref)} vs {list(obs)}): their WAIC/LOO are not "
                            f"comparable")
        for name in ref:
            a, b = ref[name], obs[name]
            if a is None or b is None:
                continue                      # no stored values: the shapes are checked below
            if not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
                n = a[1].size if a[1].size != b[1].size else int(np.sum(a[1] != b[1]))
                raise DataError(f"runs {ref_label!r} and {label!r} were fitted to different "
                                f"data: stream {name!r} has {a[1].size} vs {b[1].size} "
                                f"valid observations, {n} differing; their WAIC/LOO are "
                                f"not comparable")


def compare(runs, ic="loo", evidence=None, method="stacking"):
    """A table comparing runs on the same data (``arviz.compare``), best first.

    Parameters
    ----------
    runs : dict or sequence
        ``{label: source}``, or sources (labelled by their path, else ``run_<i>``).
    ic : {"loo", "waic"}
    evidence : dict, optional
        ``{label: log marginal likelihood}`` (e.g. of tempered SMC): the ``log_evidence``
        column (NaN for runs not in it).
    method : str
        ArviZ's weights (``stacking``, ``BB-pseudo-BMA``, ``pseudo-BMA``).

    Returns
    -------
    pandas.DataFrame
        ArviZ's columns (``rank``, ``elpd_<ic>``, ``p_<ic>``, ``elpd_diff``, ``weight``,
        ``se``, ``dse``, ``warning``, ``scale``), plus ``n_obs``, ``n_bad_k`` (LOO: Pareto k
        above `K_THRESHOLD`) and ``log_evidence``.

    Raises
    ------
    ConfigError
        Fewer than two runs, or an unknown ``ic``.
    PointwiseLikelihoodError
        A run without the pointwise log-likelihood.
    DataError
        Runs on different data (`check_same_data`).
    """
    import arviz as az
    if ic not in ("loo", "waic"):
        raise ConfigError(f"compare: ic = {ic!r}; expected 'loo' or 'waic'")
    if not isinstance(runs, Mapping):
        runs = {str(r) if isinstance(r, (str, Path)) else f"run_{i}": r
                for i, r in enumerate(runs)}
    if len(runs) < 2:
        raise ConfigError(f"compare: needs at least two runs, got {len(runs)}")
    data, observed = {}, {}
    for label, source in runs.items():
        data[label], observed[label] = _idata(source, label)
    check_same_data(observed)
    sizes = {label: d.log_likelihood["y"].shape[-1] for label, d in data.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"compare: the runs have different numbers of observations {sizes}: "
                        f"fitted to different data")
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore")        # ArviZ's k notes (n_bad_k) and pandas notes
        table = az.compare(data, ic=ic, method=method)
    table["n_obs"] = [sizes[label] for label in table.index]
    if ic == "loo":
        table["n_bad_k"] = [int(np.sum(np.asarray(loo(data[label], label).pareto_k)
                                       > K_THRESHOLD)) for label in table.index]
    evidence = evidence or {}
    table["log_evidence"] = [float(evidence.get(label, np.nan)) for label in table.index]
    return table


def format_comparison(table) -> str:
    """A text table of `compare`'s result (elpd and its SE, the difference to the best and
    its SE, effective parameters, weight, bad Pareto k, log evidence)."""
    ic = "loo" if "elpd_loo" in table.columns else "waic"
    width = max(12, *(len(str(i)) for i in table.index))
    head = (f"{'run':<{width}}{'elpd_' + ic:>12}{'SE':>9}{'Δelpd':>9}{'SE(Δ)':>9}"
            f"{'p_' + ic:>9}{'weight':>8}{'k>0.7':>7}{'log Z':>10}")
    lines = [head]
    for label, row in table.iterrows():
        bad, z = row.get("n_bad_k", np.nan), row.get("log_evidence", np.nan)
        lines.append(f"{str(label):<{width}}{row['elpd_' + ic]:>12.2f}{row['se']:>9.2f}"
                     f"{row['elpd_diff']:>9.2f}{row['dse']:>9.2f}{row['p_' + ic]:>9.2f}"
                     f"{row['weight']:>8.3f}{'-' if not np.isfinite(bad) else int(bad):>7}"
                     f"{'-' if not np.isfinite(z) else format(z, '.2f'):>10}")
    return "\n".join(lines)


def compare_runs(paths, ic="loo") -> str:
    """`pdaframe compare`: the table of run folders (or ``samples.nc`` files), labelled by
    their folder names (their paths if two names are the same)."""
    labels = [Path(r).name or str(r) for r in paths]
    if len(set(labels)) < len(labels):
        labels = [str(r) for r in paths]
    return format_comparison(compare(dict(zip(labels, paths)), ic=ic))
