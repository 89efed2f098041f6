"""The parameter mapping of multi-site problems (pdaframe.problem.mapping): rules' values,
tangent and adjoint, and linear-Gaussian closed forms through MultiSiteProblem."""
import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError
from pdaframe.problem.mapping import (Fixed, Grouped, MapContext, PerSite, Scaled, Shared,
                                      SiteMap)
from pdaframe.problem.multisite import MultiSiteProblem, Site
from pdaframe.sites import SiteTable

LOCAL = ["a", "b", "c", "d", "e"]
SITES = ["s1", "s2", "s3", "s4", "s5"]
PFT = ["tree", "grass", "tree", "crop", "grass"]


def _ctx(rng=None):
    rng = rng or np.random.default_rng(0)
    table = SiteTable(tuple(SITES), {"site": np.array(SITES), "pft": np.array(PFT),
                                     "t": rng.normal(size=5)}, "sites.csv")
    params = [{n: {"name": n, "mean": float(rng.uniform(0.5, 2.0)), "std": 0.5,
                   "lower": -np.inf, "upper": np.inf} for n in LOCAL} for _ in SITES]
    return MapContext(list(SITES), params, table)


def _map(ctx, **scale):
    return SiteMap(ctx, LOCAL, [Shared(ctx, ["a"]), Grouped(ctx, ["b", "e"], "pft"),
                                Scaled(ctx, ["c"], "pft", **scale), Fixed(ctx, ["d"])])


def test_names_and_values_of_each_rule():
    ctx = _ctx()
    m = _map(ctx)
    assert m.names == ["a", "b@pft=tree", "b@pft=grass", "b@pft=crop", "e@pft=tree",
                       "e@pft=grass", "e@pft=crop", "scale(c)@pft=tree",
                       "scale(c)@pft=grass", "scale(c)@pft=crop"]
    x = np.arange(1.0, 11.0)
    vals = m.values(x)
    group = {"tree": 0, "grass": 1, "crop": 2}
    for k, p in enumerate(PFT):
        g = group[p]
        np.testing.assert_array_equal(vals[k], [1.0, 2.0 + g, (8.0 + g) * ctx.parameters[k]["c"]
                                                ["mean"], ctx.parameters[k]["d"]["mean"], 5.0 + g])
    assert m.index is None and m.parameter_sites == [""] * 10
    # a selection: index rules only
    sel = SiteMap(ctx, LOCAL, [Shared(ctx, ["a", "c"]), Grouped(ctx, ["b"], "pft"),
                               PerSite(ctx, ["d", "e"])])
    assert sel.index is not None
    x = np.random.default_rng(1).normal(size=sel.n_param)
    for k, v in enumerate(sel.values(x)):
        np.testing.assert_array_equal(v, x[sel.index[k]])
    assert sel.parameter_sites[-2:] == ["s5", "s5"] and sel.names[-1] == "e@s5"


@pytest.mark.parametrize("selection", [False, True])
def test_tangent_is_the_derivative_and_adjoint_its_transpose(selection):
    ctx = _ctx()
    m = SiteMap(ctx, LOCAL, [Shared(ctx, ["a"]), PerSite(ctx, LOCAL[1:])]) if selection \
        else _map(ctx)
    rng = np.random.default_rng(3)
    x, dx = rng.uniform(0.5, 1.5, m.n_param), rng.normal(size=m.n_param)
    tl = np.array(m.tangent(x, dx))
    h = 1e-6
    fd = (np.array(m.values(x + h * dx)) - np.array(m.values(x - h * dx))) / (2 * h)
    np.testing.assert_allclose(tl, fd, rtol=1e-8, atol=1e-10)
    g = rng.normal(size=tl.shape)
    lhs, rhs = np.sum(g * tl), m.adjoint(x, list(g)) @ dx
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    jac = np.array(m.site_jacobians(x))
    np.testing.assert_allclose(np.einsum("kij,j->ki", jac, dx), tl, rtol=1e-13, atol=1e-14)


