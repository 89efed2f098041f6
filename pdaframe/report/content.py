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


def identifiability_rows(result) -> dict | None:
    """The identifiability tables of the report, or None without diagnostics:
    ``parameters``: ``[(name, uncertainty reduction, strongest partner, its r)]``;
    ``pairs``: the strong pairs ``[(name, name, r)]``; ``directions``: ``[(k, eigenvalue,
    top parameters)]``; ``sensitivity``: ``(header, rows)``; ``notes`` and ``missing``."""
    from ..analysis.identifiability import leading
    ident = result.get("diagnostics", {}).get("identifiability")
    if not ident:
        return None
    names = ident["names"]
    out = {"missing": ident.get("missing", ""), "parameters": [], "pairs": [],
           "directions": [], "sensitivity": None, "notes": []}
    if "correlation" in ident:
        corr = np.array(ident["correlation"], dtype=float)
        np.fill_diagonal(corr, 0.0)
        partner = np.argmax(np.abs(np.nan_to_num(corr)), axis=1)
        out["parameters"] = [(name, float(ident["uncertainty_reduction"][i]),
                              names[partner[i]] if len(names) > 1 else "",
                              float(corr[i, partner[i]]) if len(names) > 1 else np.nan)
                             for i, name in enumerate(names)]
        out["pairs"] = list(ident["strong_pairs"])
        out["directions"] = [(k + 1, float(ident["eigenvalues"][k]), text.split(": ", 1)[1])
                             for k, text in enumerate(leading(ident, names))]
        source = "the Gauss–Newton (Laplace) covariance" if ident["source"] == "laplace" \
            else "the covariance of the draws or members"
        out["notes"] = [f"From {source}. {ident['n_constrained']} of {len(names)} directions "
                        f"are constrained by the data (eigenvalue of the prior-preconditioned "
                        f"data Hessian B^1/2 H B^1/2 above 1: the data outweigh the prior); "
                        f"degrees of freedom for signal {ident['dfs']:.3g}.",
                        "Uncertainty reduction 1 − σ_post/σ_prior: 0 the data taught nothing, "
                        "1 fully determined (for a Laplace result linearised and unbounded: "
                        "bounds do not count)."]
    sens = ident.get("sensitivity")
    if sens is not None and len(sens["outputs"]):
        out["sensitivity"] = (["parameter"] + list(sens["outputs"]),
                              [[name] + [float(v) for v in np.asarray(sens["values"])[:, i]]
                               for i, name in enumerate(names)])
        out["notes"].append(f"Sensitivity: d output/d parameter × prior σ at the estimate "
                            f"({sens['mode']}).")
    return out


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
