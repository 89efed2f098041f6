"""The hierarchical rule (`pdaframe.problem.hierarchical`): names, tangent and adjoint, the
non-centred MAP's spread, bad input, and the linear-Gaussian hierarchical case against its
closed form (MAP and Laplace to 1e-8, MCMC within Monte Carlo error)."""
import numpy as np
import pytest

import pdaframe
from pdaframe.analysis.leave_out import entry_prior
from pdaframe.errors import ConfigError
from pdaframe.problem.hierarchical import Hierarchical
from pdaframe.problem.mapping import MapContext, Shared, SiteMap
from pdaframe.problem.multisite import MultiSiteProblem, Site
from pdaframe.testing import check_gradient, taylor_test

INF = np.inf


def _entry(mean, std, lower=-INF, upper=INF):
    return {"mean": mean, "std": std, "lower": lower, "upper": upper}


def _ctx(n_sites=5, table=None, a=_entry(0.5, 1.0, 0.0, 2.0)):
    params = [{"a": dict(a), "b": _entry(0.0, 1.0), "c": _entry(3.0, 1.0, 1.0, INF)}
              for _ in range(n_sites)]
    return MapContext([f"s{k}" for k in range(n_sites)], params, table)


class _Table:
    """A stand-in site table: sites and one ``pft`` column."""

    source = "sites.csv"

    def __init__(self, sites, pft):
        self.sites, self._pft = list(sites), list(pft)

    def column(self, name):
        if name != "pft":
            raise KeyError(name)
        return np.array(self._pft)


def prior_of(mapping):
    return entry_prior(mapping.entries, mapping.names)


def test_names_and_values():
    table = _Table([f"s{k}" for k in range(5)], ["ev", "de", "ev", "de", "ev"])
    ctx = _ctx(table=table)
    rule = Hierarchical(ctx, ["a", "c"], column="pft", mu_std=2.0, sigma0=0.3,
                        log_sigma_std=0.7)
    names = [e["name"] for e in rule.entries]
    assert names[:4] == ["mu(a)@pft=ev", "mu(a)@pft=de", "mu(c)@pft=ev", "mu(c)@pft=de"]
    assert names[4:8] == ["log_sigma(a)@pft=ev", "log_sigma(a)@pft=de",
                          "log_sigma(c)@pft=ev", "log_sigma(c)@pft=de"]
    assert names[8:] == [f"eta({n})@s{k}" for k in range(5) for n in "ac"]
    mu_a = rule.entries[0]
    assert mu_a["mean"] == pytest.approx(np.log(0.5 / 1.5)) and mu_a["std"] == 2.0   # logit
    assert rule.entries[2]["mean"] == pytest.approx(np.log(2.0))                     # log
    assert rule.entries[4]["mean"] == pytest.approx(np.log(0.3))
    assert rule.entries[4]["std"] == 0.7 and rule.entries[8]["std"] == 1.0
    assert rule.entries[8]["site"] == "s0" and "site" not in rule.entries[0]
    x = np.arange(len(names)) * 0.1 - 0.5
    mu = {"ev": x[[0, 2]], "de": x[[1, 3]]}
    sigma = {"ev": np.exp(x[[4, 6]]), "de": np.exp(x[[5, 7]])}
    eta = x[8:].reshape(5, 2)
    theta = rule.values(x)
    for k, g in enumerate(table._pft):
        phi = mu[g] + sigma[g] * eta[k]
        assert theta[k, 0] == pytest.approx(2.0 / (1.0 + np.exp(-phi[0])), rel=1e-14)
        assert theta[k, 1] == pytest.approx(1.0 + np.exp(phi[1]), rel=1e-14)
    assert rule.hyper(x)["de"]["sigma"] == pytest.approx(sigma["de"])
    fixed = Hierarchical(ctx, ["a"], estimate_spread=False, sigma0=0.3)
    assert [e["name"] for e in fixed.entries] == ["mu(a)"] + [f"eta(a)@s{k}" for k in range(5)]


@pytest.mark.parametrize("spread", [True, False])
def test_tangent_taylor_and_adjoint_dot_product(spread):
    table = _Table([f"s{k}" for k in range(6)], ["ev", "de", "ev", "de", "ev", "de"])
    rule = Hierarchical(_ctx(6, table), ["a", "b", "c"], column="pft",
                        estimate_spread=spread)
    rng = np.random.default_rng(4)
    x = rng.normal(size=len(rule.entries)) * 0.5
    for _ in range(3):
        dx = rng.normal(size=x.size)
        rep = taylor_test(rule.values, rule.tangent, x, dx)
        assert rep.passed, rep
        g = rng.normal(size=(6, 3))
        out = np.zeros(x.size)
        rule.adjoint(x, g, out)
        lhs, rhs = float(np.sum(rule.tangent(x, dx) * g)), float(dx @ out)
        assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), abs(rhs))


