"""Importance sampling and GLUE (Method notes §6 VALIDATION)."""
import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError, ModelError
from pdaframe.methods.importance import (ImportanceState, effective_sample_size, glue,
                                         importance, normalise_log_weights,
                                         weighted_quantile)


def scalar_problem(y=1.0, sigma=0.5):
    """theta ~ N(0, 1), y = theta + eps, eps ~ N(0, sigma^2)."""
    return pdaframe.Problem(pdaframe.LinearModel([[1.0]]), pdaframe.GaussianPrior([0.0], std=[1.0]),
                            [pdaframe.DataStream("y", "y", [y], std=sigma)])


def test_importance_scalar_gaussian_closed_form():
    N = 100_000
    res = importance(scalar_problem(), n_members=N, seed=1)
    # posterior N(0.8, 0.2); ESS/N -> 0.42047 (Method notes §6)
    ess_n = 0.42047
    se_mean = np.sqrt(0.2 / (ess_n * N))
    assert abs(res.x[0] - 0.8) < 4 * se_mean
    assert abs(res.posterior_covariance[0, 0] - 0.2) < 4 * 0.2 * np.sqrt(2 / (ess_n * N))
    assert abs(res.ess_fraction - ess_n) < 0.006
    assert res.ess == pytest.approx(1 / np.sum(res.weights ** 2))
    assert res.weights.sum() == pytest.approx(1.0)
    # fun = J at the weighted mean: 1/2 (x - 1)^2 / 0.25 + 1/2 x^2
    x = res.x[0]
    assert res.fun == pytest.approx(2 * (x - 1) ** 2 + 0.5 * x ** 2, rel=1e-12)
    assert res.nfev == N + 1 and res.success


def test_importance_gaussian_proposal():
    # proposal N(0.8, 0.3) close to the posterior: ESS much higher, same answer
    res = importance(scalar_problem(), n_members=20_000, seed=2, proposal=([0.8], [[0.3]]))
    assert res.ess_fraction > 0.9
    assert abs(res.x[0] - 0.8) < 4 * np.sqrt(0.2 / 20_000 / 0.9)
    assert abs(res.posterior_covariance[0, 0] - 0.2) < 0.01


def test_importance_deterministic_per_seed(lg2):
    a = importance(lg2, n_members=500, seed=7)
    b = importance(lg2, n_members=500, seed=7)
    c = importance(lg2, n_members=500, seed=8)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_log_weights_no_underflow_and_all_zero():
    w = normalise_log_weights([-1e4, -1e4 - np.log(3.0), -np.inf, np.nan])
    np.testing.assert_allclose(w, [0.75, 0.25, 0.0, 0.0])
    assert effective_sample_size([0.5, 0.5]) == 2.0
    with pytest.raises(ValueError, match="no finite log-weight"):
        normalise_log_weights([-np.inf, np.nan])


class FailingModel:
    parameter_names = ("theta",)

    def run(self, theta):
        raise pdaframe.ModelError("always fails")


def test_importance_all_failed_is_clear_error():
    problem = pdaframe.Problem(FailingModel(), pdaframe.GaussianPrior([0.0], std=[1.0]),
                               [pdaframe.DataStream("y", "theta", [1.0], std=0.5)])
    with pytest.raises(ModelError, match="no sample has a positive weight.*10 of 10"):
        importance(problem, n_members=10)


def test_importance_bad_options():
    with pytest.raises(ConfigError, match="at least 2"):
        ImportanceState(scalar_problem(), n_members=1)
    with pytest.raises(ConfigError, match="unknown option"):
        pdaframe.minimise(scalar_problem(), method=importance, n_member=10)


def test_weighted_quantile_interpolates_cumulative_weights():
    v = np.array([3.0, 1.0, 2.0, 4.0])
    w = np.array([0.25, 0.25, 0.25, 0.25])
    # sorted 1,2,3,4 with C = .25,.5,.75,1: F=0.5 at 2, F=0.625 half-way between 2 and 3
    np.testing.assert_allclose(weighted_quantile(v, w, [0.5, 0.625, 0.05, 1.0]),
                               [2.0, 2.5, 1.0, 4.0])
    w2 = np.array([0.0, 0.5, 0.5, 0.0])         # only 1 and 2 count
    np.testing.assert_allclose(weighted_quantile(v, w2, [0.75]), [1.5])


def test_glue_gaussian_no_threshold_equals_importance(lg2):
    a = importance(lg2, n_members=2000, seed=3)
    b = glue(lg2, n_members=2000, seed=3, likelihood="gaussian")
    np.testing.assert_allclose(b.weights, a.weights, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(b.x, a.x, rtol=1e-12)
    np.testing.assert_allclose(b.posterior_covariance, a.posterior_covariance, rtol=1e-10)
    assert b.n_behavioural == 2000


def test_glue_nse_threshold_and_bounds():
    # y = theta * (1, 2, ..., 10); NSE of each run known in closed form
    t = np.arange(1.0, 11.0)
    obs = 1.0 * t
    problem = pdaframe.Problem(pdaframe.LinearModel(t[:, None]),
                               pdaframe.UniformPrior([0.0], [2.0]),
                               [pdaframe.DataStream("y", "y", obs, std=1.0)])
    res = glue(problem, n_members=400, seed=4, likelihood="nse", shape=2, threshold=0.5)
    theta = res.samples[:, 0]
    nse = 1 - np.var(theta[:, None] * t - obs, axis=1) / np.var(obs)
    np.testing.assert_allclose(res.nse[:, 0], nse, rtol=1e-12)
    beh = nse >= 0.5
    np.testing.assert_array_equal(res.behavioural, beh)
    L = np.where(beh, nse ** 2, 0.0)
    np.testing.assert_allclose(res.weights, L / L.sum(), rtol=1e-10)
    # bounds: weighted 5/95 % quantiles of theta * t per time = t * quantile of theta
    q = weighted_quantile(theta, L / L.sum(), [0.05, 0.95])
    np.testing.assert_allclose(res.prediction_bounds["y"], q[:, None] * t[None, :], rtol=1e-10)
    assert 0.0 < q[0] < 1.0 < q[1] < 2.0
    # top 10 %: exactly 40 behavioural runs, the best likelihoods
    top = glue(problem, n_members=400, seed=4, likelihood="exponential", top_fraction=0.1)
    assert top.n_behavioural == 40
    s_e2 = np.var(theta[:, None] * t - obs, axis=1)
    assert set(np.flatnonzero(top.behavioural)) == set(np.argsort(s_e2)[:40])


def test_glue_no_behavioural_run_message():
    t = np.arange(1.0, 11.0)
    problem = pdaframe.Problem(pdaframe.LinearModel(t[:, None]),
                               pdaframe.UniformPrior([5.0], [6.0]),
                               [pdaframe.DataStream("y", "y", t, std=1.0)])
    with pytest.raises(ConfigError, match="no behavioural run.*NSE >= 0.5"):
        glue(problem, n_members=50, threshold=0.5)
