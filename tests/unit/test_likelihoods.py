"""The likelihood library (issue 17 item 1): densities against scipy, cost and gradient
(Taylor), the Gaussian default bit for bit, the Problem's gradient with hyperparameters, and
bad input."""
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.error_models import ExponentialCorrelation
from pdaframe.observations.likelihoods import LIKELIHOODS, make_likelihood
from pdaframe.problem.layout import likelihood_parameters
from tests.models import TRUTH, Decay, decay_problem

RNG = np.random.default_rng(7)
N = 12
STD = np.linspace(0.5, 1.4, N)
Y = RNG.normal(2.0, 3.0, N)
R = RNG.standard_normal(N) * STD


def _stream(weight=1.0, times=None, **error):
    error = error or {"std": STD}
    s = pdaframe.DataStream("y", "y", Y, times=times, weight=weight, **error)
    return s


def _bound(name, options, weight=1.0, **stream):
    s = _stream(weight, **stream)
    return make_likelihood(name, options, "stream 'y'").bind(s)


# every likelihood with all it can estimate, and a point h (theta units)
CASES = {
    "gaussian": ({"estimate": ["sigma_scale"]}, [math.log(1.7)]),
    "student-t": ({"estimate": ["sigma_scale", "nu"]}, [math.log(0.8), 4.5]),
    "laplace": ({"estimate": ["sigma_scale"]}, [math.log(1.3)]),
    "ar1": ({"estimate": ["sigma_scale", "rho"]}, [math.log(1.2), -0.6]),
    "heteroscedastic": ({"estimate": ["sigma_scale", "sigma_a", "sigma_r"],
                         "priors": {"sigma_a": {"mean": 0.0, "std": 1.0}}},
                        [math.log(0.9), math.log(0.4), math.log(0.15)]),
}


def test_registry_names():
    assert sorted(LIKELIHOODS) == ["ar1", "discrepancy", "gaussian", "heteroscedastic", "laplace",
                                   "student-t"]


@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_log_density_equals_scipy(weight):
    sw = math.sqrt(weight)
    # gaussian, sigma_scale s: N(0, s^2 R / w), for diagonal, dense and exponential R
    t = np.arange(N)
    corr = np.exp(-np.abs(t[:, None] - t) / 2.5)
    for error, cov in [({"std": STD}, np.diag(STD ** 2)),
                       ({"covariance": STD[:, None] * STD * corr}, STD[:, None] * STD * corr),
                       ({"std": STD, "correlation": ExponentialCorrelation(2.5)},
                        STD[:, None] * STD * corr)]:
        lik = _bound("gaussian", CASES["gaussian"][0], weight, **error)
        exact = stats.multivariate_normal(np.zeros(N), 1.7 ** 2 * cov / weight).logpdf(R)
        assert lik.log_density(R, [math.log(1.7)]).sum() == pytest.approx(exact, rel=1e-12)
    # student-t: std s sigma / sqrt(w), so scale tau = that * sqrt((nu - 2) / nu)
    lik = _bound("student-t", CASES["student-t"][0], weight)
    s, nu = 0.8, 4.5
    tau = s * STD / sw * math.sqrt((nu - 2) / nu)
    np.testing.assert_allclose(lik.log_density(R, [math.log(s), nu]),
                               stats.t.logpdf(R, df=nu, scale=tau), rtol=1e-12, atol=0)
    # laplace: b = s sigma / sqrt(2 w)
    lik = _bound("laplace", CASES["laplace"][0], weight)
    np.testing.assert_allclose(lik.log_density(R, [math.log(1.3)]),
                               stats.laplace.logpdf(R, scale=1.3 * STD / sw / math.sqrt(2)),
                               rtol=1e-12, atol=0)
    # heteroscedastic: sigma_i = s (a + b |y_i|) / sqrt(w)
    lik = _bound("heteroscedastic", CASES["heteroscedastic"][0], weight)
    sig = 0.9 * (0.4 + 0.15 * np.abs(Y)) / sw
    np.testing.assert_allclose(lik.log_density(R, CASES["heteroscedastic"][1]),
                               stats.norm.logpdf(R, scale=sig), rtol=1e-12, atol=0)


