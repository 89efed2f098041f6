"""Leave-site-out evaluation: score a site left out of a multi-site calibration with the
posterior predictive that the calibration gives a *new* site.

A calibration of some sites under a parameter mapping (`pdaframe.problem.mapping`) yields
draws of the global vector (MCMC samples, or the Laplace draws of
`pdaframe.Result.posterior_sample`). `new_site_parameters` turns each draw into parameters
of a site that was not calibrated, rule by rule:

* `Hierarchical` (partial pooling): the group's ``(mu, sigma)`` of the draw and a fresh
  ``eta ~ N(0, 1)``: ``theta = T^-1(mu + sigma eta)``;
* `Shared` (complete pooling): the draw's shared value;
* `Grouped`: the draw's value of the new site's group;
* `Scaled`: the draw's factor times the new site's own default;
* `PerSite` (no pooling): nothing transfers: a draw from the new site's own prior
  (Gaussian, truncated to its bounds);
* `Fixed`: the new site's own default;
* any other rule with a ``new_site_values(xs, ctx, rng)`` method (``xs``: the draws of the
  rule's entries, ``(n_draws, n_entries)``): what it returns, ``(n_draws, n_outputs)``.

`score_site` runs the site's model at each draw and scores its observations: the RMSE of
the predictive mean (`pdaframe.analysis.scores.scores`), the CRPS of the predictive
distribution of each observation (model equivalent plus observation error, an ensemble
estimate) and the log predictive density of all the site's observations,
``log mean_i N(y; G(theta_i), R)`` (streams with weight 1). `leave_site_out` does it all
for one site: calibrates the others under the rules given, draws, and scores the site left
out.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..errors import ConfigError, ModelError
from ..minimise import minimise
from ..prior.priors import GaussianPrior
from ..problem.hierarchical import Hierarchical
from ..problem.mapping import Fixed, Grouped, MapContext, PerSite, Scaled, Shared, SiteMap
from ..problem.multisite import MultiSiteProblem
from ..problem.single import Problem
from ..problem.sites import SiteBounds, split_parameter_name
from .scores import scores


def entry_prior(entries, names=None) -> GaussianPrior:
    """The Gaussian prior of parameter entries (``mean``, ``std``, optional ``lower``,
    ``upper``, ``transform``): e.g. of a `SiteMap`'s ``entries``."""
    return GaussianPrior([p["mean"] for p in entries], std=[p["std"] for p in entries],
                         lower=[p.get("lower", -np.inf) for p in entries],
                         upper=[p.get("upper", np.inf) for p in entries],
                         names=list(names) if names is not None else
                         [p["name"] for p in entries],
                         transforms=[p.get("transform") for p in entries])


def restrict(ctx: MapContext, sites) -> MapContext:
    """``ctx`` for some of its sites (the same table)."""
    k = [ctx.sites.index(s) for s in sites]
    return MapContext([ctx.sites[i] for i in k], [ctx.parameters[i] for i in k], ctx.table)


def _label(rule, ctx, column):
    if column is None:
        return ""
    label = str(ctx.column(column, f"new site {ctx.sites[0]!r}")[0])
    if label not in rule.groups:
        raise ConfigError(f"new site {ctx.sites[0]!r}: its group {column}={label!r} has no "
                          f"calibration site (groups {rule.groups}); {type(rule).__name__} "
                          f"{rule.outputs} cannot predict it")
    return label


def _scaled_column(rule):
    """The group column of a `Scaled` rule, from its entries' names (None: one factor)."""
    site = split_parameter_name(rule.entries[0]["name"])[1]
    return site.split("=", 1)[0] if site else None


def _rule_draws(rule, xs, ctx, rng) -> np.ndarray:
    """``(n_draws, n_outputs)`` parameters of the new site (``ctx``: one site) from one rule."""
    n, m = xs.shape[0], len(rule.outputs)
    entries = ctx.parameters[0]
    if isinstance(rule, Hierarchical):
        group = _label(rule, ctx, rule.column)
        eta = rng.standard_normal((n, m))
        return np.array([rule.new_site(x, group, e, entries) for x, e in zip(xs, eta)])
    if hasattr(rule, "new_site_values"):
        return np.asarray(rule.new_site_values(xs, ctx, rng), dtype=float).reshape(n, m)
    if isinstance(rule, Shared):
        return xs[:, rule.index[0]]
    if isinstance(rule, Grouped):
        g = rule.groups.index(_label(rule, ctx, rule.column))
        return xs[:, [j * len(rule.groups) + g for j in range(m)]]
    if isinstance(rule, Scaled):
        g = rule.groups.index(_label(rule, ctx, _scaled_column(rule)))
        default = np.array([float(entries[o]["mean"]) for o in rule.outputs])
        return xs[:, [j * len(rule.groups) + g for j in range(m)]] * default
    if isinstance(rule, PerSite):
        return entry_prior([entries[o] for o in rule.outputs], rule.outputs).sample(n, rng)
    if isinstance(rule, Fixed):
        return np.tile([float(entries[o]["mean"]) for o in rule.outputs], (n, 1))
    raise ConfigError(f"leave-site-out: a {type(rule).__name__} rule ({rule.outputs}) cannot "
                      f"give a new site's parameters (it has no new_site_values method)")