def test_broken_adjoint_fails_the_dot_product():
    """The dot-product check above catches a wrong adjoint (the log-sigma term dropped)."""
    rule = Hierarchical(_ctx(4), ["a"])
    rng = np.random.default_rng(1)
    x, dx, g = rng.normal(size=6), rng.normal(size=6), rng.normal(size=(4, 1))
    out = np.zeros(6)
    rule.adjoint(x, g, out)
    out[1] = 0.0                                  # what the adjoint gives without the term
    lhs, rhs = float(np.sum(rule.tangent(x, dx) * g)), float(dx @ out)
    assert abs(lhs - rhs) > 1e-3 * abs(lhs)


def _linear_sites(n_sites, n_obs, seed, std, local=("a", "b"), spread=0.7):
    """Linear sites ``y_k = H_k [a_k, b] + e``, ``a_k ~ N(1, spread^2)``, ``b = -0.5``."""
    rng = np.random.default_rng(seed)
    sites, H, truth = [], [], []
    for k in range(n_sites):
        h = rng.normal(size=(n_obs, len(local)))
        t = np.array([1.0 + spread * rng.normal(), -0.5][:len(local)])
        y = h @ t + std * rng.normal(size=n_obs)
        sites.append(Site(f"s{k}", pdaframe.LinearModel(h, names=list(local)),
                          [pdaframe.DataStream("y", "y", y, std=std)]))
        H.append(h)
        truth.append(t)
    params = [{"a": _entry(0.0, 1.0), "b": _entry(0.0, 2.0)} for _ in range(n_sites)]
    return sites, MapContext([s.name for s in sites], params), H


def _problem(sites, ctx, local, **options):
    rules = [Hierarchical(ctx, ["a"], **options)]
    if "b" in local:
        rules.append(Shared(ctx, ["b"]))
    mapping = SiteMap(ctx, list(local), rules)
    return MultiSiteProblem(sites, prior_of(mapping), mapping=mapping)


def test_multisite_gradient_through_the_rule():
    sites, ctx, _ = _linear_sites(5, 6, 2, 0.5)
    sites = [Site(s.name, s.model, s.streams) for s in sites]
    ctx.parameters = [{"a": _entry(0.5, 1.0, 0.0, 2.0), "b": _entry(0.0, 1.0)}
                      for _ in sites]                     # a logit transform
    p = _problem(sites, ctx, ("a", "b"), sigma0=0.4)
    x = p.prior.mean + 0.3 * np.random.default_rng(0).normal(size=p.n_param)
    assert check_gradient(p, x).passed


def test_map_spread_identity_of_the_non_centred_form():
    """At the non-centred joint mode ``log sigma = log sigma0 + s^2 sum eta^2`` (docstring)."""
    sites, ctx, _ = _linear_sites(6, 5, 3, 0.3, local=("a",))
    p = _problem(sites, ctx, ("a",), sigma0=0.2, log_sigma_std=0.6)
    res = pdaframe.minimise(p, "lbfgsb", ftol=1e-15, gtol=1e-10, maxiter=5000)
    ls, eta = res.x[1], res.x[2:]
    assert ls == pytest.approx(np.log(0.2) + 0.6 ** 2 * np.sum(eta ** 2), abs=1e-5)
    assert ls > np.log(0.2)


def test_one_site_group_and_mismatched_bounds_are_named_errors():
    table = _Table(["s0", "s1", "s2"], ["ev", "de", "ev"])
    with pytest.raises(ConfigError, match=r"pft=\['de'\] has one site.*estimate_spread"):
        Hierarchical(_ctx(3, table), ["a"], column="pft")
    Hierarchical(_ctx(3, table), ["a"], column="pft", estimate_spread=False)    # fine
    with pytest.raises(ConfigError, match="the one group has one site"):
        Hierarchical(_ctx(1), ["a"])
    ctx = _ctx(3)
    ctx.parameters[2]["a"]["upper"] = 5.0
    with pytest.raises(ConfigError, match="'s0' and 's2' of group 'all' have other bounds"):
        Hierarchical(ctx, ["a"])
    ctx = _ctx(3)
    ctx.parameters[0]["a"]["mean"] = 2.0
    with pytest.raises(ConfigError, match=r"'a': the default 2.0 at site 's0' is not strictly "
                                          r"inside its bounds \(0.0, 2.0\)"):
        Hierarchical(ctx, ["a"])
    with pytest.raises(ConfigError, match="sigma0: must be positive"):
        Hierarchical(_ctx(3), ["a"], sigma0=0.0)
    with pytest.raises(ConfigError, match=r"mu_std: \['z'\] are not among"):
        Hierarchical(_ctx(3), ["a"], mu_std={"a": 1.0, "z": 2.0})


