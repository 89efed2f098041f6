"""WAIC, PSIS-LOO and comparison tables (pdaframe.analysis.model_selection) from the samplers'
pointwise log-likelihood (pdaframe.methods.mcmc.pointwise), against the exact leave-one-out
predictive densities of linear-Gaussian models."""
import logging
import warnings

import arviz as az
import numpy as np
import pytest

import pdaframe
from pdaframe.analysis import model_selection as ms
from pdaframe.io.samples import write_samples
from pdaframe.methods.mcmc import pointwise as pw

N, SIGMA = 20, 0.3
T = np.linspace(0.0, 1.0, N)
Y = 0.5 + 1.2 * T + SIGMA * np.random.default_rng(3).standard_normal(N)
DESIGNS = {"line": np.column_stack([np.ones(N), T]), "constant": np.ones((N, 1))}
PRIOR_VAR = 4.0


def _problem(name, y=Y):
    G = DESIGNS[name]
    prior = pdaframe.GaussianPrior(np.zeros(G.shape[1]), covariance=PRIOR_VAR * np.eye(G.shape[1]))
    return pdaframe.Problem(pdaframe.LinearModel(G), prior,
                            [pdaframe.DataStream("y", variable="y", values=y, std=SIGMA)])


def _posterior(G, y, keep=None):
    """Mean and covariance of theta given the observations ``keep`` (all by default)."""
    keep = np.ones(len(y), bool) if keep is None else keep
    Gk = G[keep]
    cov = np.linalg.inv(Gk.T @ Gk / SIGMA ** 2 + np.eye(G.shape[1]) / PRIOR_VAR)
    return cov @ (Gk.T @ y[keep] / SIGMA ** 2), cov


def exact_loo(name, y=Y) -> np.ndarray:
    """log p(y_i | y_-i) of each observation: Gaussian, N(g_i mu_-i, g_i P_-i g_i^T + s^2)."""
    G = DESIGNS[name]
    out = []
    for i in range(len(y)):
        mu, cov = _posterior(G, y, np.arange(len(y)) != i)
        var = G[i] @ cov @ G[i] + SIGMA ** 2
        out.append(-0.5 * np.log(2 * np.pi * var) - 0.5 * (y[i] - G[i] @ mu) ** 2 / var)
    return np.array(out)


def _iid_result(name, seed, n_chain=4, n_draw=1000):
    """A result holding iid draws of the exact posterior and their pointwise likelihood."""
    G = DESIGNS[name]
    mu, cov = _posterior(G, Y)
    theta = np.random.default_rng(seed).multivariate_normal(mu, cov, size=(n_chain, n_draw))
    ll = -0.5 * np.log(2 * np.pi * SIGMA ** 2) - 0.5 * (Y - theta @ G.T) ** 2 / SIGMA ** 2
    return pdaframe.SampleResult(samples=theta, log_likelihood={"y": ll}, method="iid",
                                 log_likelihood_observed={"y": (np.arange(N), Y)})


@pytest.fixture(scope="module")
def emcee_runs():
    return {name: pdaframe.minimise(_problem(name), method="emcee", n_samples=1000,
                                    burn_in=300, n_chains=8, seed=1) for name in DESIGNS}


@pytest.mark.parametrize("name", list(DESIGNS))
def test_psis_loo_and_waic_equal_exact_loo_within_mc_error_iid(name):
    exact = exact_loo(name)
    loos, waics, loo_i = [], [], []
    for seed in range(8):
        res = _iid_result(name, seed)
        loo = ms.loo(res)
        loos.append(loo.elpd_loo)
        loo_i.append(loo.loo_i.values)
        waics.append(ms.waic(res).elpd_waic)
    loos, waics = np.array(loos), np.array(waics)
    mc = loos.std(ddof=1)                       # MC error of one estimate (4000 draws)
    assert 0.005 < mc < 0.2
    # PSIS-LOO is consistent for exact LOO: the mean of 8 repeats within 4 of its errors
    assert abs(loos.mean() - exact.sum()) < 4 * mc / np.sqrt(len(loos))
    # every estimate within 4 MC errors, WAIC too (its O(1/n) bias is below that here)
    assert np.all(np.abs(loos - exact.sum()) < 4 * mc)
    assert np.all(np.abs(waics - exact.sum()) < 4 * mc)
    # per observation
    np.testing.assert_allclose(np.mean(loo_i, axis=0), exact, atol=0.02)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_sampler_pointwise_likelihood_gives_exact_loo(emcee_runs, name):
    res = emcee_runs[name]
    ll = res["log_likelihood"]["y"]
    assert ll.shape == (8, 1000, N)
    # the stored values are log N(y_i; G theta, s^2) at each draw
    theta = res["samples"][2, 17]
    expected = -0.5 * np.log(2 * np.pi * SIGMA ** 2) - \
        0.5 * (Y - DESIGNS[name] @ theta) ** 2 / SIGMA ** 2
    np.testing.assert_allclose(ll[2, 17], expected, rtol=1e-12)
    # only distinct draws were rerun; nfev stays the sampler's own
    distinct = 8 + int(np.any(np.diff(res["samples"], axis=1) != 0, axis=2).sum())
    assert res["n_pointwise_runs"] == distinct < 8 * 1000
    assert res["nfev"] == 8 * (1300 + 1) + 1           # the start, the steps, J at the mean
    # iid MC error (0.07 at 4000 draws) scaled to the chains' effective sample size
    exact = exact_loo(name).sum()
    ess = float(np.min(res["ess_bulk"]))
    tol = 4 * 0.07 * np.sqrt(4000 / ess)
    assert abs(ms.loo(res).elpd_loo - exact) < tol
    assert abs(ms.waic(res).elpd_waic - exact) < tol