def new_site_parameters(mapping, draws, ctx: MapContext, seed=0) -> np.ndarray:
    """Parameters of a site not in ``mapping``, one row per draw of the global vector.

    Parameters
    ----------
    mapping : SiteMap
        The calibration's mapping (with rules).
    draws : array_like, shape (n_draws, n_param)
        Posterior draws of the global vector (``mapping.names``).
    ctx : MapContext
        The new site alone: its name, its parameter entries (every local parameter:
        defaults, std, bounds, transform) and a site table with its row (for groups).
    seed : int
        Seed of the fresh ``eta`` and of the prior draws of `PerSite` parameters.

    Returns
    -------
    ndarray, shape (n_draws, n_local)
        In the order of ``mapping.local``.
    """
    if not mapping.rules:
        raise ConfigError("leave-site-out: the problem has no parameter mapping (rules); "
                          "build it with mapping=SiteMap(...)")
    if len(ctx.sites) != 1:
        raise ConfigError(f"leave-site-out: one new site at a time, got {ctx.sites}")
    xs = np.atleast_2d(np.asarray(draws, dtype=float))
    if xs.shape[1] != mapping.n_param:
        raise ConfigError(f"leave-site-out: draws have {xs.shape[1]} parameters, the mapping "
                          f"{mapping.n_param} ({mapping.names})")
    rng = np.random.default_rng(seed)
    out = np.empty((xs.shape[0], len(mapping.local)))
    start = 0
    for rule in mapping.rules:
        stop = start + len(rule.entries)
        cols = [mapping.local.index(o) for o in rule.outputs]
        out[:, cols] = _rule_draws(rule, xs[:, start:stop], ctx, rng)
        start = stop
    return out


def crps_ensemble(members, observed) -> np.ndarray:
    """CRPS of an ensemble forecast per observation: ``E|X - y| - E|X - X'| / 2``.

    Parameters
    ----------
    members : array_like, shape (n_members, n_obs)
    observed : array_like, shape (n_obs,)

    Returns
    -------
    ndarray, shape (n_obs,)
        In the units of the observations (0 for a perfect point forecast).
    """
    x = np.sort(np.asarray(members, dtype=float), axis=0)
    m = x.shape[0]
    first = np.mean(np.abs(x - np.asarray(observed, dtype=float)), axis=0)
    # E|X - X'| over all pairs from the order statistics: 2/m^2 sum_i (2i - m - 1) x_(i)
    w = 2.0 * np.arange(1, m + 1) - m - 1
    return first - (w @ x) / m ** 2


def ensemble_scores(streams, equivalents, rng, repeat=1) -> tuple[dict, dict]:
    """Scores of a predictive ensemble: the mean's RMSE and bias, and the CRPS of the
    members plus observation noise.

    Parameters
    ----------
    streams : sequence of DataStream
    equivalents : sequence of dict
        Per member, ``{stream name: model equivalents}`` (all values, masked or not).
    rng : numpy.random.Generator
        Draws each stream's observation error (`ErrorCovariance.sample`), member by member.
    repeat : int
        Noise draws per member (more for a few members, e.g. a point estimate).

    Returns
    -------
    per_stream : dict
        ``{name: {"n", "rmse", "bias", "crps"}}``.
    overall : dict
        ``{"n", "rmse", "crps"}`` over every valid observation.
    """
    per, sq, crps_all = {}, [], []
    for s in streams:
        members = np.array([s.residual(eq[s.name]) + s.observed for eq in equivalents])
        mean = members.mean(axis=0)
        noisy = np.repeat(members, repeat, axis=0)
        noisy = noisy + np.array([s.error.sample(rng) for _ in noisy])
        crps = crps_ensemble(noisy, s.observed)
        row = scores(s.observed, mean)
        per[s.name] = {"n": row["n"], "rmse": row["rmse"], "bias": row["bias"],
                       "crps": float(crps.mean())}
        sq.append((mean - s.observed) ** 2)
        crps_all.append(crps)
    sq, crps_all = np.concatenate(sq), np.concatenate(crps_all)
    return per, {"n": int(sq.size), "rmse": float(np.sqrt(sq.mean())),
                 "crps": float(crps_all.mean())}


