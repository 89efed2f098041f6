"""MultiSiteProblem: closed-form linear-Gaussian posterior, gradient, cost decomposition,
executor-order independence, failures named by site, layout errors."""
import numpy as np
import pytest

import pdaframe
from pdaframe.problem.multisite import MultiSiteProblem, Site, layout
from pdaframe.parallel import SerialExecutor
from pdaframe.testing import check_gradient

SHARED, SPECIFIC = ["a", "b"], ["c", "d"]
# each site's model has its own parameter order; site "s3" has no "d"
SITE_PARAMS = {"s1": ["a", "b", "c", "d"], "s2": ["d", "c", "b", "a"], "s3": ["b", "c", "a"]}
# global order: shared, then each site's copies in the order of SPECIFIC (not the model's)
NAMES = ["a", "b", "c@s1", "d@s1", "c@s2", "d@s2", "c@s3"]


def linear_sites(seed=0, shift=None):
    """Three linear sites with full R and full B; returns sites, prior and the stacked
    linear model (H, offset, y, R, xb, B) in global coordinates.

    The data are drawn from a truth drawn from the prior, with noise from R; with ``shift``
    they are noise-free equivalents of ``xb + shift * N(0, I)`` instead.
    """
    rng = np.random.default_rng(seed)
    n = len(NAMES)
    a = rng.standard_normal((n, n))
    B = a @ a.T + 0.5 * n * np.eye(n)
    xb = 3.0 + rng.standard_normal(n)          # no mean near 0: rtol is meaningful
    truth = rng.multivariate_normal(xb, B) if shift is None else \
        xb + shift * rng.standard_normal(n)
    sites, blocks = [], []
    for k, (site, params) in enumerate(SITE_PARAMS.items()):
        m = 4 + 2 * k
        H = rng.standard_normal((m, len(params)))
        offset = rng.standard_normal(m)
        c = rng.standard_normal((m, m))
        R = 0.3 * c @ c.T / m + 0.2 * np.eye(m)
        full = np.zeros((m, n))                 # H in global coordinates
        for j, p in enumerate(params):
            full[:, NAMES.index(p if p in SHARED else f"{p}@{site}")] = H[:, j]
        y = full @ truth + offset
        if shift is None:
            y += rng.multivariate_normal(np.zeros(m), R)
        model = pdaframe.LinearModel(H, offset=offset, names=params)
        sites.append(Site(site, model, [pdaframe.DataStream("y", "y", y, covariance=R)]))
        blocks.append((full, offset, y, R))
    prior = pdaframe.GaussianPrior(xb, covariance=B, names=NAMES)
    H = np.vstack([b[0] for b in blocks])
    c = np.concatenate([b[1] for b in blocks])
    y = np.concatenate([b[2] for b in blocks])
    R = np.zeros((H.shape[0], H.shape[0]))
    i = 0
    for b in blocks:
        R[i:i + b[3].shape[0], i:i + b[3].shape[0]] = b[3]
        i += b[3].shape[0]
    return sites, prior, (H, c, y, R, xb, B)


def closed_form(stacked):
    H, c, y, R, xb, B = stacked
    A = np.linalg.inv(H.T @ np.linalg.solve(R, H) + np.linalg.inv(B))
    return xb + A @ H.T @ np.linalg.solve(R, y - c - H @ xb), A


def problem(seed=0, executor=None, shift=None):
    sites, prior, stacked = linear_sites(seed, shift)
    return MultiSiteProblem(sites, prior, SHARED, SPECIFIC, executor=executor), stacked


class ReversedExecutor:
    """Evaluates the sites last to first; returns the results in order (as `map` must)."""

    size, rank = 1, 0

    def __init__(self):
        self.calls = 0

    def map(self, func, items):
        items = list(items)
        out = [None] * len(items)
        for i in reversed(range(len(items))):
            out[i] = func(items[i])
        self.calls += 1
        return out


def test_posterior_covariance_adds_the_sites_hessian_blocks():
    # per site through the executor (no stacked Jacobian) = from the stacked Jacobian
    p, stacked = problem(2, executor=ReversedExecutor())
    theta = stacked[4] + 0.1
    cov = p.posterior_covariance(theta)
    np.testing.assert_allclose(cov, p.posterior_covariance(theta, p.jacobian(theta)),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cov, closed_form(stacked)[1], rtol=1e-10, atol=1e-14)
    assert p.executor.calls == 2