@pytest.mark.parametrize("rho", [-0.6, 0.0, 0.45, 0.9])
def test_ar1_log_density_equals_multivariate_normal_with_gaps(rho):
    # times in steps of 3 with gaps, unsorted, and two missing values
    times = np.array([0, 3, 6, 15, 18, 9, 27, 30, 33, 21, 36, 45])
    values = Y.copy()
    values[[4, 9]] = np.nan
    s = pdaframe.DataStream("y", "y", values, times=times, std=STD, weight=2.0)
    lik = make_likelihood("ar1", {"estimate": ["sigma_scale", "rho"]}).bind(s)
    k = times[s.mask] / 3.0
    sig = 1.2 * STD[s.mask] / math.sqrt(2.0)
    cov = sig[:, None] * sig * rho ** np.abs(k[:, None] - k)
    r = R[s.mask]
    exact = stats.multivariate_normal(np.zeros(r.size), cov).logpdf(r)
    pointwise = lik.log_density(r, [math.log(1.2), rho])
    assert pointwise.sum() == pytest.approx(exact, rel=1e-12)
    first = int(np.argmin(k))            # the earliest observation: its marginal density
    assert pointwise[first] == pytest.approx(stats.norm.logpdf(r[first], scale=sig[first]),
                                             rel=1e-12)


def test_ar1_with_fixed_positive_rho_is_the_exponential_covariance():
    rho = 0.7
    lik = _bound("ar1", {"rho": rho}, times=np.arange(N) * 2)
    exp = _bound("gaussian", {}, times=np.arange(N) * 2, std=STD,
                 correlation=ExponentialCorrelation(-2.0 / math.log(rho)))
    assert lik.cost(R, []) == pytest.approx(exp.cost(R, []), rel=1e-12)
    np.testing.assert_allclose(lik.log_density(R, []), exp.log_density(R, []), rtol=1e-12)
    np.testing.assert_allclose(lik.cost_gradient(R, [])[0], exp.cost_gradient(R, [])[0],
                               rtol=1e-11)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cost_is_minus_log_density_up_to_a_constant(name):
    options, h = CASES[name]
    lik = _bound(name, options)
    h2 = np.array(h) + 0.1 * np.array([1, -1, 1][:len(h)])
    r2 = R * 0.7 + 0.05
    const = [lik.cost(r, hh) + lik.log_density(r, hh).sum() for r, hh in [(R, h), (r2, h2)]]
    assert const[0] == pytest.approx(const[1], rel=1e-12, abs=1e-10)
    # fixed hyperparameters: the cost drops the normalising terms
    fixed = _bound(name, {k: v for k, v in {"rho": 0.3, "nu": 5.0}.items()
                          if k in {hh.name for hh in type(lik).HYPERS}})
    assert fixed.parameters == ()
    c = [fixed.cost(r, []) + fixed.log_density(r, []).sum() for r in (R, r2)]
    assert c[0] == pytest.approx(c[1], rel=1e-12)


def taylor_orders(f, grad, x, d, eps=(1e-2, 1e-3, 1e-4)):
    """Orders of convergence of ``|f(x + e d) - f(x) - e g.d|`` between successive ``eps``."""
    f0, slope = f(x), grad(x) @ d
    rem = [abs(f(x + e * d) - f0 - e * slope) for e in eps]
    return [math.log10(a / b) for a, b in zip(rem, rem[1:])], rem