def score_site(site, entries, thetas, seed=0) -> dict:
    """Score a site's observations under parameter draws (its posterior predictive).

    Parameters
    ----------
    site : pdaframe.problem.sites.Site
        The site: its model and streams (with observations).
    entries : dict
        Its parameter entries (local name -> ``mean``, ``std``, ``lower``, ``upper``,
        ``transform``): the bounds a draw must respect.
    thetas : array_like, shape (n_draws, n_local)
        Parameter draws (`new_site_parameters`), in the model's parameter order.
    seed : int
        Seed of the observation-error draws added to each equivalent for the CRPS.

    Returns
    -------
    dict
        ``rmse`` (of the predictive mean, over all valid observations), ``crps`` (mean over
        them), ``lpd`` (log predictive density of all of them), ``n_obs``, ``n_draws``,
        ``n_failed`` (draws whose run failed: left out), and ``streams``: per stream
        ``rmse``, ``bias``, ``crps``, ``n``.
    """
    names = list(site.model.parameter_names)
    e = [entries[n] for n in names]
    bounds = SiteBounds([p["mean"] for p in e], [p["std"] for p in e],
                        [p.get("lower", -np.inf) for p in e],
                        [p.get("upper", np.inf) for p in e], names=names,
                        transforms=[p.get("transform") for p in e])
    problem = Problem(site.model, bounds, list(site.streams))
    rng = np.random.default_rng(seed)
    eqs, neg_j = [], []
    for theta in np.atleast_2d(thetas):
        try:
            eq = problem.equivalents(theta)
            cost = problem.cost(theta)
        except ModelError:
            continue
        if np.isfinite(cost):
            eqs.append(eq)
            neg_j.append(-cost)
    n_draws = len(np.atleast_2d(thetas))
    if not eqs:
        raise ModelError(f"leave-site-out: every one of the {n_draws} runs of site "
                         f"{site.name!r} failed")
    const = sum(0.5 * (s.n_valid * np.log(2 * np.pi) + s.error.logdet())
                for s in problem.streams)
    per, overall = ensemble_scores(problem.streams, eqs, rng)
    return {"n_draws": n_draws, "n_failed": n_draws - len(eqs),
            "lpd": float(logsumexp(neg_j) - np.log(len(neg_j)) - const), "streams": per,
            "n_obs": overall["n"], "rmse": overall["rmse"], "crps": overall["crps"]}


def posterior_draws(result, n, seed=0) -> np.ndarray:
    """``n`` draws of the global vector from a result: MCMC ``samples`` (all chains, evenly
    thinned) or the Laplace draws of `pdaframe.Result.posterior_sample`."""
    if "samples" in result:
        flat = np.asarray(result["samples"], dtype=float)
        flat = flat.reshape(-1, flat.shape[-1])
        return flat[np.linspace(0, len(flat) - 1, n).round().astype(int)]
    return result.posterior_sample(n, seed=seed)


def leave_site_out(sites, ctx: MapContext, local, rules, held_out, calibrate=None,
                   n_draws=200, seed=0) -> dict:
    """Calibrate all sites but one, and score that one with its posterior predictive.

    Parameters
    ----------
    sites : sequence of Site
        All sites, ``held_out`` among them, in the order of ``ctx.sites``.
    ctx : MapContext
        All sites' parameter entries and the site table.
    local : sequence of str
        The models' parameter names.
    rules : callable
        ``rules(ctx) -> list of Rule`` for the calibration sites' context (e.g.
        ``lambda c: [Hierarchical(c, ["f_auto"], "pft"), Shared(c, ["theta"]), ...]``).
    held_out : str
        The site left out.
    calibrate : callable, optional
        ``calibrate(problem) -> Result`` (default ``pdaframe.minimise(problem, "lbfgsb")``:
        MAP, and its Laplace draws); a sampler's result gives its samples.
    n_draws : int
        Draws of the predictive.
    seed : int
        Seeds the Laplace draws (``seed``), the new site's draws (``seed + 1``) and the
        observation noise of the CRPS (``seed + 2``).

    Returns
    -------
    dict
        ``score`` (`score_site`), ``result`` and ``problem`` (the calibration's).
    """
    names = [s.name for s in sites]
    if names != list(ctx.sites):
        raise ConfigError(f"leave-site-out: sites {names} and the context's {ctx.sites} differ")
    if held_out not in names:
        raise ConfigError(f"leave-site-out: no site {held_out!r} among {names}")
    k = names.index(held_out)
    sub = restrict(ctx, [n for n in names if n != held_out])
    mapping = SiteMap(sub, local, rules(sub))
    problem = MultiSiteProblem([s for s in sites if s.name != held_out],
                               entry_prior(mapping.entries, mapping.names), mapping=mapping)
    result = calibrate(problem) if calibrate is not None else minimise(problem, "lbfgsb")
    thetas = new_site_parameters(mapping, posterior_draws(result, n_draws, seed),
                                 restrict(ctx, [held_out]), seed=seed + 1)
    return {"score": score_site(sites[k], ctx.parameters[k], thetas, seed=seed + 2),
            "result": result, "problem": problem}


def format_leave_out(rows) -> str:
    """A text table of ``{label: score_site result}``."""
    lines = [f"{'pooling':<12}{'RMSE':>10}{'CRPS':>10}{'log pred. density':>20}{'failed':>8}"]
    for label, r in rows.items():
        lines.append(f"{label:<12}{r['rmse']:>10.4g}{r['crps']:>10.4g}{r['lpd']:>20.6g}"
                     f"{r['n_failed']:>8d}")
    return "\n".join(lines)
