"""MCMC samplers (adaptive Metropolis, DREAM(ZS), emcee) against closed-form posteriors."""
import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.io.samples import write_samples
from pdaframe.methods.mcmc import METHODS, log_jacobian
from tests.conftest import LG2_COV, LG2_MEAN, lg2_problem

RUN = {"n_chains": 4, "n_samples": 2000, "burn_in": 1000}


@pytest.fixture(scope="module")
def lg2_runs():
    return {name: METHODS[name](lg2_problem(), seed=3, **RUN)
            for name in ("adaptive-metropolis", "dream-zs")}


def _mc_sd(res, var):
    """Monte Carlo standard error of the mean, from ArviZ's bulk ESS."""
    return np.sqrt(var / res.ess_bulk)


@pytest.mark.parametrize("name", ["adaptive-metropolis", "dream-zs"])
def test_lg2_mean_and_covariance(lg2_runs, name):
    res = lg2_runs[name]
    var = np.diag(LG2_COV)
    assert res.success, res.message
    assert res.samples.shape == (4, 2000, 2) and res.log_prob.shape == (4, 2000)
    assert np.all(res.ess_bulk > 400) and np.all(res.rhat < 1.01)
    assert np.all(np.abs(res.x - LG2_MEAN) < 4.5 * _mc_sd(res, var))
    # variance of a sample variance ~ 2 var^2 / ESS
    cov = res.posterior_covariance
    assert np.all(np.abs(np.diag(cov) - var) < 5 * var * np.sqrt(2 / res.ess_bulk))
    ess = res.ess_bulk.min()
    assert abs(cov[0, 1] - LG2_COV[0, 1]) < 5 * np.sqrt(var[0] * var[1] / ess)
    assert 0.15 < res.acceptance_rate.mean() < 0.6
    assert res.nfev == 4 * (1000 + 2000 + 1) + 1        # + one run for J(x)
    assert res.fun == pytest.approx(lg2_problem().cost(res.x))
    assert res.map_fun >= 0.2399043062 - 1e-9            # J(theta_a) is the minimum


def test_am_and_dream_agree(lg2_runs):
    am, dz = lg2_runs["adaptive-metropolis"], lg2_runs["dream-zs"]
    var = np.diag(LG2_COV)
    sd = np.sqrt(var / am.ess_bulk + var / dz.ess_bulk)
    assert np.all(np.abs(am.x - dz.x) < 5 * sd)
    assert np.allclose(am.posterior_std, dz.posterior_std, rtol=0.15)


def test_dream_pcr_keeps_every_crossover_value():
    """p_CR is only adapted once every CR_m has had an accepted jump (PyDREAM's rule), so the
    first accepted move cannot set the other p_m to zero for good."""
    from pdaframe.methods.mcmc import DreamZSState, drive_chains
    state = DreamZSState(lg2_problem(), seed=2, n_samples=10, burn_in=300)
    firsts = []
    adapt = state._adapt

    def spy(accepted, u_old):
        before = state.cr_delta.copy()
        adapt(accepted, u_old)
        if not before.any() and state.cr_delta.any():          # the first accepted jump
            firsts.append(state.p_cr.copy())
    state._adapt = spy
    res = drive_chains(state)
    assert np.allclose(firsts[0], 1 / 3)                         # not adapted on it
    assert np.all(res.p_cr > 0) and res.p_cr.sum() == pytest.approx(1.0)