@pytest.mark.parametrize("name", sorted(CASES))
def test_cost_gradient_taylor(name):
    options, h = CASES[name]
    lik = _bound(name, options, weight=1.5)
    x = np.r_[R, h]
    if name == "laplace":                      # away from the kink at r = 0
        x[:N] = np.where(np.abs(x[:N]) < 0.3, 0.3, x[:N])

    def f(x):
        return lik.cost(x[:N], x[N:])

    def g(x):
        return np.concatenate(lik.cost_gradient(x[:N], x[N:]))

    d = np.random.default_rng(3).standard_normal(x.size) * 0.1
    orders, rem = taylor_orders(f, g, x, d)
    assert min(orders) > 1.9, (orders, rem)


def test_taylor_check_fails_on_a_wrong_hyperparameter_gradient(monkeypatch):
    """The check above can fail: a 1 % error in d cost / d nu makes it first order."""
    options, h = CASES["student-t"]
    lik = _bound("student-t", options)
    x = np.r_[R, h]
    right = type(lik).cost_gradient

    def wrong(self, r, hh):
        dr, dh = right(self, r, hh)
        return dr, dh * [1.0, 1.01]

    monkeypatch.setattr(type(lik), "cost_gradient", wrong)
    d = np.zeros(x.size)
    d[-1] = 1.0
    orders, _ = taylor_orders(lambda x: lik.cost(x[:N], x[N:]),
                              lambda x: np.concatenate(lik.cost_gradient(x[:N], x[N:])), x, d)
    assert orders[-1] < 1.2


def _problem(name, options, n=80, model=None):
    model = model or Decay(n)
    rng = np.random.default_rng(11)
    out = model.run(TRUTH)
    s = pdaframe.DataStream("y", "y", out["y"] + 0.1 * rng.standard_normal(n), std=0.1)
    z = pdaframe.DataStream("z", "z", out["z"].reshape(-1) + 0.05, std=0.2,
                            operator=pdaframe.plugin.Identity("z"), weight=0.5)
    s.likelihood = make_likelihood(name, options, "stream 'y'")
    hyper = likelihood_parameters([s, z])
    mean = [0.1, 3.0, 0.5] + [p.default for _, p in hyper]
    std = [0.1, 1.0, 0.5] + [p.std for _, p in hyper]
    lower = [-np.inf] * 3 + [p.lower for _, p in hyper]
    upper = [np.inf] * 3 + [p.upper for _, p in hyper]
    prior = pdaframe.GaussianPrior(mean, std=std, lower=lower, upper=upper)
    return pdaframe.Problem(model, prior, [s, z])


