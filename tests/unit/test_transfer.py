"""Transfer functions (`pdaframe.problem.transfer.Transfer`): a linear map and a small MLP from
site attributes to site parameters through the bound transforms, with hand-written tangent
and adjoint.

Checked: the background (zero output layer) gives every site its own default; names; the
standardisation over the whole table (a subset of sites gets the same function); values stay
inside the bounds; Taylor (second order over >= 4 decades) and dot product (<= 1e-12) on
random attributes with logit, log, neglog and identity outputs, and both checks failing on
a broken tangent/adjoint; the gradient of a MultiSiteProblem of linear models through the
transfer function against central finite differences and `check_gradient`; bad options,
each a named ConfigError.
"""
from types import MappingProxyType

import numpy as np
import pytest

import pdaframe
from pdaframe.builtin import gaussian_family
from pdaframe.errors import ConfigError
from pdaframe.problem.mapping import MapContext, Shared, SiteMap
from pdaframe.problem.multisite import MultiSiteProblem, Site
from pdaframe.problem.transfer import Transfer
from pdaframe.sites import SiteTable
from pdaframe.testing import check_gradient, taylor_test

OUTPUTS = ["p", "q", "r", "s"]          # logit, log, identity, neglog


def context(n=9, seed=1, sites=None):
    """``n`` sites with random attributes and per-site defaults; ``sites``: a subset."""
    rng = np.random.default_rng(seed)
    names = [f"s{k}" for k in range(n)]
    table = SiteTable(tuple(names), MappingProxyType({
        "site": np.array(names), "lat": rng.uniform(30.0, 60.0, n),
        "temp": rng.normal(10.0, 3.0, n), "elev": rng.uniform(0.0, 2000.0, n),
        "const": np.full(n, 4.0)}), "sites.csv")
    params = [{"p": {"mean": rng.uniform(0.2, 0.6), "std": 0.1, "lower": 0.0, "upper": 1.0},
               "q": {"mean": rng.uniform(1.0, 3.0), "std": 1.0, "lower": 0.5,
                     "upper": np.inf},
               "r": {"mean": rng.normal(), "std": 1.0, "lower": -np.inf, "upper": np.inf},
               "s": {"mean": rng.uniform(-2.0, 0.0), "std": 1.0, "lower": -np.inf,
                     "upper": 1.0},
               "c": {"mean": 0.5, "std": 1.0, "lower": -np.inf, "upper": np.inf}}
              for _ in range(n)]
    chosen = names if sites is None else sites
    return MapContext(chosen, [params[names.index(s)] for s in chosen], table)


KINDS = {"linear": {"kind": "linear"}, "mlp": {"kind": "mlp", "hidden": [6, 4]}}


def transfer(ctx, which, **options):
    return Transfer(ctx, OUTPUTS, ["lat", "temp", "elev"], **{**KINDS[which], **options})


def mean(rule):
    return np.array([e["mean"] for e in rule.entries])


def defaults(ctx, outputs=OUTPUTS):
    return np.array([[p[n]["mean"] for n in outputs] for p in ctx.parameters])


@pytest.mark.parametrize("which", ["linear", "mlp"])
def test_background_gives_each_site_its_default(which):
    ctx = context()
    rule = transfer(ctx, which)
    np.testing.assert_allclose(rule.values(mean(rule)), defaults(ctx), rtol=1e-14,
                               atol=1e-15)
    n_w = 3 * 4 + 4 if which == "linear" else (3 * 6 + 6) + (6 * 4 + 4) + (4 * 4 + 4)
    assert len(rule.entries) == n_w
    e = {d["name"]: d for d in rule.entries}
    assert all(d["std"] == 1.0 and d["transform"] == "identity" and d["lower"] == -np.inf
               for d in rule.entries)
    if which == "linear":
        assert list(e)[:4] == ["tf1.W1[p,lat]", "tf1.W1[p,temp]", "tf1.W1[p,elev]",
                               "tf1.W1[q,lat]"]
        assert list(e)[-4:] == ["tf1.b1[p]", "tf1.b1[q]", "tf1.b1[r]", "tf1.b1[s]"]
        assert all(d["mean"] == 0.0 for d in rule.entries)
    else:
        hidden = [d["mean"] for n, d in e.items() if n.startswith(("tf1.W1", "tf1.W2"))]
        assert len(hidden) == 3 * 6 + 6 * 4 and np.all(np.abs(hidden) > 0)
        limit = np.sqrt(6.0 / (3 + 6))                 # Glorot bound of layer 1
        assert max(abs(e[f"tf1.W1[h{i},lat]"]["mean"]) for i in range(6)) <= limit
        assert e["tf1.W3[s,h3]"]["mean"] == 0.0 and e["tf1.b1[h0]"]["mean"] == 0.0
        assert "tf1.W2[h3,h5]" in e and "tf1.b3[p]" in e
        # the seed fixes the draw; another seed another one
        assert mean(transfer(ctx, which)).tolist() == mean(rule).tolist()
        assert not np.array_equal(mean(transfer(ctx, which, seed=5)), mean(rule))
        # not a saddle: the output layer's gradient at the background is not zero
        out = np.zeros(len(rule.entries))
        rule.adjoint(mean(rule), np.ones((9, 4)), out)
        names = list(e)
        assert np.abs(out[names.index("tf1.W3[p,h0]")]) > 1e-3


