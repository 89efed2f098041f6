"""Hierarchical multi-site DALEC2 twin: partial pooling scores left-out sites better than no
pooling and complete pooling.

Eight sites of a `pdaframe.sites.synthetic_network` built from US-Me2's 2004 drivers. Two
process parameters truly vary between sites (``c_eff``, ``f_auto``: drawn from
``N(mu, TAU^2)`` in their logit space, ``mu`` one prior ``SHIFT`` from the defaults); two
are shared (``theta``, ``theta_lit``, at their defaults); the rest are fixed at the truth.
Daily NEE with noise ``NOISE``. Each site in turn is left out; the other seven are
calibrated (L-BFGS-B MAP + 200 Laplace draws) with

* partial pooling: `Hierarchical` (``sigma0`` 0.3, ``log_sigma_std`` 0.5, ``mu_std`` 1),
* no pooling: `PerSite` copies (a new site gets its prior),
* complete pooling: `Shared` (one value for all sites),

and the left-out site is scored with its posterior predictive
(`pdaframe.analysis.leave_out`). Averaged over the eight, partial pooling has the best log
predictive density by a wide margin; its CRPS is far below no pooling's and about complete
pooling's (complete pooling wins on sites near the group mean and loses badly on the others;
the MAP spread is above the sites', see `pdaframe.problem.hierarchical`). About 30 s.
"""
import zlib

import numpy as np
import pytest

import pdaframe
from pdaframe.analysis.leave_out import (entry_prior, format_leave_out, leave_site_out,
                                         restrict)
from pdaframe.models.driver_file import DriverTable
from pdaframe.prior.transforms import ParameterTransform
from pdaframe.problem.hierarchical import Hierarchical
from pdaframe.problem.mapping import Fixed, MapContext, PerSite, Shared, SiteMap
from pdaframe.problem.multisite import MultiSiteProblem, Site
from pdaframe.sites import synthetic_network
from pdaframe.testing import check_gradient
from pdaframe_dalec2 import Dalec2, Drivers

VARY, SHARED = ["c_eff", "f_auto"], ["theta", "theta_lit"]
TAU, SHIFT, NOISE, N_SITES, N_DRAWS = 0.4, np.array([1.0, -1.0]), 0.3, 8, 200
KINDS = ("partial", "none", "complete")


@pytest.fixture(scope="module")
def twin(us_me2):
    return make_twin(us_me2)


def make_twin(us_me2):
    """The eight sites (`Site`s with synthetic NEE), their `MapContext`, local names, the
    true group mean and each site's true ``phi``."""
    days = slice(0, 366)                                         # 2004
    base = DriverTable(us_me2.time[days], {c: getattr(us_me2, c)[days] for c in
                                           ("t_min", "t_max", "t_mean", "sw")},
                       us_me2.latitude, -121.56, "US-Me2")
    net = synthetic_network(base, N_SITES, 7, lat_shift=(-5, 5), t_offset=(-2, 2))
    names = list(net.table.sites)
    models = [Dalec2(Drivers.from_table(net.drivers[s])) for s in names]
    local = list(models[0].parameter_names)
    entry = {p.name: {"mean": p.default, "std": p.std, "lower": p.lower, "upper": p.upper}
             for p in models[0].parameters}
    t = ParameterTransform([entry[n]["lower"] for n in VARY],
                           [entry[n]["upper"] for n in VARY], names=VARY)
    mu = t.to_phi([entry[n]["mean"] for n in VARY]) + SHIFT
    rng = np.random.default_rng(3)
    sites, phis = [], []
    for s, m in zip(names, models):
        phi = mu + TAU * rng.standard_normal(len(VARY))
        theta = np.array([entry[n]["mean"] for n in local])
        theta[[local.index(n) for n in VARY]] = t.to_theta(phi)
        template = [pdaframe.DataStream("nee", "nee", np.zeros(m.n), std=NOISE)]
        sites.append(Site(s, m, pdaframe.synthetic_streams(
            m, theta, template, [1, zlib.crc32(s.encode())])))
        phis.append(phi)
    ctx = MapContext(names, [dict(entry) for _ in names], net.table)
    return {"sites": sites, "ctx": ctx, "local": local, "mu": mu, "phi": np.array(phis)}


def _rules(kind, ctx, local):
    fixed = Fixed(ctx, [n for n in local if n not in VARY + SHARED])
    if kind == "partial":
        return [Hierarchical(ctx, VARY, mu_std=1.0, sigma0=0.3, log_sigma_std=0.5),
                Shared(ctx, SHARED), fixed]
    if kind == "none":
        return [PerSite(ctx, VARY), Shared(ctx, SHARED), fixed]
    return [Shared(ctx, VARY + SHARED), fixed]


def _problem(twin, kind, keep):
    ctx = restrict(twin["ctx"], keep)
    mapping = SiteMap(ctx, twin["local"], _rules(kind, ctx, twin["local"]))
    return MultiSiteProblem([s for s in twin["sites"] if s.name in keep],
                            entry_prior(mapping.entries, mapping.names), mapping=mapping)