def test_rules_refuse_bad_input():
    ctx = _ctx()
    with pytest.raises(ConfigError, match="set by two rules"):
        SiteMap(ctx, LOCAL, [Shared(ctx, LOCAL), Grouped(ctx, ["b"], "pft")])
    with pytest.raises(ConfigError, match=r"\['e'\] are set by no rule"):
        SiteMap(ctx, LOCAL, [Shared(ctx, LOCAL[:4])])
    with pytest.raises(ConfigError, match="no column 'soil'"):
        Grouped(ctx, ["b"], "soil")
    with pytest.raises(ConfigError, match="needs a site attribute table"):
        Grouped(MapContext(SITES, ctx.parameters), ["b"], "pft")
    ctx.parameters[2]["c"]["mean"] = 0.0
    with pytest.raises(ConfigError, match="default of 0"):
        Scaled(ctx, ["c"])
    with pytest.raises(ConfigError, match="lower < 1 < upper"):
        Scaled(_ctx(), ["c"], lower=1.0)
    other = MapContext(["s9"] + SITES[1:], ctx.parameters, ctx.table)
    with pytest.raises(ConfigError, match=r"\['s9'\] are not in the site table"):
        Grouped(other, ["b"], "pft")


def _linear_sites(ctx, rng):
    sites = []
    for s in ctx.sites:
        h = rng.normal(size=(6, len(LOCAL)))
        y = rng.normal(size=6)
        sites.append(Site(s, pdaframe.LinearModel(h, names=LOCAL),
                          [pdaframe.DataStream("y", "y", y, std=0.3)]))
    return sites


def test_grouped_and_scaled_problem_has_the_closed_form_posterior():
    """Groups and scalings are linear maps: with linear site models the posterior is the
    Gaussian A^-1 (B^-1 xb + sum_k M_k' H_k' R^-1 (y_k - H_k c_k)), A = B^-1 + sum_k ..."""
    rng = np.random.default_rng(7)
    ctx = _ctx(rng)
    mapping = _map(ctx, lower=-np.inf)      # no bound: the Gaussian closed form holds
    sites = _linear_sites(ctx, rng)
    e = mapping.entries
    prior = pdaframe.GaussianPrior([p["mean"] for p in e], std=[p["std"] for p in e],
                                   lower=[p["lower"] for p in e], upper=[p["upper"] for p in e],
                                   names=mapping.names)
    problem = MultiSiteProblem(sites, prior, mapping=mapping)
    x0 = prior.mean
    jacs = mapping.site_jacobians(x0)
    c = [np.array(v) - j @ x0 for v, j in zip(mapping.values(x0), jacs)]   # offsets (Fixed)
    binv = np.diag(1.0 / prior.std ** 2)
    a, b = binv.copy(), binv @ prior.mean
    for s, j, ck in zip(sites, jacs, c):
        h = s.model.matrix @ j
        a += h.T @ h / 0.09
        b += h.T @ (s.streams[0].values - s.model.matrix @ ck) / 0.09
    mean = np.linalg.solve(a, b)
    res = pdaframe.minimise(problem, "lbfgsb", gtol=1e-12, ftol=1e-15)
    np.testing.assert_allclose(res.x, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(problem.gradient(mean), 0.0, atol=1e-8)
    np.testing.assert_allclose(problem.data_hessian(mean) + binv, a, rtol=1e-12)
    np.testing.assert_allclose(problem.posterior_covariance(mean), np.linalg.inv(a),
                               rtol=1e-9)
    jac = problem.jacobian(mean)
    np.testing.assert_allclose(jac.T @ jac / 0.09 + binv, a, rtol=1e-12)


def test_gradient_through_the_map_matches_finite_differences():
    rng = np.random.default_rng(11)
    ctx = _ctx(rng)
    mapping = _map(ctx)
    e = mapping.entries
    prior = pdaframe.GaussianPrior([p["mean"] for p in e], std=[p["std"] for p in e],
                                   lower=[p["lower"] for p in e], upper=[p["upper"] for p in e],
                                   names=mapping.names)
    problem = MultiSiteProblem(_linear_sites(ctx, rng), prior, mapping=mapping)
    x = prior.mean * 1.1
    g = problem.gradient(x)
    h = 1e-6
    fd = [(problem.cost(x + h * ei) - problem.cost(x - h * ei)) / (2 * h)
          for ei in np.eye(x.size)]
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    # a site's theta and the synthetic problem go through the map
    np.testing.assert_array_equal(problem.site_theta(x, "s3"), mapping.values(x)[2])
    twin = problem.synthetic(x, seed=1)
    assert twin.mapping is mapping
    with pytest.raises(ConfigError, match="parameter mapping"):
        problem.select_sites(["s1"])
    assert [p.name for p in problem.parameters] == mapping.names
    assert problem.parameters[-1].long_name == "scaling factor of c"