@pytest.mark.parametrize("which", ["linear", "mlp"])
def test_a_subset_of_sites_gets_the_same_function(which):
    """Standardised over the whole table: held-out sites get what the full set gets."""
    full = transfer(context(), which)
    part = full.for_sites(context(sites=["s7", "s2", "s4"]))
    x = mean(full) + 0.4 * np.random.default_rng(3).standard_normal(len(full.entries))
    np.testing.assert_array_equal(part.values(x), full.values(x)[[7, 2, 4]])
    assert [e["name"] for e in part.entries] == [e["name"] for e in full.entries]


@pytest.mark.parametrize("which", ["linear", "mlp"])
def test_values_stay_inside_the_bounds(which):
    ctx = context()
    rule = transfer(ctx, which)
    v = rule.values(mean(rule) + 3.0 * np.random.default_rng(4).standard_normal(
        len(rule.entries)))
    assert np.all((v[:, 0] > 0) & (v[:, 0] < 1) & (v[:, 1] > 0.5) & (v[:, 3] < 1.0))
    assert np.abs(v - defaults(ctx)).min() > 1e-6        # every value moved


@pytest.mark.parametrize("which", ["linear", "mlp"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_taylor_and_dot_product(which, seed):
    ctx = context(seed=seed + 10)
    rule = transfer(ctx, which, seed=seed)
    rng = np.random.default_rng(seed)
    x = mean(rule) + 0.5 * rng.standard_normal(len(rule.entries))
    h = rng.standard_normal(x.size)
    rep = taylor_test(lambda w: rule.values(w).ravel(),
                      lambda w, d: rule.tangent(w, d).ravel(), x, h)
    assert rep.passed and rep.decades >= 4, str(rep)
    assert _dot_mismatch(rule, x, rng) <= 1e-12


def _dot_mismatch(rule, x, rng):
    dx, g = rng.standard_normal(x.size), rng.standard_normal(rule.phi0.shape)
    out = np.full(x.size, 0.0)
    rule.adjoint(x, g, out)
    lhs, rhs = float(np.sum(rule.tangent(x, dx) * g)), float(dx @ out)
    return abs(lhs - rhs) / max(abs(lhs), abs(rhs))


def test_the_checks_fail_on_a_broken_derivative():
    ctx = context()
    rule = transfer(ctx, "mlp")
    x = mean(rule) + 0.5 * np.random.default_rng(0).standard_normal(len(rule.entries))
    h = np.random.default_rng(1).standard_normal(x.size)
    bad = lambda w, d: (rule.tangent(w, d) * 1.001).ravel()     # noqa: E731
    rep = taylor_test(lambda w: rule.values(w).ravel(), bad, x, h)
    assert not rep.passed
    adjoint = rule.adjoint

    def wrong(w, g, out):                      # the adjoint of another point
        adjoint(w + 0.1, g, out)
    rule.adjoint = wrong
    assert _dot_mismatch(rule, x, np.random.default_rng(2)) > 1e-4


def linear_problem(which, n=9, seed=0):
    """Sites with linear models of (p, q, r, s, c): the transfer function gives p, q, r, s
    and c is shared; synthetic data from a transfer function of known weights."""
    ctx = context(n, seed=seed + 20)
    rule = transfer(ctx, which, weight_std=0.5)
    local = OUTPUTS + ["c"]
    mapping = SiteMap(ctx, local, [rule, Shared(ctx, ["c"])])
    rng = np.random.default_rng(seed)
    sites = []
    for k, name in enumerate(ctx.sites):
        H = rng.normal(size=(6, len(local)))
        sites.append(Site(name, pdaframe.LinearModel(H, names=local),
                          [pdaframe.DataStream("y", "y", rng.normal(size=6), std=0.3)]))
    prior = gaussian_family(mapping.entries)
    problem = MultiSiteProblem(sites, prior, mapping=mapping)
    truth = prior.mean + 0.4 * rng.standard_normal(prior.n)
    return problem.synthetic(truth, seed), truth


@pytest.mark.parametrize("which", ["linear", "mlp"])
def test_multisite_gradient_through_the_transfer_function(which):
    problem, truth = linear_problem(which)
    assert problem.n_param == len(problem.mapping.rules[0].entries) + 1
    assert problem.parameter_names[-1] == "c" and problem.parameter_names[0] == "tf1.W1[" + (
        "p,lat]" if which == "linear" else "h0,lat]")
    x = truth + 0.2 * np.random.default_rng(7).standard_normal(problem.n_param)
    g = problem.gradient(x)
    fd = np.empty_like(g)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = 1e-5
        fd[i] = (problem.cost(x + e) - problem.cost(x - e)) / 2e-5
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.abs(g).max())
    rep = check_gradient(problem, x)
    assert rep.decades >= 4
    # the Jacobian through the mapping agrees with the gradient (Gauss-Newton pieces)
    jac = problem.jacobian(x)
    assert jac.shape == (problem.n_obs, problem.n_param)


def test_calibration_recovers_a_linear_transfer_function():
    """Nine sites, a linear map of 3 attributes to 4 parameters (+1 shared): well
    determined, so 4D-Var recovers the weights' site values closely."""
    problem, truth = linear_problem("linear", n=9, seed=3)
    res = pdaframe.minimise(problem, "lbfgsb", maxiter=500)
    got = np.array(problem.mapping.values(res.x))
    want = np.array(problem.mapping.values(truth))
    start = np.array(problem.mapping.values(problem.prior.mean))
    err, err0 = np.abs(got - want).mean(), np.abs(start - want).mean()
    print(f"linear transfer, 9 sites: mean |theta - truth| {err:.4f} (background {err0:.4f})")
    assert err < 0.3 * err0


def test_leave_site_out_predicts_the_new_site_with_the_function():
    """`pdaframe.analysis.leave_out` through a transfer function: the left-out site's draws
    are the function at its attributes for each draw of the weights, and its predictive
    beats the defaults' on the left-out site's observations."""
    from pdaframe.analysis.leave_out import leave_site_out, new_site_parameters, restrict
    problem, truth = linear_problem("linear", n=9, seed=3)
    ctx, local = problem.mapping.ctx, problem.mapping.local

    def rules(c):
        return [transfer(c, "linear", weight_std=0.5), Shared(c, ["c"])]
    out = leave_site_out(problem.sites, ctx, local, rules, "s4", n_draws=40, seed=1)
    sub = out["problem"]
    assert "s4" not in sub.site_names and sub.n_param == problem.n_param
    draws = out["result"].posterior_sample(5, seed=2)
    thetas = new_site_parameters(sub.mapping, draws, restrict(ctx, ["s4"]))
    full = transfer(ctx, "linear", weight_std=0.5)
    n_w = len(full.entries)
    want = np.array([full.values(x[:n_w])[4] for x in draws])
    np.testing.assert_allclose(thetas[:, :4], want, rtol=1e-14)
    np.testing.assert_array_equal(thetas[:, 4], draws[:, n_w])
    from pdaframe.analysis.leave_out import score_site
    default = score_site(problem.sites[4], ctx.parameters[4],
                         [[ctx.parameters[4][n]["mean"] for n in local]])
    print(f"left-out s4: RMSE {out['score']['rmse']:.3f} (defaults {default['rmse']:.3f})")
    assert out["score"]["rmse"] < 0.5 * default["rmse"]


@pytest.mark.parametrize("change, message", [
    ({"inputs": ["lat", "nope"]}, "no column 'nope'"),
    ({"inputs": ["lat", "const"]}, "'const' of sites.csv is constant"),
    ({"inputs": []}, "inputs must be a non-empty list"),
    ({"outputs": []}, "outputs must be a non-empty list"),
    ({"inputs": ["lat", "lat"]}, "inputs lists ['lat'] twice"),
    ({"kind": "mlp", "hidden": [4, 0]}, "hidden must be a list of layer sizes >= 1"),
    ({"kind": "mlp", "hidden": [2.5]}, "hidden must be a list of layer sizes >= 1"),
    ({"kind": "mlp"}, "needs hidden layer sizes"),
    ({"kind": "linear", "hidden": [3]}, "has no hidden layers"),
    ({"kind": "cubic"}, "kind 'cubic' unknown"),
    ({"weight_std": 0.0}, "weight_std must be a number > 0"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"name": "tf 1"}, "transfer function name 'tf 1'"),
])
def test_bad_options_are_named_errors(change, message):
    options = {"outputs": OUTPUTS, "inputs": ["lat", "temp"], **change}
    with pytest.raises(ConfigError) as err:
        Transfer(context(), **options)
    assert message in str(err.value)


def test_bad_contexts_are_named_errors():
    ctx = context()
    with pytest.raises(ConfigError, match="needs a site attribute table"):
        Transfer(MapContext(ctx.sites, ctx.parameters), ["p"], ["lat"])
    with pytest.raises(ConfigError, match=r"not in the site table"):
        Transfer(MapContext(["s1", "zz"], ctx.parameters[:2], ctx.table), ["p"], ["lat"])
    with pytest.raises(ConfigError, match=r"output\(s\) \['zz'\] have no per-site entry"):
        Transfer(ctx, ["p", "zz"], ["lat"])
    ctx.parameters[3]["p"] = {**ctx.parameters[3]["p"], "mean": 1.0}
    with pytest.raises(ConfigError, match=r"'p at site s3' = 1.0 is not strictly inside"):
        Transfer(ctx, ["p"], ["lat"])