@pytest.mark.parametrize("name", sorted(CASES))
def test_problem_gradient_with_hyperparameters(name):
    options, h = CASES[name]
    problem = _problem(name, options)
    assert problem.parameter_names[:3] == ["k", "c0", "a"]
    assert problem.parameter_names[3:] == [f"y:{p.name}" for p in problem.likelihoods[0]
                                           .parameters]
    x = np.r_[0.13, 3.7, 0.6, h]
    g = problem.gradient(x, mode="adjoint")
    np.testing.assert_allclose(problem.gradient(x, mode="tangent"), g, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(problem.gradient(x, mode="fd"), g, rtol=2e-3,
                               atol=2e-5 * np.abs(g).max())
    d = np.random.default_rng(5).standard_normal(x.size) * np.r_[0.01, 0.1, 0.05,
                                                                   0.1 * np.ones(len(h))]
    orders, rem = taylor_orders(problem.cost, lambda t: problem.gradient(t, mode="adjoint"),
                                x, d)
    assert min(orders) > 1.9, (orders, rem)
    # the observation term is the likelihood's, the prior term unchanged
    terms = problem.cost_terms(x)
    assert terms["y"] == pytest.approx(problem.likelihoods[0].cost(
        problem.observation_vector(x)[:80] - problem.streams[0].observed, h), rel=1e-13)
    ll = problem.log_likelihood(x, pointwise=True)
    assert ll.shape == (problem.n_obs,)
    assert ll[:80].sum() == pytest.approx(problem.likelihoods[0].log_density(
        problem.observation_vector(x)[:80] - problem.streams[0].observed, h).sum(), rel=1e-13)


def test_gaussian_default_is_bit_identical():
    plain = decay_problem()
    explicit = decay_problem()
    for s in explicit.streams:
        s.likelihood = make_likelihood("gaussian")
    explicit = pdaframe.Problem(explicit.model, explicit.prior, explicit.streams)
    assert all(lik.gaussian and lik.parameters == () for lik in explicit.likelihoods)
    for x in (np.array([0.12, 3.5, 0.7]), np.array([0.2, 4.4, 0.9])):
        assert explicit.cost(x) == plain.cost(x)
        for mode in ("adjoint", "tangent", "fd"):
            assert np.array_equal(explicit.gradient(x, mode), plain.gradient(x, mode))
        assert np.array_equal(explicit.log_likelihood(x, True), plain.log_likelihood(x, True))
        assert np.array_equal(explicit.posterior_covariance(x), plain.posterior_covariance(x))


def test_laplace_posterior_uses_the_cost_hessian():
    """With hyperparameters the Laplace covariance is the inverse Hessian of J."""
    problem = _problem("gaussian", CASES["gaussian"][0])
    x = np.r_[0.15, 4.0, 0.8, 0.0]
    cov = problem.posterior_covariance(x)
    eps = 1e-4
    hess = np.empty((4, 4))
    for j in range(4):
        e = np.zeros(4)
        e[j] = eps
        hess[:, j] = (problem.gradient(x + e) - problem.gradient(x - e)) / (2 * eps)
    np.testing.assert_allclose(cov, np.linalg.inv(0.5 * (hess + hess.T)), rtol=1e-5)
    # d2 J / d(log s)^2 at the data's own scale: 2 * (data term) * 2 = 2 n_y
    n_y = problem.streams[0].n_valid
    assert hess[3, 3] == pytest.approx(4 * problem.cost_terms(x)["y"] + 1.0, rel=1e-5)
    assert hess[3, 3] > n_y


def test_twin_noise_comes_from_the_likelihood():
    problem = _problem("ar1", {"rho": 0.8, "sigma_scale": 2.0}, n=2000)
    twin = problem.synthetic(TRUTH, seed=3)
    s = twin.streams[0]
    e = s.values - s.truth_values
    assert np.std(e) == pytest.approx(0.2, rel=0.1)            # 2 x std 0.1
    assert np.corrcoef(e[1:], e[:-1])[0, 1] == pytest.approx(0.8, abs=0.05)
    # the fixed Gaussian stream 'z' keeps synthetic_streams' draws bit for bit
    z_only = pdaframe.synthetic_streams(problem.model, TRUTH, problem.streams, 3)[1]
    assert np.array_equal(twin.streams[1].values, z_only.values)


# --- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("name, options, match", [
    ("normal", {}, r"unknown likelihood 'normal'; known: ar1, discrepancy, gaussian, "
                   r"heteroscedastic, "
                   r"laplace, student-t"),
    ("gaussian", {"nu": 4}, r"takes no option 'nu'; its options are"),
    ("ar1", {"rho": 1.0}, r"rho = 1.0 must be a number in \(-1, 1\)"),
    ("ar1", {"rho": -1.5}, r"rho = -1.5 must be a number in \(-1, 1\)"),
    ("student-t", {"nu": 2}, r"nu = 2 must be a number in \(2, inf\) \(the error's standard"),
    ("student-t", {"nu": 1.5}, r"nu = 1.5 must be"),
    ("heteroscedastic", {"estimate": ["sigma_a"]}, r"prior of 'sigma_a' .*no default prior"),
    ("student-t", {"estimate": ["nu"], "priors": {"nu": {"mean": 5, "std": 2, "lower": 1}}},
     r"bounds \[1.0, inf\] must lie within \[2.0, inf\]"),
    ("ar1", {"estimate": ["rho"], "priors": {"rho": {"mean": 0.5}}},
     r"expected a table \{mean, std"),
    ("ar1", {"estimate": ["nu"]}, r"cannot estimate 'nu'"),
    ("ar1", {"estimate": ["rho"], "rho": 0.3}, r"'rho' is both fixed"),
    ("ar1", {"priors": {"rho": {"mean": 0, "std": 1}}}, r"a prior for 'rho', which is not"),
    ("laplace", {"estimate": "sigma_scale"}, r"'estimate' must be a list"),
])
def test_bad_likelihood_options(name, options, match):
    with pytest.raises(ConfigError, match=match):
        make_likelihood(name, options, "stream 'y'")


