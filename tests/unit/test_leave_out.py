"""Leave-site-out evaluation (`pdaframe.analysis.leave_out`) on linear-Gaussian sites: new-site
draws against the closed form, CRPS and log predictive density against their formulas, and
partial pooling scoring a held-out site better than no and complete pooling."""
import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.analysis.leave_out import (crps_ensemble, format_leave_out, leave_site_out,
                                         new_site_parameters, posterior_draws, restrict,
                                         score_site)
from pdaframe.errors import ConfigError
from pdaframe.problem.hierarchical import Hierarchical
from pdaframe.problem.mapping import Fixed, Grouped, MapContext, PerSite, Shared, SiteMap
from pdaframe.problem.multisite import MultiSiteProblem
from tests.unit.test_hierarchical import (B_STD, MU_STD, N_OBS, N_SITES, OBS_STD, _Table,
                                          _closed_form, _entry, _linear_sites, prior_of)


def _map(problem):
    return pdaframe.minimise(problem, "lbfgsb", ftol=1e-15, gtol=1e-12)


def _fit(sites, ctx, rules):
    mapping = SiteMap(ctx, ["a", "b"], rules)
    problem = MultiSiteProblem(sites, prior_of(mapping), mapping=mapping)
    return problem, _map(problem)


def test_new_site_draws_of_each_rule_against_the_closed_form():
    """Fixed spread, linear: the Laplace draws are the exact posterior, so a new site's
    ``a`` is ``N(E mu, var mu + sigma^2)`` and its ``b`` the posterior of ``b`` (20000 draws:
    means within 4.5 standard errors, variances within 5)."""
    sites, ctx, H = _linear_sites(N_SITES, N_OBS, 11, OBS_STD)
    problem, res = _fit(sites, ctx, [Hierarchical(ctx, ["a"], estimate_spread=False,
                                                  sigma0=0.7, mu_std=MU_STD),
                                     Shared(ctx, ["b"])])
    mean, cov, _ = _closed_form(H, [s.streams[0].values for s in sites], 0.7)
    new = MapContext(["new"], [{"a": _entry(0.0, 1.0), "b": _entry(0.0, B_STD)}])
    n = 20000
    theta = new_site_parameters(problem.mapping, res.posterior_sample(n, seed=1), new, seed=2)
    want_mean = np.array([mean[0], mean[-1]])
    want_var = np.array([cov[0, 0] + 0.7 ** 2, cov[-1, -1]])
    assert np.all(np.abs(theta.mean(0) - want_mean) < 4.5 * np.sqrt(want_var / n))
    assert np.all(np.abs(theta.var(0) - want_var) < 5 * want_var * np.sqrt(2 / n))
    # a broken predictive (eta left out: sigma not added) fails the variance check
    assert abs(cov[0, 0] - want_var[0]) > 5 * want_var[0] * np.sqrt(2 / n)

    # no pooling: a draw from the new site's own prior; fixed: its own default
    problem2, res2 = _fit(sites, ctx, [PerSite(ctx, ["a"]), Fixed(ctx, ["b"])])
    new = MapContext(["new"], [{"a": _entry(3.0, 0.5), "b": _entry(-2.0, 1.0)}])
    theta = new_site_parameters(problem2.mapping, res2.posterior_sample(n, seed=1), new)
    assert abs(theta[:, 0].mean() - 3.0) < 4.5 * 0.5 / np.sqrt(n)
    assert abs(theta[:, 0].std() - 0.5) < 0.02 and np.all(theta[:, 1] == -2.0)


def test_groups_of_a_new_site():
    names = [f"s{k}" for k in range(5)]
    table = _Table(names + ["new", "odd"], ["ev", "de", "ev", "de", "ev", "de", "xx"])
    params = [{"a": _entry(0.0, 1.0), "b": _entry(1.0, 1.0)} for _ in names]
    ctx = MapContext(names, params, table)
    mapping = SiteMap(ctx, ["a", "b"], [Hierarchical(ctx, ["a"], column="pft"),
                                        Grouped(ctx, ["b"], "pft")])
    x = np.zeros(mapping.n_param)
    x[mapping.names.index("mu(a)@pft=de")] = 5.0
    x[mapping.names.index("log_sigma(a)@pft=de")] = np.log(1e-9)
    x[mapping.names.index("b@pft=de")] = -3.0
    new = MapContext(["new"], [params[0]], table)
    np.testing.assert_allclose(new_site_parameters(mapping, [x], new), [[5.0, -3.0]],
                               atol=1e-8)
    odd = MapContext(["odd"], [params[0]], table)
    with pytest.raises(ConfigError, match=r"group pft='xx' has no calibration site"):
        new_site_parameters(mapping, [x], odd)
    assert restrict(ctx, ["s3", "s1"]).sites == ["s3", "s1"]


def test_crps_of_an_ensemble_against_the_gaussian_formula():
    rng = np.random.default_rng(0)
    y, mu, s = np.array([0.3, -1.0, 2.5]), 0.5, 0.8
    members = mu + s * rng.standard_normal((40000, 3))
    z = (y - mu) / s
    exact = s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(crps_ensemble(members, y), exact, rtol=0.02)
    np.testing.assert_allclose(crps_ensemble(np.full((5, 3), 1.0), y), np.abs(y - 1.0))


