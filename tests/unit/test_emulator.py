"""GP emulator and calibrate–emulate–sample (methods.md §9 VALIDATION)."""
import numpy as np
import pytest

from pdaframe import emulator as em
from pdaframe.errors import ConfigError

from ..conftest import LG2_COV, LG2_MEAN


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
    res = em.ces(lg2, seed=1, n_design=20, n_steps=6000, n_check=4)
    sd = np.sqrt(np.diag(LG2_COV))
    assert np.all(np.abs(res.x - LG2_MEAN) < 0.2 * sd), res.x
    assert np.allclose(res.posterior_std, sd, rtol=0.2)
    assert res.nfev == 20 + 4 + 1 and lg2.nrun == res.nfev
    assert res.check["coverage"] == 1.0
    assert np.allclose(res.check["emulated_cost"], res.check["real_cost"], atol=1e-2)