def test_streams_that_do_not_suit_the_likelihood():
    with pytest.raises(DataError, match=r"ar1 needs observation times on a regular step"):
        _bound("ar1", {}, times=np.r_[0, 2, 4, 7, np.arange(10, 26, 2)])
    with pytest.raises(DataError, match="none repeated"):
        _bound("ar1", {}, times=np.r_[0, 1, 1, np.arange(3, 12)])
    for name in ("student-t", "laplace", "heteroscedastic", "ar1"):
        with pytest.raises(DataError, match=r"needs independent errors"):
            _bound(name, {}, std=STD, correlation=ExponentialCorrelation(2.0))
        with pytest.raises(DataError, match=r"needs independent errors"):
            _bound(name, {}, covariance=np.diag(STD ** 2))
    # a Problem binds on construction: before any model run
    model = Decay(N)
    s = _stream(times=np.r_[0, 2, 4, 7, np.arange(10, 26, 2)])
    s.likelihood = make_likelihood("ar1", {})
    with pytest.raises(DataError, match="regular step"):
        pdaframe.Problem(model, pdaframe.GaussianPrior([0.1, 3, 0.5], std=[1, 1, 1]), [s])


# --- configs: `pdaframe check` finds them, before any model run -------------------------
TOY = (Path(__file__).parents[2] / "examples" / "toy_twin" / "config.toml").read_text()


def _config(tmp_path, stream_lines, method=None):
    text = TOY.replace('units = "g m-2 day-1"\n', 'units = "g m-2 day-1"\n' + stream_lines + "\n")
    text = text.replace('directory = "../../results/toy_twin"', 'directory = "out"')
    if method:
        text = text.replace('name = "lbfgsb"', f'name = "{method}"').replace(
            "options = { maxiter = 500 }", "options = {}")
    (tmp_path / "c.toml").write_text(text)
    return tmp_path / "c.toml"


def test_config_estimates_hyperparameters(tmp_path):
    path = _config(tmp_path, 'likelihood = "student-t"\nlikelihood_options = { estimate = '
                             '["nu", "sigma_scale"], priors = { nu = { mean = 6.0, std = 3.0 '
                             '} } }')
    problem, settings = pdaframe.load_config(path, run_model=False)
    assert problem.parameter_names[-2:] == ["nee:log_sigma_scale", "nee:nu"]
    np.testing.assert_allclose(problem.prior.mean[-2:], [0.0, 6.0])
    np.testing.assert_allclose(problem.prior.std[-2:], [1.0, 3.0])
    assert problem.prior.lower[-1] == 2.0 and problem.prior.upper[-1] == np.inf
    assert [lik.name for lik in problem.likelihoods] == ["student-t", "gaussian"]


@pytest.mark.parametrize("lines, match", [
    ('likelihood = "normal"', r"\[streams.0\] \[nee\].*unknown likelihood 'normal'; known: ar1, "
                              r"discrepancy, gaussian, heteroscedastic, laplace, student-t"),
    ('likelihood = "ar1"\nlikelihood_options = { rho = 1.2 }', r"rho = 1.2 must be a number in"),
    ('likelihood = "student-t"\nlikelihood_options = { nu = 2.0 }', r"nu = 2.0 must be"),
    ('likelihood = "laplace"\nlikelihood_options = { rho = 0.5 }', r"takes no option 'rho'"),
    ('likelihood = "heteroscedastic"\nlikelihood_options = { estimate = ["sigma_a"] }',
     r"no default prior"),
    ('likelihood = "ar1"\ncorrelation_length = 3.0', r"needs independent errors"),
])
def test_config_bad_likelihood(tmp_path, lines, match):
    with pytest.raises(pdaframe.errors.PdaframeError, match=match) as err:
        pdaframe.load_config(_config(tmp_path, lines), run_model=False)
    assert "c.toml" in str(err.value)