def test_layout_names_the_copies():
    p, _ = problem()
    assert p.parameter_names == NAMES
    assert p.parameter_sites == ["", "", "s1", "s1", "s2", "s2", "s3"]
    assert [s.name for s in p.streams] == ["s1_y", "s2_y", "s3_y"]
    assert [s.site for s in p.streams] == ["s1", "s2", "s3"]
    theta = np.arange(7.0)
    # site s2's model order is d, c, b, a
    np.testing.assert_array_equal(p.site_theta(theta, "s2"), [5.0, 4.0, 1.0, 0.0])
    np.testing.assert_array_equal(p.site_theta(theta, "s3"), [1.0, 6.0, 0.0])
    assert p.n_obs == 4 + 6 + 8 and p.n_param == 7


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lbfgsb_reproduces_the_stacked_closed_form(seed):
    # L-BFGS-B stops when J decreases by less than ftol * max(|J|, 1) (ftol = 1e-14), which
    # leaves ~sqrt(2 ftol max(J, 1)) in u: ~1e-7 for noisy data (J_min ~ 10), for a single
    # Problem just as well (next test). Noise-free data of a truth near xb (J_min < 1) and
    # means away from 0 bring the mean to 1e-8 (35 of 40 seeds; all within 2e-7).
    p, stacked = problem(seed, shift=0.3)
    mean, cov = closed_form(stacked)
    assert np.abs(mean - stacked[4]).min() > 1e-3         # the data move every parameter
    res = pdaframe.minimise(p, "lbfgsb")
    assert res.success
    np.testing.assert_allclose(res.x, mean, rtol=1e-8)
    np.testing.assert_allclose(res.posterior_covariance, cov, rtol=1e-8, atol=1e-14)
    assert res.parameter_names == NAMES
    # the Jacobian is the stacked H, block by block
    np.testing.assert_allclose(p.jacobian(res.x), stacked[0], atol=1e-12)
    np.testing.assert_allclose(p.jacobian(res.x, mode="adjoint"), stacked[0], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_noisy_data_match_the_stacked_single_site_problem(seed):
    p, stacked = problem(seed)
    mean, cov = closed_form(stacked)
    H, offset, y, R, xb, B = stacked
    single = pdaframe.Problem(pdaframe.LinearModel(H, offset=offset),
                              pdaframe.GaussianPrior(xb, covariance=B),
                              [pdaframe.DataStream("y", "y", y, covariance=R)])
    theta = xb + 0.1
    assert p.cost(theta) == pytest.approx(single.cost(theta), rel=1e-14)
    np.testing.assert_allclose(p.gradient(theta), single.gradient(theta), rtol=1e-13)
    res, ref = pdaframe.minimise(p, "lbfgsb"), pdaframe.minimise(single, "lbfgsb")
    np.testing.assert_allclose(res.x, mean, rtol=2e-6)
    np.testing.assert_allclose(res.x, ref.x, rtol=2e-6)
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)
    np.testing.assert_allclose(res.posterior_covariance, cov, rtol=1e-8, atol=1e-12)


def test_gradient_taylor_and_modes():
    p, _ = problem(3)
    theta = p.prior.mean + 0.3
    check_gradient(p, theta, rng=1)
    g = p.gradient(theta)
    np.testing.assert_allclose(p.gradient(theta, mode="tangent"), g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p.gradient(theta, mode="fd"), g, rtol=1e-5, atol=1e-6)


def test_cost_is_prior_plus_the_sites_observation_terms():
    p, _ = problem(4)
    sites, prior, _ = linear_sites(4)
    theta = prior.mean - 0.7
    jo = 0.0
    for site in sites:
        # each site's own Problem (any prior: only its observation terms are used)
        names = list(site.model.parameter_names)
        own = pdaframe.Problem(site.model, pdaframe.GaussianPrior(
            np.zeros(len(names)), std=np.ones(len(names)), names=names), site.streams)
        terms = own.cost_terms(p.site_theta(theta, site.name))
        jo += sum(v for k, v in terms.items() if k != "prior")
    expected = prior.cost(theta) + jo
    assert p.cost(theta) == pytest.approx(expected, rel=1e-14)
    terms = p.cost_terms(theta)
    assert list(terms) == ["prior", "s1_y", "s2_y", "s3_y"]
    assert sum(terms.values()) == pytest.approx(p.cost(theta), rel=1e-14)


