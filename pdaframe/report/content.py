"""The numbers of ``report.html`` (`pdaframe.report.page`): the parameter table (prior,
posterior, 90 % interval, bound hits) and the provenance of a run.

Plain data (lists of dicts and strings) so that the page only formats and escapes them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LEVEL = 0.9
"""Probability of the report's central posterior interval."""


def posterior_interval(result, level=LEVEL):
    """Central ``level`` interval of each parameter and where it comes from, or None.

    - sampler chains (``samples`` of a `SampleResult`): quantiles of all draws;
    - ensembles (``posterior_ensemble``, or a weighted sample's ``samples`` and
      ``weights``): weighted quantiles of the members;
    - a Laplace posterior (``posterior_covariance``): `Result.posterior_interval`, taken in
      the bounds transform's space (inside the bounds, as ``result.nc``'s 95 % interval).

    Returns
    -------
    (ndarray (2, n_param), str) or None
        Lower and upper ends, and a note on their source.
    """
    from ..methods.importance import weighted_quantile
    q = [(1 - level) / 2, (1 + level) / 2]
    kind = getattr(result, "kind", None)
    if kind == "sample" and "samples" in result:
        flat = np.asarray(result["samples"], dtype=float)
        flat = flat.reshape(-1, flat.shape[-1])
        return np.quantile(flat, q, axis=0), f"quantiles of {len(flat)} draws"
    members = result.get("posterior_ensemble", result.get("samples")) \
        if kind == "ensemble" else None
    if members is not None:
        members = np.asarray(members, dtype=float)
        w = np.asarray(result.get("weights", np.ones(len(members))), dtype=float)
        note = f"quantiles of {len(members)} members"
        if "weights" in result:
            note = f"weighted {note}" + (f" (effective sample size {float(result['ess']):.3g})"
                                         if "ess" in result else "")
        return weighted_quantile(members, w, q), note
    if "posterior_covariance" in result and hasattr(result, "posterior_interval"):
        return result.posterior_interval(level), \
            "Laplace approximation, in the bounds transform's space"
    return None


def parameter_rows(result, problem, truth=None) -> tuple[list[dict], str | None]:
    """One dict per parameter: ``name units prior_mean prior_std lower upper background
    truth estimate posterior_std low high bound`` (floats, NaN where unknown; ``bound``
    ``"lower"``, ``"upper"`` or ``""`` from ``result["diagnostics"]["edge"]``); and the
    interval's source (None: no interval)."""
    names = list(result["parameter_names"])
    n = len(names)
    prior = getattr(problem, "prior", None)
    nan = np.full(n, np.nan)
    if prior is not None:
        mean = np.asarray(prior.mean, dtype=float)
        std = np.sqrt(np.diag(prior.scale @ prior.scale.T))
        lower, upper = np.asarray(prior.lower, float), np.asarray(prior.upper, float)
    else:
        mean = std = lower = upper = nan
    table = {p.name: p for p in getattr(getattr(problem, "model", None), "parameters", ())}
    interval = posterior_interval(result)
    low, high = interval[0] if interval else (nan, nan)
    edge = result.get("diagnostics", {}).get("edge", {})
    x0 = np.asarray(result.get("x0", mean), dtype=float)
    post = np.asarray(result.get("posterior_std", nan), dtype=float)
    truth = nan if truth is None else np.asarray(truth, dtype=float)
    rows = [{"name": name, "units": getattr(table.get(name), "units", "") or "",
             "prior_mean": mean[i], "prior_std": std[i], "lower": lower[i],
             "upper": upper[i], "background": x0[i], "truth": truth[i],
             "estimate": float(result["x"][i]), "posterior_std": post[i],
             "low": low[i], "high": high[i], "bound": edge.get(name, "")}
            for i, name in enumerate(names)]
    return rows, interval[1] if interval else None


def prior_family(problem) -> str:
    """``"Gaussian"``, ``"uniform"`` (the prior's class without ``Prior``) or ``""``."""
    prior = getattr(problem, "prior", None)
    if prior is None:
        return ""
    name = type(prior).__name__.removesuffix("Prior")
    return name if name == "Gaussian" else name.lower()


def provenance_rows(provenance) -> dict:
    """What the report's provenance section lists: ``run``: ``[(label, text)]`` (run id,
    seed, git revision, plugin versions), ``versions``: ``{distribution: version}``
    (`pdaframe.io.provenance.dependency_versions`), ``data_files``: ``{path: sha256}``,
    ``config``: the config text (secrets hidden)."""
    from ..io.provenance import dependency_versions, git_revision
    prov = dict(provenance or {})
    seed = prov.get("seed")
    plugins = prov.get("plugin_versions") or {}
    run = [("run id", prov.get("run_id", "")),
           ("seed", "none" if seed is None else str(seed)),
           ("git revision", git_revision(Path(__file__).parent)),
           ("plugins", ", ".join(f"{k} {v}" for k, v in sorted(plugins.items())) or "none")]
    return {"run": run, "versions": dependency_versions(),
            "data_files": dict(prov.get("data_files") or {}),
            "config": prov.get("config_text") or ""}