# --- closed form ---------------------------------------------------------------------------

N_SITES, N_OBS, OBS_STD, MU_STD, B_STD = 6, 4, 0.8, 1.0, 2.0


def _closed_form(H, y, sigma):
    """Gaussian posterior of ``z = (mu, a_1..a_S, b)`` with ``a_k = mu + sigma eta_k``.

    Prior: ``mu ~ N(0, MU_STD^2)``, ``a_k | mu ~ N(mu, sigma^2)``, ``b ~ N(0, B_STD^2)``.
    Returns mean, covariance and the log marginal likelihood of ``y`` (up to a constant that
    does not depend on sigma).
    """
    s = len(H)
    n = s + 2
    P = np.zeros((n, n))
    P[:s + 1, :s + 1] = MU_STD ** 2
    P[1:s + 1, 1:s + 1] += sigma ** 2 * np.eye(s)
    P[-1, -1] = B_STD ** 2
    G = np.zeros((s * N_OBS, n))
    for k, h in enumerate(H):
        G[k * N_OBS:(k + 1) * N_OBS, 1 + k] = h[:, 0]
        G[k * N_OBS:(k + 1) * N_OBS, -1] = h[:, 1]
    R = OBS_STD ** 2 * np.eye(s * N_OBS)
    S = G @ P @ G.T + R
    K = P @ G.T @ np.linalg.inv(S)
    yv = np.concatenate(y)
    mean = K @ yv
    cov = P - K @ G @ P
    logml = -0.5 * yv @ np.linalg.solve(S, yv) - 0.5 * np.linalg.slogdet(S)[1]
    return mean, cov, logml


def _to_z(x, sigma):
    """``(mu, a_k, b)`` of the global vector ``[mu, eta_1..eta_S, b]`` (fixed spread)."""
    mu, eta, b = x[..., :1], x[..., 1:-1], x[..., -1:]
    return np.concatenate([mu, mu + sigma * eta, b], axis=-1)