def test_results_do_not_depend_on_the_executor_order():
    serial, _ = problem(5, SerialExecutor())
    rev_exec = ReversedExecutor()
    reverse, _ = problem(5, rev_exec)
    theta = serial.prior.mean + np.linspace(-1, 1, 7)
    assert serial.cost(theta) == reverse.cost(theta)
    assert np.array_equal(serial.gradient(theta), reverse.gradient(theta))
    assert np.array_equal(serial.jacobian(theta), reverse.jacobian(theta))
    a = pdaframe.minimise(serial, "lbfgsb")
    b = pdaframe.minimise(reverse, "lbfgsb")
    assert np.array_equal(a.x, b.x) and a.fun == b.fun and a.nit == b.nit
    assert np.array_equal(a.posterior_covariance, b.posterior_covariance)
    assert rev_exec.calls > 0


def test_runs_are_counted_over_sites_and_shared_by_cost_and_gradient():
    p, _ = problem(6)
    theta = p.prior.mean
    p.cost(theta)
    assert p.nrun == 3
    p.gradient(theta)                 # same theta: each site reuses its run
    assert p.nrun == 3 and p.nadjoint == 3
    p.cost(theta)                     # cached: no site evaluated
    assert p.nrun == 3
    counting = ReversedExecutor()
    p, _ = problem(6, counting)
    res = pdaframe.minimise(p, "lbfgsb", posterior=False)
    assert res.nfev % 3 == 0 and res.nfev <= 3 * res.njev    # one run per site and point
    # after the first point, one pass over the sites gives both cost and gradient
    assert counting.calls <= res.njev + 2
    p, _ = problem(6)
    res = pdaframe.minimise(p, "nelder-mead", posterior=False)
    assert p.nadjoint == 0 and p.ntangent == 0                          # no gradients
    # a site whose parameters did not change keeps its last run
    theta = p.prior.mean.copy()
    p.cost(theta)
    before = p.nrun
    theta[p.parameter_names.index("c@s1")] += 0.1
    p.cost(theta)
    assert p.nrun == before + 1


class Fragile:
    """Fails (like a pool going negative) when a > 1.5."""

    def __init__(self, names=("a", "b", "c")):
        self.parameter_names = names

    def run(self, th):
        if th[0] > 1.5:
            raise pdaframe.ModelError("pool 'x' negative at step 3", theta=th)
        return {"y": np.array([th[0], th[1], th[0] * th[2]])}

    def adjoint(self, th, d):
        y = d["y"]
        return np.array([y[0] + th[2] * y[2], y[1], th[0] * y[2]])


def fragile_problem(executor=None):
    good = pdaframe.LinearModel(np.eye(3), names=["a", "b", "c"])
    sites = [Site("good", good, [pdaframe.DataStream("y", "y", [1.0, 1.0, 1.0], std=0.1)]),
             Site("bad-site", Fragile(), [pdaframe.DataStream("y", "y", [3.0, 1.0, 3.0],
                                                              std=0.1)])]
    prior = pdaframe.GaussianPrior(np.zeros(4), std=np.full(4, 10.0))
    return MultiSiteProblem(sites, prior, ["a", "b"], ["c"], executor=executor)


@pytest.mark.parametrize("executor", [None, ReversedExecutor()])
def test_a_failing_site_is_a_model_error_naming_it(executor):
    p = fragile_problem(executor)
    theta = np.array([2.0, 0.0, 1.0, 1.0])
    with pytest.raises(pdaframe.ModelError, match="site 'bad-site': pool 'x' negative") as info:
        p.cost(theta)
    np.testing.assert_array_equal(info.value.theta, theta)
    with pytest.raises(pdaframe.ModelError, match="site 'bad-site'"):
        p.gradient(theta)
    assert np.isfinite(p.cost(np.zeros(4)))