def test_score_of_one_draw_is_the_gaussian_log_density():
    sites, ctx, H = _linear_sites(2, 6, 4, 0.5)
    site, theta = sites[0], np.array([[0.7, -0.2]])
    r = score_site(site, ctx.parameters[0], theta)
    y = site.streams[0].values
    g = H[0] @ theta[0]
    assert r["lpd"] == pytest.approx(stats.norm(g, 0.5).logpdf(y).sum(), rel=1e-12)
    assert r["rmse"] == pytest.approx(np.sqrt(np.mean((g - y) ** 2)), rel=1e-12)
    assert r["n_obs"] == 6 and r["n_draws"] == 1 and r["n_failed"] == 0


def _pooling_scores(n_draws=300):
    """Leave each of 8 linear sites out in turn: calibrate on the other 7 with partial, no
    and complete pooling of ``a`` (``b`` shared) and score the held-out site."""
    sites, ctx, _ = _linear_sites(8, 10, 21, 0.3, spread=0.6)
    for p in ctx.parameters:                      # a prior mean far from the sites' 1.0
        p["a"] = _entry(-1.0, 1.5)
    rules = {"partial": lambda c: [Hierarchical(c, ["a"], mu_std=2.0, sigma0=0.5,
                                                log_sigma_std=0.5), Shared(c, ["b"])],
             "none": lambda c: [PerSite(c, ["a"]), Shared(c, ["b"])],
             "complete": lambda c: [Shared(c, ["a", "b"])]}
    return {label: [leave_site_out(sites, ctx, ["a", "b"], rule, held_out, calibrate=_map,
                                   n_draws=n_draws, seed=3)["score"]
                    for held_out in ctx.sites] for label, rule in rules.items()}


def test_partial_pooling_scores_held_out_sites_best():
    """Averaged over the 8 held-out sites, partial pooling has the highest log predictive
    density: no pooling predicts from the prior (wrong mean), complete pooling is
    overconfident (one value for sites that differ). A site close to the group mean may
    favour complete pooling, so the comparison is over all of them. The CRPS, less sensitive
    to the spread, is close for partial and complete pooling here (printed; the MAP's
    spread is above the sites', see `pdaframe.problem.hierarchical`), far below no
    pooling's."""
    rows = _pooling_scores()
    mean = {label: {key: float(np.mean([r[key] for r in rs])) for key in ("rmse", "crps", "lpd")}
            | {"n_failed": sum(r["n_failed"] for r in rs)} for label, rs in rows.items()}
    print("\nlinear sites, mean over 8 held-out sites\n" + format_leave_out(mean))
    part, none, comp = mean["partial"], mean["none"], mean["complete"]
    assert part["lpd"] > max(none["lpd"], comp["lpd"]) + 1.0
    assert part["crps"] < 0.5 * none["crps"] and part["rmse"] < 0.5 * none["rmse"]
    assert part["crps"] < 1.3 * comp["crps"]


def test_leave_site_out_checks_and_sample_draws():
    sites, ctx, _ = _linear_sites(4, 5, 2, 0.5)
    rules = lambda c: [Hierarchical(c, ["a"]), Shared(c, ["b"])]   # noqa: E731
    with pytest.raises(ConfigError, match="no site 'z'"):
        leave_site_out(sites, ctx, ["a", "b"], rules, "z")
    with pytest.raises(ConfigError, match="differ"):
        leave_site_out(sites[::-1], ctx, ["a", "b"], rules, "s1")
    samples = np.arange(2 * 5 * 3, dtype=float).reshape(2, 5, 3)
    draws = posterior_draws(pdaframe.SampleResult(samples=samples), 4)
    np.testing.assert_array_equal(draws, samples.reshape(10, 3)[[0, 3, 6, 9]])


def test_other_rules_predict_through_their_hook():
    from pdaframe.problem.mapping import Rule

    class Offset(Rule):                       # theta = x + 1 at every site
        def __init__(self, ctx):
            self.outputs = ["a"]
            self.entries = [{"name": "off", "mean": 0.0, "std": 1.0}]
            self.index = np.zeros((len(ctx.sites), 1), dtype=np.intp)

    class Predicting(Offset):
        def new_site_values(self, xs, ctx, rng):
            return xs + 1.0

    ctx = MapContext(["s0", "s1"], [{"a": _entry(0.0, 1.0), "b": _entry(0.0, 1.0)}] * 2)
    new = MapContext(["new"], [ctx.parameters[0]])
    draws = [[2.0, 5.0], [3.0, 6.0]]
    mapping = SiteMap(ctx, ["a", "b"], [Predicting(ctx), Shared(ctx, ["b"])])
    np.testing.assert_array_equal(new_site_parameters(mapping, draws, new),
                                  [[3.0, 5.0], [4.0, 6.0]])
    mapping = SiteMap(ctx, ["a", "b"], [Offset(ctx), Shared(ctx, ["b"])])
    with pytest.raises(ConfigError, match="a Offset rule .* has no new_site_values method"):
        new_site_parameters(mapping, draws, new)