def test_dream_archive_reset_after_burn_in():
    """At the end of burn-in Z keeps the states of burn-in's second half (>= m0 rows); with
    reset_archive=False it keeps the prior draws and every state (DREAM-Suite)."""
    burn, n, k, N = 400, 100, 10, 3
    res = METHODS["dream-zs"](lg2_problem(), seed=1, n_samples=n, burn_in=burn)
    assert res.archive_size == N * (burn // (2 * k)) + N * ((burn + n) // k - burn // k)
    keep = METHODS["dream-zs"](lg2_problem(), seed=1, n_samples=n, burn_in=burn,
                               reset_archive=False)
    assert keep.archive_size == 10 * 2 + N * ((burn + n) // k)  # m0 = max(10d, 3N, 2 delta N)
    short = METHODS["dream-zs"](lg2_problem(), seed=1, n_samples=n, burn_in=20)
    assert short.archive_size == 20 + N * ((20 + n) // k - 2)   # m0 newest rows kept


def test_log_target_includes_jacobian():
    """In u the density of an unbounded Gaussian prior is exp(-J) times |det L| = const."""
    p = lg2_problem()
    assert log_jacobian(p.space, np.zeros(2)) == pytest.approx(0.5 * np.log(np.linalg.det(
        [[1.0, 0.5], [0.5, 4.0]])))


def _bounded_problem():
    """Uniform prior, a in (1.2, 3) cuts the likelihood near its mode 1.2333 (sd 0.2887)."""
    model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]], names=["a", "b"])
    prior = pdaframe.UniformPrior([1.2, 0.0], [3.0, 5.0], names=["a", "b"])
    obs = pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=np.sqrt(0.5))
    return pdaframe.Problem(model, prior, [obs])


@pytest.mark.parametrize("name", ["adaptive-metropolis", "dream-zs"])
def test_bounded_parameter_truncated_posterior(name):
    # likelihood: H^T R^-1 H = diag(12, 4), mean (7.4/6, 2): a and b independent
    mu, sd = np.array([7.4 / 6, 2.0]), np.array([np.sqrt(1 / 12), 0.5])
    lo, up = np.array([1.2, 0.0]), np.array([3.0, 5.0])
    truth = stats.truncnorm((lo - mu) / sd, (up - mu) / sd, loc=mu, scale=sd)
    res = METHODS[name](_bounded_problem(), seed=5, n_chains=4, n_samples=1500, burn_in=1000)
    s = res.samples.reshape(-1, 2)
    assert np.all(s > lo) and np.all(s < up)
    assert np.all(np.abs(res.x - truth.mean()) < 5 * np.sqrt(truth.var() / res.ess_bulk))
    assert np.allclose(res.posterior_std, truth.std(), rtol=0.15)
    # the truncated marginal of a: its median, from the analytic CDF
    assert np.median(s[:, 0]) == pytest.approx(truth.median()[0], abs=0.03)


@pytest.mark.parametrize("name", ["adaptive-metropolis", "dream-zs", "emcee"])
def test_deterministic_per_seed(name):
    kw = {"n_samples": 30, "burn_in": 20, "n_chains": 4}
    a = METHODS[name](lg2_problem(), seed=11, **kw)
    b = METHODS[name](lg2_problem(), seed=11, **kw)
    c = METHODS[name](lg2_problem(), seed=12, **kw)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.log_prob, b.log_prob)
    assert not np.array_equal(a.samples, c.samples)


def test_emcee_lg2_mean():
    res = METHODS["emcee"](lg2_problem(), seed=2, n_chains=8, n_samples=600, burn_in=300)
    assert res.samples.shape == (8, 600, 2)
    assert res.nfev == 8 * 901 + 1
    assert np.all(np.abs(res.x - LG2_MEAN) < 5 * _mc_sd(res, np.diag(LG2_COV)))
    assert np.allclose(res.posterior_std, np.sqrt(np.diag(LG2_COV)), rtol=0.2)
    p = lg2_problem()
    assert np.allclose(res.log_prob[:, -3:], [[-p.cost(t) for t in c] for c in res.samples[:, -3:]])


@pytest.mark.parametrize("name, kw, minimum", [
    ("adaptive-metropolis", {"n_chains": 1}, "at least 2"),
    ("dream-zs", {"n_chains": 1}, "at least 2"),
    ("emcee", {"n_chains": 3}, "at least 4"),
    ("dream-zs", {"n_samples": 3}, "at least 4"),
    ("adaptive-metropolis", {"burn_in": -1}, "at least 0"),
])
def test_too_small_raises_config_error(name, kw, minimum):
    with pytest.raises(pdaframe.ConfigError, match=minimum):
        METHODS[name](lg2_problem(), **{"n_samples": 10, "burn_in": 0, **kw})