def test_fixed_spread_map_and_laplace_equal_the_closed_form():
    sites, ctx, H = _linear_sites(N_SITES, N_OBS, 11, OBS_STD)
    p = _problem(sites, ctx, ("a", "b"), estimate_spread=False, sigma0=0.7, mu_std=MU_STD)
    assert p.prior.std[-1] == B_STD and p.prior.std[0] == MU_STD
    assert p.parameter_names == ["mu(a)"] + [f"eta(a)@s{k}" for k in range(N_SITES)] + ["b"]
    res = pdaframe.minimise(p, "lbfgsb", ftol=1e-15, gtol=1e-12, maxiter=5000)
    mean, cov, _ = _closed_form(H, [s.streams[0].values for s in sites], 0.7)
    A = np.zeros((N_SITES + 2, p.n_param))       # d z / d x (linear)
    A[:N_SITES + 1, 0] = 1.0
    A[1:N_SITES + 1, 1:N_SITES + 1] = 0.7 * np.eye(N_SITES)
    A[-1, -1] = 1.0
    np.testing.assert_allclose(_to_z(res.x, 0.7), mean, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(A @ res.posterior_covariance @ A.T, cov, rtol=1e-8, atol=1e-10)
    # the site values the problem runs are z's a_k
    np.testing.assert_allclose([p.site_theta(res.x, k)[0] for k in range(N_SITES)],
                               mean[1:-1], rtol=1e-8, atol=1e-9)


def _mc_ok(draws, ess, mean, var, k_mean=4.5, k_var=5.0):
    """Sample mean within ``k_mean`` Monte Carlo standard errors (``sqrt(var / ESS)``) and
    sample variance within ``k_var`` of its standard error (``var sqrt(2 / ESS)``)."""
    m, v = draws.mean(axis=0), draws.var(axis=0)
    ok_mean = np.abs(m - mean) < k_mean * np.sqrt(var / ess)
    ok_var = np.abs(v - var) < k_var * var * np.sqrt(2.0 / ess)
    return ok_mean, ok_var, m, v


@pytest.mark.slow        # 24000 sampler steps: 5-15 s by load
def test_fixed_spread_mcmc_matches_the_closed_form():
    """Adaptive Metropolis (4 chains x 4000 draws after 2000 burn-in): the posterior means
    and variances of (mu, a_k, b) within Monte Carlo error of the closed form (4.5 standard
    errors from the bulk ESS of each; the ESS of a z component is taken as the smallest
    ESS of the x components it is made of)."""
    sites, ctx, H = _linear_sites(N_SITES, N_OBS, 11, OBS_STD)
    p = _problem(sites, ctx, ("a", "b"), estimate_spread=False, sigma0=0.7, mu_std=MU_STD)
    am = pdaframe.get_method("adaptive-metropolis")
    res = am(p, seed=5, n_chains=4, n_samples=4000, burn_in=2000)
    mean, cov, _ = _closed_form(H, [s.streams[0].values for s in sites], 0.7)
    z = _to_z(res.samples.reshape(-1, p.n_param), 0.7)
    ess = np.concatenate([[res.ess_bulk[0]], np.minimum(res.ess_bulk[0], res.ess_bulk[1:-1]),
                          [res.ess_bulk[-1]]])
    assert ess.min() > 300 and res.rhat.max() < 1.02
    ok_mean, ok_var, m, v = _mc_ok(z, ess, mean, np.diag(cov))
    assert ok_mean.all(), (m, mean)
    assert ok_var.all(), (v, np.diag(cov))


def _spread_marginal(H, y, log_sigma0, log_sigma_std):
    """Exact posterior moments with the spread estimated: quadrature over log sigma (its
    marginal posterior: hyperprior times the Gaussian marginal likelihood of y), and the
    Gaussian conditional moments of (mu, b) given sigma mixed over it."""
    grid = np.linspace(log_sigma0 - 8 * log_sigma_std, log_sigma0 + 8 * log_sigma_std, 4001)
    logp, means, covs = [], [], []
    for ls in grid:
        m, c, logml = _closed_form(H, y, np.exp(ls))
        logp.append(logml - 0.5 * ((ls - log_sigma0) / log_sigma_std) ** 2)
        means.append(m[[0, -1]])
        covs.append(np.diag(c)[[0, -1]])
    logp = np.array(logp)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    assert w[0] < 1e-12 and w[-1] < 1e-12              # the grid covers the posterior
    means, covs = np.array(means), np.array(covs)
    mean_mb = w @ means
    var_mb = w @ (covs + means ** 2) - mean_mb ** 2
    sig = np.exp(grid)
    return {"mu": (mean_mb[0], var_mb[0]), "b": (mean_mb[1], var_mb[1]),
            "log_sigma": (w @ grid, w @ grid ** 2 - (w @ grid) ** 2),
            "sigma": (w @ sig, w @ sig ** 2 - (w @ sig) ** 2)}


@pytest.mark.slow        # 24000 sampler steps: 10-25 s by load
def test_estimated_spread_mcmc_matches_quadrature():
    """Spread estimated: DREAM(ZS)'s marginals of mu, log sigma, sigma and b against
    the exact marginal posterior (quadrature over log sigma, `_spread_marginal`), within
    Monte Carlo error (4.5 standard errors of the mean, 5 of the variance, from the bulk
    ESS of the parameter; sigma uses log sigma's ESS)."""
    sites, ctx, H = _linear_sites(N_SITES, N_OBS, 11, OBS_STD)
    p = _problem(sites, ctx, ("a", "b"), sigma0=0.5, log_sigma_std=0.5, mu_std=MU_STD)
    assert p.parameter_names[:2] == ["mu(a)", "log_sigma(a)"]
    res = pdaframe.get_method("dream-zs")(p, seed=7, n_chains=4, n_samples=4000,
                                          burn_in=2000)
    exact = _spread_marginal(H, [s.streams[0].values for s in sites], np.log(0.5), 0.5)
    flat = res.samples.reshape(-1, p.n_param)
    draws = {"mu": flat[:, 0], "log_sigma": flat[:, 1], "sigma": np.exp(flat[:, 1]),
             "b": flat[:, -1]}
    ess = {"mu": res.ess_bulk[0], "log_sigma": res.ess_bulk[1], "sigma": res.ess_bulk[1],
           "b": res.ess_bulk[-1]}
    assert min(ess.values()) > 200 and res.rhat.max() < 1.03
    for key, (m, v) in exact.items():
        ok_mean, ok_var, mm, vv = _mc_ok(draws[key][:, None], ess[key], m, v)
        assert ok_mean.all() and ok_var.all(), (key, mm, m, vv, v, ess[key])
