"""GP emulator and calibrate–emulate–sample (Method notes §9 VALIDATION)."""
import warnings

import numpy as np
import pytest

from pdaframe.methods.emulation import gp as em
from pdaframe.methods.emulation.ces import ces
from pdaframe.errors import ConfigError

import pdaframe
from pdaframe.errors import ModelError

from ..conftest import LG2_COV, LG2_MEAN, random_linear_gaussian


def smooth(X):
    X = np.atleast_2d(X)
    return np.sin(3 * X[:, 0]) + 0.5 * np.cos(2 * X[:, 1]) + X[:, 0] * X[:, 1]


def test_design_in_box_and_seeded():
    a = em.design([0, -1], [1, 3], 20, seed=1)
    assert a.shape == (20, 2) and a.min(0)[1] >= -1 and a.max(0)[1] <= 3
    assert np.array_equal(a, em.design([0, -1], [1, 3], 20, seed=1))
    # LHS: one point per stratum in each coordinate
    assert np.array_equal(np.sort(np.floor(a[:, 0] * 20)), np.arange(20))
    s = em.design([0, 0], [1, 1], 16, method="sobol", seed=1)
    assert s.shape == (16, 2)
    with pytest.raises(ConfigError):
        em.design([0], [np.inf], 4)


def test_gp_interpolates_noise_free_runs():
    X = em.design([0, 0], [2, 2], 20, seed=3)
    y = smooth(X)
    gp = em.GPEmulator([0, 0], [2, 2], nugget=1e-8, seed=0).fit(X, y)
    m, v = gp.predict(X)
    assert np.max(np.abs(m - y)) < 1e-3 * y.std()
    # latent variance at a data point ≈ the nugget (in output units), never above it
    nug = 1e-8 * y.std() ** 2
    assert np.all(v >= 0.5 * nug) and np.all(v <= nug * (1 + 1e-3))


def test_coverage_on_held_out_points():
    X = em.design([0, 0], [2, 2], 30, seed=5)
    gp = em.GPEmulator([0, 0], [2, 2], seed=0).fit(X, smooth(X))
    Xt = em.design([0, 0], [2, 2], 200, seed=6)
    out = em.validate(gp, Xt, smooth(Xt))
    assert 0.85 <= out["coverage"] <= 1.0
    assert out["rmse"] < 0.05 and out["n"] == 200


def test_pca_vector_output_and_extrapolation_flag():
    X = em.design([0, 0], [1, 1], 25, seed=2)
    t = np.linspace(0, 1, 30)
    Y = X[:, :1] * np.sin(4 * t) + X[:, 1:] ** 2 * t         # rank-2 outputs (30 values)
    gp = em.GPEmulator([0, 0], [1, 1], seed=0).fit(X, Y)
    assert gp.n_components == 2
    Xt = em.design([0, 0], [1, 1], 50, seed=9)
    Yt = Xt[:, :1] * np.sin(4 * t) + Xt[:, 1:] ** 2 * t
    mean, var = gp.predict(Xt)
    assert mean.shape == var.shape == (50, 30)
    assert np.max(np.abs(mean - Yt)) < 0.02
    _, cov = gp.predict(Xt[:3], full_cov=True)
    assert cov.shape == (3, 30, 30) and np.allclose(np.diagonal(cov, axis1=1, axis2=2),
                                                    var[:3])
    with pytest.warns(RuntimeWarning, match="outside the training design"):
        gp.predict([[0.5, 0.5], [1.5, 0.5]])
    assert gp.last_extrapolation[0] == 0.0
    assert np.isclose(gp.last_extrapolation[1], 1.5 - X[:, 0].max(), atol=1e-12)


def test_ces_recovers_lg2(lg2):
    res = ces(lg2, seed=1, n_design=20, n_steps=6000, n_check=4)
    sd = np.sqrt(np.diag(LG2_COV))
    assert np.all(np.abs(res.x - LG2_MEAN) < 0.2 * sd), res.x
    assert np.allclose(res.posterior_std, sd, rtol=0.2)
    # ES-MDA ensemble of 20, 3 iterations + the final ensemble, refinement runs, checks, J(x)
    assert res.n_design == 20 * 4
    assert res.nfev == res.n_design + res.n_refine_runs + 4 + 1 and lg2.nrun == res.nfev
    assert res.check["coverage"] == 1.0
    assert np.allclose(res.check["emulated_cost"], res.check["real_cost"], atol=1e-2)