def _map(problem):
    return pdaframe.minimise(problem, "lbfgsb", maxiter=3000, ftol=1e-9)


@pytest.fixture(scope="module")
def left_out(twin):
    """``{site: {kind: score}}``, each site left out in turn (`leave_site_out`)."""
    out = {}
    for held in twin["ctx"].sites:
        out[held] = {}
        for kind in KINDS:
            run = leave_site_out(twin["sites"], twin["ctx"], twin["local"],
                                 lambda c, kind=kind: _rules(kind, c, twin["local"]), held,
                                 calibrate=_map, n_draws=N_DRAWS, seed=3)
            assert run["result"].success, (held, kind, run["result"].message)
            out[held][kind] = run["score"]
    return out


def _mean(rows):
    return {kind: {key: float(np.mean([r[kind][key] for r in rows.values()]))
                   for key in ("rmse", "crps", "lpd")}
            | {"n_failed": sum(r[kind]["n_failed"] for r in rows.values())} for kind in KINDS}


@pytest.mark.slow        # 24 calibrations of 7 sites: 25-60 s by load
def test_partial_pooling_scores_left_out_sites_best(twin, left_out):
    for site, rows in left_out.items():
        phi = twin["phi"][twin["ctx"].sites.index(site)]
        print(f"\nleft out {site} (true phi - mu: {np.round(phi - twin['mu'], 2)})\n"
              f"{format_leave_out(rows)}")
    mean = _mean(left_out)
    print(f"\nmean over the {N_SITES} left-out sites\n{format_leave_out(mean)}")
    part, none, comp = (mean[k] for k in KINDS)
    assert part["n_failed"] == 0
    # log predictive density: partial pooling best, by a margin a broken predictive fails
    # (no spread: complete pooling's -1200; no transfer: no pooling's)
    assert part["lpd"] > none["lpd"] + 3.0
    assert part["lpd"] > comp["lpd"] + 100.0
    assert part["crps"] < 0.6 * none["crps"] and part["rmse"] < 0.6 * none["rmse"]
    assert part["crps"] < 1.1 * comp["crps"]
    # each site: partial pooling's density never far below the better of the other two
    for site, rows in left_out.items():
        assert rows["partial"]["lpd"] > max(rows["none"]["lpd"], rows["complete"]["lpd"]) - 5


def test_all_sites_recover_the_group_mean(twin):
    """Partial pooling on all eight sites: the group means within 2.5 posterior standard
    deviations of the sites' true mean (in phi), the spreads printed with the true one."""
    problem = _problem(twin, "partial", list(twin["ctx"].sites))
    res = _map(problem)
    rule = problem.mapping.rules[0]
    hyper = rule.hyper(res.x[:len(rule.entries)])[""]
    sd = res.posterior_std[:len(VARY)]
    truth = twin["phi"].mean(axis=0)
    print(f"\nmu {hyper['mu'].round(3)} +- {sd.round(3)} (sites' mean {truth.round(3)}); "
          f"sigma {hyper['sigma'].round(3)} (sites' sd {twin['phi'].std(axis=0, ddof=1).round(3)}"
          f", drawn with {TAU})")
    assert problem.parameter_names[:2] == ["mu(c_eff)", "mu(f_auto)"]
    assert np.all(np.abs(hyper["mu"] - truth) < 2.5 * sd)
    assert np.all(hyper["sigma"] > 0.3)              # sigma0; never below it at a MAP


def test_gradient_and_dot_product_through_the_hierarchy(twin):
    """DALEC2's adjoint carried back through the hierarchical mapping (logit transforms):
    the Taylor test of the multi-site gradient, and the dot product of one site's model
    composed with the mapping, ``<M' dx, D' w> = <dx, M'^T D'^T w>``, to 1e-12."""
    keep = list(twin["ctx"].sites[:4])
    problem = _problem(twin, "partial", keep)
    mapping = problem.mapping
    rng = np.random.default_rng(2)
    x = problem.prior.mean + 0.5 * problem.prior.std * rng.standard_normal(problem.n_param)
    assert check_gradient(problem, x).passed
    model = problem.sites[2].model
    dx = problem.prior.scale @ rng.standard_normal(problem.n_param)
    theta_k = mapping.values(x)[2]
    tl = model.tangent(theta_k, mapping.tangent(x, dx)[2], outputs=["nee", "lai"])
    w = {k: rng.standard_normal(v.shape) for k, v in tl.items()}
    grads = [np.zeros(theta_k.size) for _ in keep]
    grads[2] = model.adjoint(theta_k, w)
    lhs = sum(float(np.sum(w[k] * tl[k])) for k in w)
    rhs = float(mapping.adjoint(x, grads) @ dx)
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs), (lhs, rhs)
