"""Closed-form linear-Gaussian posteriors recovered by every minimiser."""
import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import Select
from tests.conftest import LG2_COV, LG2_MEAN, lg2_problem, random_linear_gaussian


def test_lg2_cost_and_gradient_at_background(lg2):
    assert lg2.cost([1.0, 2.0]) == pytest.approx(0.54, rel=1e-12)
    np.testing.assert_allclose(lg2.gradient([1.0, 2.0]), [-2.8, 0.0], atol=1e-12)


def test_lg2_lbfgsb_reproduces_reference_numbers(lg2):
    res = pdaframe.minimise(lg2, method="lbfgsb")
    assert res.success
    np.testing.assert_allclose(res.x, LG2_MEAN, rtol=1e-8)
    np.testing.assert_allclose(res.posterior_covariance, LG2_COV, rtol=1e-8)
    assert res.fun == pytest.approx(0.2399043062, rel=1e-9)
    assert res.nfev == lg2.nrun - res.nfev_posterior
    assert res.history["cost"][0] == pytest.approx(0.54)
    assert np.all(np.diff(res.history["cost"]) <= 1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_full_B_full_R_closed_form(seed):
    problem, xa, A = random_linear_gaussian(seed)
    res = pdaframe.minimise(problem, method="lbfgsb")
    np.testing.assert_allclose(res.x, xa, rtol=1e-8, atol=1e-10 * np.abs(xa).max())
    np.testing.assert_allclose(res.posterior_covariance, A, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("method, rtol", [("lbfgsb-fd", 1e-5), ("nelder-mead", 1e-5)])
@pytest.mark.parametrize("seed", [0, 5])
def test_derivative_free_and_fd_reach_same_mean(method, rtol, seed):
    problem, xa, A = random_linear_gaussian(seed)
    res = pdaframe.minimise(problem, method=method)
    np.testing.assert_allclose(res.x, xa, rtol=rtol, atol=rtol * np.abs(xa).max())
    np.testing.assert_allclose(res.posterior_covariance, A, rtol=1e-4, atol=1e-8)


def test_posterior_sample_matches_covariance(lg2):
    res = pdaframe.minimise(lg2)
    draws = res.posterior_sample(20000, seed=3)
    assert draws.shape == (20000, 2)
    err = np.abs(draws.mean(0) - LG2_MEAN) / np.sqrt(np.diag(LG2_COV) / 2e4)
    assert np.all(err < 4), err
    np.testing.assert_allclose(np.cov(draws.T), LG2_COV, rtol=0.05, atol=0.005)
    np.testing.assert_array_equal(draws, res.posterior_sample(20000, seed=3))


def test_callback_and_stop_iteration(lg2):
    seen = []

    def cb(state):
        seen.append(state.fun)
        raise StopIteration

    res = pdaframe.minimise(lg2, callback=cb)
    assert len(seen) == 1 and not res.success       # stopped at the first callback


def test_callable_method_and_unknown_method(lg2):
    def mine(problem, x0=None, callback=None, **options):
        return pdaframe.Result(x=problem.prior.mean, fun=problem.cost(problem.prior.mean))

    assert pdaframe.minimise(lg2, method=mine).method == "mine"
    with pytest.raises(pdaframe.ConfigError, match="unknown method .lbfgs.; available: .*lbfgsb"):
        pdaframe.minimise(lg2, method="lbfgs")


def test_uniform_prior_with_bounds_stays_inside():
    model = pdaframe.LinearModel([[1.0, 0.0], [0.0, 1.0]])
    prior = pdaframe.UniformPrior([0.0, 0.0], [1.0, 1.0])
    # data pull theta_0 far above its upper bound: the estimate stays inside the box
    obs = pdaframe.DataStream("y", "y", [3.0, 0.25], std=0.1)
    res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]), posterior=False)
    assert 0.99 < res.x[0] < 1.0
    assert res.x[1] == pytest.approx(0.25, abs=1e-6)


def _dense_posterior_covariance(problem, jac):
    """The posterior covariance as computed before it was blocked: W J S stacked, dense."""
    blocks, i = [], 0
    for s in problem.streams:
        blocks.append(np.sqrt(s.weight) * s.error.whiten(jac[i:i + s.n_valid]))
        i += s.n_valid
    gs = np.vstack(blocks) @ problem.prior.scale
    inv = np.linalg.inv(gs.T @ gs + np.eye(problem.n_param))
    return problem.prior.scale @ inv @ problem.prior.scale.T


def test_blocked_posterior_covariance_equals_the_dense_formula(monkeypatch):
    import pdaframe.problem.base
    rng = np.random.default_rng(7)
    n, m = 12, 300
    H = rng.standard_normal((m, n))
    a = rng.standard_normal((n, n))
    c = rng.standard_normal((150, 150))
    full = pdaframe.DataStream("full", "y", rng.standard_normal(150),
                               covariance=0.3 * (c @ c.T) / 150 + 0.2 * np.eye(150),
                               operator=Select("y", np.arange(150)))
    diag_values = rng.standard_normal(150)
    diag_values[[3, 77]] = np.nan                        # missing: rows left out of G
    diag = pdaframe.DataStream("diag", "y", diag_values, std=rng.uniform(0.5, 2.0, 150),
                               weight=0.5, operator=Select("y", np.arange(150, 300)))
    problem = pdaframe.Problem(pdaframe.LinearModel(H),
                               pdaframe.GaussianPrior(rng.standard_normal(n),
                                                      covariance=a @ a.T + 0.5 * np.eye(n)),
                               [full, diag])
    theta = rng.standard_normal(n)
    jac = problem.jacobian(theta)
    dense = _dense_posterior_covariance(problem, jac)
    # five columns per block: several blocks per stream
    monkeypatch.setattr(pdaframe.problem.base, "HESSIAN_BLOCK_BYTES", 8 * 150 * 5)
    for cov in (problem.posterior_covariance(theta, jac), problem.posterior_covariance(theta)):
        np.testing.assert_allclose(cov, dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())


def test_posterior_covariance_memory_does_not_copy_the_jacobian():
    import tracemalloc
    rng = np.random.default_rng(1)
    n, m = 50, 200_000
    problem = pdaframe.Problem(pdaframe.LinearModel(np.zeros((1, n))),
                               pdaframe.GaussianPrior(np.zeros(n), std=np.ones(n)),
                               [pdaframe.DataStream("y", "y", np.zeros(m), std=np.ones(m))])
    jac = rng.standard_normal((m, n))                    # 80 MB
    tracemalloc.start()
    try:
        cov = problem.posterior_covariance(np.zeros(n), jac)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the dense path held two to four copies of the Jacobian; the blocked one a few MB
    assert peak < 0.25 * jac.nbytes, f"peak {peak / 1e6:.0f} MB for an {jac.nbytes / 1e6:.0f} MB Jacobian"
    np.testing.assert_allclose(np.linalg.inv(cov), jac.T @ jac + np.eye(n), rtol=1e-9)