def test_ces_recovers_linear_gaussian_closed_form():
    """4 parameters, full B and R: mean within 0.15 posterior sd, sds within 15 %,
    correlations within 0.1 of the closed form."""
    problem, xa, A = random_linear_gaussian(3, n=4, m=9)
    res = ces(problem, seed=2, n_steps=1500, n_check=3)
    sd = np.sqrt(np.diag(A))
    assert np.all(np.abs(res.x - xa) < 0.15 * sd), (res.x - xa) / sd
    assert np.allclose(res.posterior_std, sd, rtol=0.15), res.posterior_std / sd
    corr = res.posterior_covariance / np.outer(res.posterior_std, res.posterior_std)
    assert np.max(np.abs(corr - A / np.outer(sd, sd))) < 0.1
    assert np.all(res.rhat < 1.05) and 0.1 < res.acceptance < 0.6
    assert res.nfev == problem.nrun


class _Exponential:
    """y(t) = a exp(-b t): a nonlinear 2-parameter model."""
    parameter_names = ("a", "b")
    t = np.linspace(0.0, 4.0, 12)

    def run(self, theta):
        return {"y": theta[0] * np.exp(-theta[1] * self.t)}


def _exponential_problem():
    truth = np.array([2.0, 0.7])
    rng = np.random.default_rng(4)
    y = _Exponential().run(truth)["y"] + 0.15 * rng.standard_normal(12)
    prior = pdaframe.GaussianPrior([1.5, 1.0], std=[1.0, 0.5], lower=[0.0, 0.0],
                                   names=["a", "b"])
    return pdaframe.Problem(_Exponential(), prior, [pdaframe.DataStream("y", "y", y, std=0.15)])


def test_ces_nonlinear_model_agrees_with_direct_posterior():
    """Against the direct posterior of the real model (quadrature on a fine grid, exact up
    to the grid): means within 0.15 sd, sds within 15 %."""
    problem = _exponential_problem()
    a, b = np.meshgrid(np.linspace(1.0, 3.0, 301), np.linspace(0.2, 1.4, 301), indexing="ij")
    pts = np.column_stack([a.ravel(), b.ravel()])
    logp = -np.array([problem.cost(p) for p in pts])
    w = np.exp(logp - logp.max())
    w /= w.sum()
    mean = w @ pts
    sd = np.sqrt(w @ (pts - mean) ** 2)
    assert w.reshape(a.shape)[[0, -1], :].sum() + w.reshape(a.shape)[:, [0, -1]].sum() < 1e-6
    problem.nrun = 0
    res = ces(problem, seed=3, n_steps=1500, n_check=3)
    assert np.all(np.abs(res.x - mean) < 0.15 * sd), (res.x - mean) / sd
    assert np.allclose(res.posterior_std, sd, rtol=0.15), res.posterior_std / sd
    assert res.nfev == problem.nrun < 200


def test_gaussian_loglik_matches_full_covariance():
    """The O(k) likelihood (diagonal in the PCA basis) equals the dense formula with the
    full predictive covariance, discarded components included."""
    X = em.design([0, 0], [1, 1], 25, seed=2)
    t = np.linspace(0, 1, 30)
    Y = 3 * X[:, :1] * np.sin(4 * t) + X[:, 1:] ** 2 * t + 0.01 * np.cos(9 * X[:, :1] * t)
    gp = em.GPEmulator([0, 0], [1, 1], seed=0, standardise=False,
                       max_components=2).fit(X, Y)
    assert gp.n_components == 2 and gp.trunc_var.size > 0
    Xt = em.design([0, 0], [1, 1], 5, seed=8)
    mean, cov = gp.predict(Xt, full_cov=True)
    dense = []
    for m_, c_ in zip(mean, cov):
        c_ = np.eye(30) + c_
        dense.append(-0.5 * (m_ @ np.linalg.solve(c_, m_) + np.linalg.slogdet(c_)[1]
                             + 30 * np.log(2 * np.pi)))
    assert np.allclose(gp.gaussian_loglik(Xt), dense, rtol=1e-8, atol=1e-8)
    # numpy prediction = scikit-learn's
    mu, var = gp.predict_scores(Xt)
    for j, g in enumerate(gp.gps):
        m_sk, s_sk = g.predict(gp._scale(Xt), return_std=True)
        assert np.allclose(mu[:, j], gp.s_mean[j] + gp.s_std[j] * m_sk, atol=1e-8)
        assert np.allclose(var[:, j], (gp.s_std[j] * s_sk) ** 2, rtol=1e-6, atol=1e-12)