def test_compare_ranks_the_pair_and_gets_the_exact_difference(emcee_runs, tmp_path):
    table = ms.compare(emcee_runs, evidence={"line": -20.5})
    assert list(table.index) == ["line", "constant"]
    diff = exact_loo("line").sum() - exact_loo("constant").sum()        # 16.5
    assert diff > 10
    assert table.loc["constant", "elpd_diff"] == pytest.approx(diff, abs=0.4)
    assert table.loc["line", "weight"] > 0.8          # stacking weights
    assert list(table["n_obs"]) == [N, N]
    assert list(table["n_bad_k"]) == [0, 0]
    assert table.loc["line", "log_evidence"] == -20.5
    assert np.isnan(table.loc["constant", "log_evidence"])
    text = ms.format_comparison(table)
    assert text.splitlines()[1].startswith("line") and "-20.50" in text
    # the same from samples.nc files and run folders (and the CLI)
    for name, res in emcee_runs.items():
        (tmp_path / name).mkdir()
        write_samples(tmp_path / name / "samples.nc", res, _problem(name))
    from_files = ms.compare({n: tmp_path / n for n in DESIGNS}, ic="waic")
    assert from_files.loc["constant", "elpd_diff"] == pytest.approx(
        ms.compare(emcee_runs, ic="waic").loc["constant", "elpd_diff"], rel=1e-12)
    from pdaframe.cli import main
    assert main(["compare", str(tmp_path / "line"), str(tmp_path / "constant")]) == 0


def test_samples_nc_log_likelihood_group(emcee_runs, tmp_path):
    res = emcee_runs["line"]
    problem = _problem("line", np.where(np.arange(N) == 4, np.nan, Y))
    res = pdaframe.minimise(problem, method="adaptive-metropolis", n_samples=20,
                            burn_in=20, seed=2)
    path = write_samples(tmp_path / "samples.nc", res, problem)
    idata = az.from_netcdf(str(path))
    group = idata.log_likelihood
    assert group["y"].dims == ("chain", "draw", "y_valid")
    assert group["y"].shape == (4, 20, N - 1)              # the masked value has no entry
    assert list(group["y_obs_index"].values) == [i for i in range(N) if i != 4]
    np.testing.assert_array_equal(group["y_observed"].values, np.delete(Y, 4))
    np.testing.assert_array_equal(group["y"].values, res["log_likelihood"]["y"])
    assert ms.waic(path).elpd_waic == pytest.approx(ms.waic(res).elpd_waic, rel=1e-12)


def test_nuts_statistics_in_sample_stats(tmp_path):
    problem = _problem("line")
    res = pdaframe.minimise(problem, method="nuts", n_samples=30, burn_in=30, seed=4)
    idata = az.from_netcdf(str(write_samples(tmp_path / "s.nc", res, problem)))
    stats = idata.sample_stats
    for name in ("diverging", "tree_depth", "n_steps", "energy", "step_size", "accept_stat"):
        assert stats[name].shape == (4, 30), name
    np.testing.assert_array_equal(stats["n_steps"].values, res["n_leapfrog"])
    np.testing.assert_array_equal(stats["step_size"].values[:, 7], res["step_size"])
    assert stats["diverging"].values.dtype == bool
    assert int(stats["tree_depth"].values.max()) >= 1
    assert res["log_likelihood"]["y"].shape == (4, 30, N)


@pytest.mark.parametrize("method", ["dream-zs", "hmc"])
def test_every_sampler_keeps_it_and_executors_agree(method):
    problem = _problem("line")

    class Mapper:                       # any order-keeping map: the same values
        def map(self, func, items):
            return [func(x) for x in items]

    a = pdaframe.minimise(problem, method=method, n_samples=10, burn_in=10, seed=5)
    b = pdaframe.minimise(problem, method=method, n_samples=10, burn_in=10, seed=5,
                          executor=Mapper())
    assert a["log_likelihood"]["y"].shape[1:] == (10, N)
    np.testing.assert_array_equal(a["log_likelihood"]["y"], b["log_likelihood"]["y"])