def test_all_rejected_is_reported_not_nan():
    res = METHODS["adaptive-metropolis"](lg2_problem(), seed=1, n_samples=20, burn_in=0,
                                         cov0=1e12 * np.eye(2))
    assert not res.success and res.status == 2
    assert "every proposal was rejected" in res.message
    assert np.all(np.isfinite(res.x)) and np.isfinite(res.fun)
    assert np.all(res.acceptance_rate == 0)


def test_callback_stop_iteration_keeps_draws():
    seen = []

    def cb(progress):
        seen.append(progress.nit)
        if progress.nit == 15:
            raise StopIteration

    res = METHODS["dream-zs"](lg2_problem(), seed=1, n_samples=50, burn_in=10, callback=cb)
    assert seen[-1] == 15 and res.status == 3 and not res.success
    assert res.samples.shape == (3, 5, 2)


def test_netcdf_round_trip(tmp_path):
    import arviz as az
    p = lg2_problem()
    res = METHODS["dream-zs"](p, seed=1, n_samples=40, burn_in=10)
    path = write_samples(tmp_path / "out" / "samples.nc", res, p, n_prior=200)
    idata = az.from_netcdf(path)
    assert {"posterior", "unconstrained_posterior", "sample_stats", "observed_data",
            "prior"} <= set(idata.groups())
    post = idata.posterior["theta"]
    assert post.dims == ("chain", "draw", "param")
    assert list(post["param"].values) == ["a", "b"]
    assert np.array_equal(post.values, res.samples)
    assert np.array_equal(idata.unconstrained_posterior["u"].values, res.samples_u)
    assert np.allclose(idata.sample_stats["lp"].values, res.log_prob)
    assert np.allclose(idata.observed_data["y"].values, [3.5, -0.5, 2.2])
    prior = idata.prior["theta"].values.reshape(-1, 2)
    assert prior.shape == (200, 2)
    assert np.allclose(prior.mean(axis=0), [1.0, 2.0], atol=4 * np.array([1.0, 2.0]) / np.sqrt(200))
    assert float(az.rhat(idata)["theta"].max()) == pytest.approx(float(res.rhat.max()))
    assert not list(tmp_path.joinpath("out").glob(".*.tmp"))


def test_sampler_from_a_config_writes_arviz_groups(tmp_path):
    """`pdaframe run` with a sampler: result.nc plus samples.nc that ArviZ opens."""
    import shutil
    from pathlib import Path

    import arviz

    from pdaframe.run import run_problem

    data = Path(__file__).parents[1] / "data"
    shutil.copy(data / "lg2_obs.csv", tmp_path)
    text = (data / "lg2.toml").read_text().replace(
        'name = "lbfgsb"', 'name = "adaptive-metropolis"\n'
                           'options = { n_chains = 2, n_samples = 300, burn_in = 200 }')
    (tmp_path / "c.toml").write_text(text)
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    idata = arviz.from_netcdf(paths["samples"])
    assert idata.posterior["theta"].shape == (2, 300, 2)
    assert {"posterior", "sample_stats", "observed_data", "prior"} <= set(idata.groups())


@pytest.mark.parametrize("name", ["adaptive-metropolis", "dream-zs", "emcee"])
def test_progress_bar_gets_the_total_number_of_steps(name, tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    import tqdm.auto

    from pdaframe.run import run_problem

    bars = []

    class Bar:                                   # records what run_problem gives tqdm
        def __init__(self, total=None, **kwargs):
            self.total, self.n = total, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, k):
            self.n += k

        def set_postfix(self, **kwargs):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    data = Path(__file__).parents[1] / "data"
    shutil.copy(data / "lg2_obs.csv", tmp_path)
    chains = 6 if name == "emcee" else 3
    text = (data / "lg2.toml").read_text().replace(
        'name = "lbfgsb"', f'name = "{name}"\noptions = {{ n_chains = {chains}, '
                           f'n_samples = 40, burn_in = 25 }}')
    (tmp_path / "c.toml").write_text(text)
    run_problem(*pdaframe.load_config(tmp_path / "c.toml"), tmp_path / "out", write=False)
    assert (bars[0].total, bars[0].n) == (65, 65)