def test_ces_and_emulator_bad_inputs(lg2):
    with pytest.raises(ConfigError, match="kernel"):
        em.GPEmulator([0], [1], kernel="cubic")
    with pytest.raises(ConfigError, match="pca_variance"):
        em.GPEmulator([0], [1], pca_variance=1.5)
    with pytest.raises(ConfigError, match="nugget"):
        em.GPEmulator([0], [1], nugget=0.0)
    with pytest.raises(ConfigError, match="finite"):
        em.GPEmulator([0], [1]).fit([[0.0], [np.nan]], [1.0, 2.0])
    with pytest.raises(ConfigError, match="calibrate"):
        ces(lg2, calibrate="eki")
    with pytest.raises(ConfigError, match="n_chains"):
        ces(lg2, n_chains=0)
    with pytest.raises(ConfigError, match="local_prob"):
        ces(lg2, local_prob=1.0)
    with pytest.raises(ConfigError, match="ensemble of 3"):
        ces(lg2, n_design=3)
    with pytest.raises(ConfigError, match="sum\\(1/alpha\\)"):
        ces(lg2, alphas=(2.0, 3.0))
    assert lg2.nrun == 0


class _Fails:
    parameter_names = ("a", "b")

    def run(self, theta):
        raise ModelError("solver diverged")


def test_ces_all_runs_fail_is_model_error():
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0], names=["a", "b"])
    problem = pdaframe.Problem(_Fails(), prior, [pdaframe.DataStream("y", "y", [1.0], std=1.0)])
    with pytest.raises(ModelError, match=r"ces calibration round 1: only 0 of 20 members ran "
                                         r"\(20 failed; at least 3 needed\); first failure: "
                                         r"member 0: ModelError: solver diverged"):
        ces(problem, seed=0)


def test_ces_warns_when_refinement_does_not_converge(lg2):
    with pytest.warns(RuntimeWarning, match="refinement round"):
        res = ces(lg2, seed=1, n_steps=200, n_check=0, refine_tol=0.0, max_refine=1)
    assert not res.refine_converged and len(res.refine_rounds) == 1
    assert res.nfev == res.n_design + res.n_refine_runs + 1 == lg2.nrun


def test_loo_calibration_equals_explicit_leave_one_out_and_only_inflates():
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (14, 2))
    y = np.sin(9 * X[:, 0]) * np.exp(-3 * X[:, 1]) + (X[:, 0] > 0.7)     # a step: hard
    g = em.GPEmulator([0, 0], [1, 1], pca_variance=None, loo_calibrate=True, seed=1).fit(X, y)
    plain = em.GPEmulator([0, 0], [1, 1], pca_variance=None, seed=1).fit(X, y)
    amp, ls, _, _ = g._pred[0]
    U = g._scale(X)
    S = (y - g.y_mean) / g.y_std
    S = (S - g.s_mean[0]) / g.s_std[0]
    K = em._kernel_matrix(U, U, amp, ls, g.kernel) + g.nugget * np.eye(len(U))
    z2 = []
    for i in range(len(U)):                       # refit-free leave-one-out, by brute force
        k = np.delete(np.arange(len(U)), i)
        w = np.linalg.solve(K[np.ix_(k, k)], K[k, i])
        z2.append((S[i] - w @ S[k]) ** 2 / (K[i, i] - w @ K[k, i]))
    assert g.var_factor[0] == pytest.approx(max(1.0, np.mean(z2)), rel=1e-8)
    assert g.var_factor[0] > 1.0 and plain.var_factor[0] == 1.0
    Xt = rng.uniform(0, 1, (5, 2))
    (m1, v1), (m0, v0) = g.predict(Xt), plain.predict(Xt)
    np.testing.assert_allclose(m1, m0)            # only the variance changes
    np.testing.assert_allclose(v1, g.var_factor[0] * v0, rtol=1e-10)


def test_ces_reports_and_warns_how_far_it_extrapolates(lg2):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)     # its tails only: no warning
        res = pdaframe.minimise(lg2, method="ces", seed=3, n_steps=300, n_check=2)
    dist = res.emulator.extrapolation(res.samples)
    assert res.max_extrapolation == dist.max() > 0.0
    assert res.extrapolated_fraction == np.mean(dist > em.EXTRAPOLATION_WARN) < 0.1
    g = em.GPEmulator([0.0], [1.0], pca_variance=None).fit(np.array([[0.2], [0.5], [0.8]]),
                                                          np.array([0.0, 1.0, 0.0]))
    with pytest.warns(RuntimeWarning, match="outside the training design, up to 0.7"):
        g.predict(np.array([[0.5], [1.5]]))
    np.testing.assert_allclose(g.last_extrapolation, [0.0, 0.7])
