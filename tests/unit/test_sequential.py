"""ES-MDA, EnKF and particle filter for parameters (Method notes §7 VALIDATION, LG2)."""
import numpy as np
import pytest

import pdaframe
from tests.conftest import LG2_COV, LG2_MEAN, lg2_problem
from pdaframe.errors import ConfigError
from pdaframe.methods.sequential import (ESMDAState, EnKFState, ParticleFilterState,
                                         check_alphas, enkf, es_mda, liu_west,
                                         particle_filter, systematic_resample)

N = 10_000
TOL = 3 / np.sqrt(N)


def rel_errors(res):
    dx = np.abs(res.x - LG2_MEAN) / np.abs(LG2_MEAN)
    s = np.sqrt(np.diag(LG2_COV))
    dc = np.abs(res.posterior_covariance - LG2_COV) / np.outer(s, s)
    return dx.max(), dc.max()


@pytest.mark.parametrize("alphas", [(4, 4, 4, 4), (9.333, 7, 4, 2)])
def test_es_mda_lg2(alphas):
    res = es_mda(lg2_problem(), n_members=N, seed=3, alphas=alphas)
    dx, dc = rel_errors(res)
    assert dx < TOL
    assert dc < 4 / np.sqrt(N)        # four updates add sampling error to the covariance
    assert res.fun == pytest.approx(0.2399043062, abs=1e-4)     # J(x) from one more run
    assert res.nfev == 4 * N + 1 and res.n_rounds == 5 and res.success


@pytest.mark.parametrize("n_cycles", [1, 3])
def test_enkf_lg2(n_cycles):
    res = enkf(lg2_problem(), n_members=N, seed=5, n_cycles=n_cycles)
    dx, dc = rel_errors(res)
    assert dx < TOL and dc < TOL
    assert res.nfev == n_cycles * N + 1


def test_particle_filter_liu_west_lg2():
    res = particle_filter(lg2_problem(), n_members=N, seed=3)
    dx, dc = rel_errors(res)
    assert dx < 0.01 and dc < 0.1
    assert res.n_resampled >= 1 and len(res.history["ess"]) == 3


def test_systematic_resample_copy_counts():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.dirichlet(np.full(37, 0.3))
        idx = systematic_resample(w, rng.random())
        counts = np.bincount(idx, minlength=w.size)
        assert counts.sum() == w.size
        assert np.all(counts >= np.floor(w.size * w) - 1e-9)
        assert np.all(counts <= np.ceil(w.size * w) + 1e-9)
    # weights whose cumulative sum falls short of 1 by round-off still give valid indices
    idx = systematic_resample(np.full(3, 0.333), 0.999)
    assert idx.max() == 2


def test_liu_west_keeps_mean_and_covariance():
    rng = np.random.default_rng(1)
    M = 200_000
    U = np.column_stack([rng.gamma(2.0, 1.0, M), rng.standard_normal(M)])
    U[:, 1] += 0.5 * U[:, 0]
    w = np.full(M, 1.0 / M)
    new = liu_west(U, w, rng.standard_normal((M, 2)), delta=0.98)
    np.testing.assert_allclose(new.mean(axis=0), U.mean(axis=0), atol=0.01)
    np.testing.assert_allclose(np.cov(new.T), np.cov(U.T), rtol=0.02, atol=0.01)
    # the shrinkage a = 0.98980 of Method notes §7: the kernel is close to the identity
    assert np.corrcoef(new[:, 0], U[:, 0])[0, 1] > 0.98


def test_alphas_must_sum_to_one():
    np.testing.assert_allclose(check_alphas(4), [4, 4, 4, 4])
    check_alphas((9.333, 7, 4, 2))
    with pytest.raises(ConfigError, match=r"sum\(1/alpha\) = 1.*give 0\.75"):
        check_alphas((4, 4, 4))
    with pytest.raises(ConfigError, match="sum"):
        es_mda(lg2_problem(), n_members=50, alphas=(2, 2, 2))


@pytest.mark.parametrize("cls", [ESMDAState, EnKFState, ParticleFilterState])
def test_too_small_ensemble(cls):
    with pytest.raises(ConfigError, match="at least 3"):
        cls(lg2_problem(), n_members=2)


def test_deterministic_per_seed():
    a = es_mda(lg2_problem(), n_members=200, seed=11)
    b = es_mda(lg2_problem(), n_members=200, seed=11)
    c = es_mda(lg2_problem(), n_members=200, seed=12)
    np.testing.assert_array_equal(a.posterior_ensemble, b.posterior_ensemble)
    assert not np.array_equal(a.x, c.x)
    p = particle_filter(lg2_problem(), n_members=300, seed=2)
    q = particle_filter(lg2_problem(), n_members=300, seed=2)
    np.testing.assert_array_equal(p.posterior_ensemble, q.posterior_ensemble)


class ReverseExecutor:
    """Evaluates members in reverse order (like another rank layout), results in order."""

    def map(self, func, items):
        items = list(items)
        out = [None] * len(items)
        for i in reversed(range(len(items))):
            out[i] = func(items[i])
        return out


def test_same_result_with_any_executor():
    a = enkf(lg2_problem(), n_members=100, seed=4, n_cycles=3, inflation=1.05)
    b = enkf(lg2_problem(), n_members=100, seed=4, n_cycles=3, inflation=1.05,
             executor=ReverseExecutor())
    np.testing.assert_array_equal(a.posterior_ensemble, b.posterior_ensemble)


class FlakyModel:
    """LG2's linear model that fails when theta[0] > 1.6 (about 27 % of the prior)."""

    parameter_names = ("a", "b")
    H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])

    def run(self, theta):
        if theta[0] > 1.6:
            raise pdaframe.ModelError("a too large")
        return {"y": self.H @ theta}


def test_failed_members_redrawn_from_good_fit():
    problem = pdaframe.Problem(
        FlakyModel(), pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]]),
        [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=np.sqrt(0.5))])
    res = es_mda(problem, n_members=400, seed=1, alphas=(2, 2))
    first = int(np.sum(res.ensemble[:, 0] > 1.6))
    assert 60 < first < 160                   # failures of the prior ensemble
    assert res.n_failed >= first and res.n_redrawn == res.n_failed
    assert np.all(np.isfinite(res.posterior_ensemble))
    assert abs(res.x[0] - LG2_MEAN[0]) < 0.15   # truncation biases a little; no NaN