def test_switch_off_auto_limit_and_bad_option(monkeypatch, caplog):
    problem = _problem("line")
    kw = dict(method="adaptive-metropolis", n_samples=8, burn_in=8, seed=1)
    off = pdaframe.minimise(problem, pointwise_log_likelihood=False, **kw)
    assert "log_likelihood" not in off
    monkeypatch.setattr(pw, "POINTWISE_MAX_VALUES", 4 * 8 * N - 1)
    with caplog.at_level(logging.WARNING):
        auto = pdaframe.minimise(problem, **kw)
    assert "log_likelihood" not in auto and "pointwise log-likelihood not kept" in caplog.text
    forced = pdaframe.minimise(problem, pointwise_log_likelihood=True, **kw)
    assert forced["log_likelihood"]["y"].shape == (4, 8, N)
    with pytest.raises(pdaframe.ConfigError, match="pointwise_log_likelihood.*'maybe'"):
        pdaframe.minimise(problem, pointwise_log_likelihood="maybe", **kw)
    with pytest.raises(pdaframe.ConfigError, match="unknown option"):
        pdaframe.minimise(problem, method="lbfgsb", pointwise_log_likelihood=True)


def test_waic_of_a_method_without_pointwise_likelihood_is_refused(tmp_path):
    problem = _problem("line")
    opt = pdaframe.minimise(problem, method="lbfgsb")
    with pytest.raises(ms.PointwiseLikelihoodError,
                       match="'lbfgsb'.*adaptive-metropolis, dream-zs, emcee, nuts, hmc"):
        ms.waic(opt)
    with pytest.raises(ms.PointwiseLikelihoodError, match="importance sampling"):
        ms.loo(opt)
    assert issubclass(ms.PointwiseLikelihoodError, pdaframe.ConfigError)
    opt.to_netcdf(tmp_path / "result.nc", problem)
    with pytest.raises(ms.PointwiseLikelihoodError, match="no samples.nc.*'lbfgsb'"):
        ms.loo(tmp_path)


def test_runs_on_different_data_are_refused(emcee_runs):
    other = _iid_result("line", 0)
    other["log_likelihood_observed"] = {"y": (np.arange(N), Y + 0.01)}
    with pytest.raises(pdaframe.DataError, match="different data: stream 'y'.*20 differing"):
        ms.compare({"a": emcee_runs["line"], "b": other})
    shorter = _iid_result("line", 0)
    shorter["log_likelihood_observed"] = {"y": (np.arange(N - 1), Y[:-1])}
    with pytest.raises(pdaframe.DataError, match="20 vs 19 valid observations"):
        ms.compare({"a": emcee_runs["line"], "b": shorter})
    renamed = _iid_result("line", 0)
    renamed["log_likelihood"] = {"z": renamed["log_likelihood"]["y"]}
    with pytest.raises(pdaframe.DataError, match="different streams"):
        ms.compare({"a": emcee_runs["line"], "b": renamed})
    same = ms.compare({"a": emcee_runs["line"], "b": _iid_result("line", 0)})
    assert same.loc["b", "elpd_diff"] == pytest.approx(0.0, abs=0.3) or \
        same.loc["a", "elpd_diff"] == pytest.approx(0.0, abs=0.3)
    with pytest.raises(pdaframe.ConfigError, match="at least two runs"):
        ms.compare({"a": emcee_runs["line"]})
    with pytest.raises(pdaframe.ConfigError, match="ic = 'bic'"):
        ms.compare(emcee_runs, ic="bic")


def test_pareto_k_warning_on_an_influential_observation():
    y = Y.copy()
    y[-1] += 6.0                                   # an outlier the fit leans on
    G = DESIGNS["line"]
    mu, cov = _posterior(G, y)
    theta = np.random.default_rng(0).multivariate_normal(mu, cov, size=(2, 100))
    ll = -0.5 * np.log(2 * np.pi * SIGMA ** 2) - 0.5 * (y - theta @ G.T) ** 2 / SIGMA ** 2
    res = pdaframe.SampleResult(samples=theta, log_likelihood={"y": ll})
    with pytest.warns(ms.ParetoKWarning, match=r"1 of 20 observations have Pareto k > 0.7"):
        loo = ms.loo(res, label="outlier")
    assert float(loo.pareto_k[-1]) > 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("error", ms.ParetoKWarning)
        ms.loo(_iid_result("line", 0))               # no warning on the clean data