def test_config_ar1_needs_a_regular_step(tmp_path):
    path = _config(tmp_path, 'likelihood = "ar1"')
    path.write_text(path.read_text().replace("times = { start = 0, stop = 730, step = 1 }",
                                             "times = [0, 2, 4, 7, 9, 11]"))
    with pytest.raises(DataError, match="ar1 needs observation times on a regular step"):
        pdaframe.load_config(path, run_model=False)


@pytest.mark.parametrize("method", ["enkf", "es-mda", "4denvar", "importance", "joint-enkf"])
def test_gaussian_only_methods_refuse(tmp_path, method):
    path = _config(tmp_path, 'likelihood = "laplace"', method)
    with pytest.raises(ConfigError, match=rf"method '{method}' assumes fixed Gaussian errors.*"
                                          r"'nee' \(laplace\).*full likelihood: "
                                          r"adaptive-metropolis, .*dream-zs") as err:
        pdaframe.load_config(path, run_model=False)
    assert method not in str(err.value).split("full likelihood: ")[1].split(", ")
    # the fixed Gaussian is accepted, and minimise refuses as pdaframe check does
    pdaframe.load_config(_config(tmp_path, 'likelihood = "gaussian"', method), run_model=False)
    with pytest.raises(ConfigError, match="assumes fixed Gaussian errors"):
        pdaframe.minimise(_problem("laplace", {}), method)


def test_multisite_refuses_other_likelihoods():
    from pdaframe.problem.multisite import MultiSiteProblem, Site
    s = pdaframe.DataStream("y", "y", [2.0, 0.1], std=0.5)
    s.likelihood = make_likelihood("student-t", {"nu": 4.0})
    sites = [Site("x", pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0]], names=["a", "b"]), [s])]
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0], names=["a", "b"])
    with pytest.raises(ConfigError, match="site 'x': multi-site problems take fixed Gaussian"):
        MultiSiteProblem(sites, prior, ["a", "b"], [])


def test_config_refuses_likelihoods_in_site_and_evaluate_streams(tmp_path):
    pytest.importorskip("pdaframe_dalec2")
    example = Path(__file__).parents[2] / "examples" / "dalec2_multisite" / "config.toml"
    text = example.read_text().replace("../../plugins", str(example.parents[2] / "plugins"))
    text = text.replace('std = 0.71                      # g C m-2 d-1 (P16\'s sigma_o for NEE)',
                        'std = 0.71\nlikelihood = "laplace"', 1)
    assert 'likelihood = "laplace"' in text
    for f in example.parent.glob("*.csv"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"m.toml: \[sites.0\] \[US-Me2\] \[streams.0\] \[nee\] "
                                          r"'likelihood' is taken in \[\[streams\]\] only, not "
                                          r"in \[\[sites.streams\]\]"):
        pdaframe.load_config(tmp_path / "m.toml", run_model=False)
    (tmp_path / "held.csv").write_text("time,nee\n1,0.5\n2,0.4\n")
    toy = TOY + '\n[[evaluate]]\nname = "held"\nvariable = "nee"\nfile = "held.csv"\n' \
                'std = 0.5\nlikelihood = "laplace"\n'
    (tmp_path / "e.toml").write_text(toy.replace('directory = "../../results/toy_twin"',
                                                 'directory = "out"'))
    with pytest.raises(ConfigError, match=r"\[evaluate.0\] \[held\].*'likelihood' is taken in "
                                          r"\[\[streams\]\] only, not in \[\[evaluate\]\]"):
        pdaframe.load_config(tmp_path / "e.toml", run_model=False)