def test_minimisers_reject_points_where_a_site_fails():
    p = fragile_problem()
    res = pdaframe.minimise(p, "lbfgsb", posterior=False)
    assert res.n_rejected > 0 and np.isfinite(res.fun)
    assert res.x[0] <= 1.5


def test_non_finite_site_output_names_the_site():
    class NaNModel(Fragile):
        def run(self, th):
            return {"y": np.array([th[0], np.nan, 1.0])}
    sites = [Site("x", NaNModel(), [pdaframe.DataStream("y", "y", [1.0, 1.0, 1.0], std=1.0)])]
    p = MultiSiteProblem(sites, pdaframe.GaussianPrior(np.zeros(3), std=np.ones(3)),
                         ["a", "b"], ["c"])
    with pytest.raises(pdaframe.ModelError, match="site 'x': model output 'y' is not finite"):
        p.cost(np.zeros(3))


def test_select_sites_gives_the_marginal_problem():
    p, _ = problem(7)
    one = p.select_sites(["s2"])
    assert one.parameter_names == ["a", "b", "c@s2", "d@s2"]
    idx = [p.parameter_names.index(n) for n in one.parameter_names]
    np.testing.assert_array_equal(one.prior.mean, p.prior.mean[idx])
    np.testing.assert_array_equal(one.prior.covariance, p.prior.covariance[np.ix_(idx, idx)])
    theta = p.prior.mean + 0.1
    jo_full = p.cost_terms(theta)["s2_y"]
    assert one.cost_terms(theta[idx])["s2_y"] == jo_full


@pytest.mark.parametrize("change, message", [
    (lambda s: s.append(Site("s1", s[0].model, s[0].streams)), "two sites are named 's1'"),
    (lambda s: s.__setitem__(0, Site("s 1", s[0].model, s[0].streams)), "name 's 1'"),
    (lambda s: s.__setitem__(0, Site("s1", pdaframe.LinearModel(np.eye(2), names=["a", "z"]),
                                     s[0].streams)), r"\['z'\] are neither shared"),
])
def test_layout_errors(change, message):
    sites, prior, _ = linear_sites()
    change(sites)
    with pytest.raises(pdaframe.ConfigError, match=message):
        MultiSiteProblem(sites, prior, SHARED, SPECIFIC)


def test_prior_must_cover_the_global_vector():
    sites, _, _ = linear_sites()
    with pytest.raises(pdaframe.ConfigError, match="prior has 2 parameters, the sites 7"):
        MultiSiteProblem(sites, pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0]), SHARED,
                         SPECIFIC)
    wrong = pdaframe.GaussianPrior(np.zeros(7), std=np.ones(7), names=NAMES[::-1])
    with pytest.raises(pdaframe.ConfigError, match="do not match the global vector"):
        MultiSiteProblem(sites, wrong, SHARED, SPECIFIC)
    with pytest.raises(pdaframe.ConfigError, match="both shared and site-specific"):
        layout(sites, ["a", "b", "c"], ["c", "d"])


def test_synthetic_noise_per_site_does_not_depend_on_the_site_order():
    sites, prior, _ = linear_sites(8)
    p = MultiSiteProblem(sites, prior, SHARED, SPECIFIC)
    twin = p.synthetic(prior.mean, seed=3)
    order = [2, 0, 1]
    names = [NAMES[i] for i in [0, 1, 6, 2, 3, 4, 5]]
    idx = [NAMES.index(n) for n in names]
    q = MultiSiteProblem([sites[i] for i in order], pdaframe.GaussianPrior(
        prior.mean[idx], covariance=prior.covariance[np.ix_(idx, idx)], names=names),
        SHARED, SPECIFIC)
    twin_q = q.synthetic(prior.mean[idx], seed=3)
    by_name = {s.name: s.values for s in twin_q.streams}
    truth_q = {s.name: s.truth_values for s in twin_q.streams}
    clean = p.equivalents(prior.mean)
    for s in twin.streams:
        np.testing.assert_array_equal(s.values, by_name[s.name])
        np.testing.assert_array_equal(s.truth_values, truth_q[s.name])
        np.testing.assert_allclose(s.truth_values, clean[s.name], rtol=1e-14)
        assert np.all(s.values != s.truth_values)           # noise was added
