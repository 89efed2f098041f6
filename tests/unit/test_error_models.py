"""Exponential temporal error correlation (O(n)) and model-error inflation vs dense R."""

import numpy as np
import pytest

import pdaframe
from pdaframe.observations.error_models import ExponentialCovariance


def dense(std, times, length):
    return std[:, None] * std[None, :] * np.exp(-np.abs(times[:, None] - times) / length)


@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    times = rng.permutation(np.array([0.0, 1.0, 2.5, 3.0, 7.0, 7.2, 11.0]))   # unsorted
    std = rng.uniform(0.5, 2.0, times.size)
    return ExponentialCovariance(std, times, 2.0), dense(std, times, 2.0), rng


def test_whiten_solve_logdet_match_dense(small):
    err, R, rng = small
    r, s = rng.standard_normal((2, R.shape[0]))
    np.testing.assert_allclose(err.whiten(r) @ err.whiten(s), r @ np.linalg.solve(R, s),
                               rtol=1e-12)
    np.testing.assert_allclose(err.solve(r), np.linalg.solve(R, r), rtol=1e-11)
    W = err.whiten(np.eye(R.shape[0]))                 # columns: W itself
    np.testing.assert_allclose(W.T @ W, np.linalg.inv(R), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(err.solve(np.eye(R.shape[0])), np.linalg.inv(R), rtol=1e-10,
                               atol=1e-12)
    assert err.logdet() == pytest.approx(np.linalg.slogdet(R)[1], rel=1e-12)
    np.testing.assert_allclose(err.matrix(), R, rtol=1e-14)


def test_sample_is_exactly_the_factor_and_has_covariance_R(small):
    err, R, _ = small
    e = err.sample(np.random.default_rng(5))
    z = np.random.default_rng(5).standard_normal(R.shape[0])
    np.testing.assert_allclose(err.whiten(e)[err.order], z, rtol=1e-12)   # e = L z exactly
    draws = np.array([err.sample(g) for g in [np.random.default_rng(9)] * 40000])
    np.testing.assert_allclose(np.cov(draws.T), R, atol=0.06 * np.max(R))


def test_stream_with_correlation_equals_full_covariance_stream():
    values = np.array([1.0, np.nan, 2.0, 0.5, 3.0])
    times = np.array([0, 2, 3, 7, 8])
    std = np.array([0.5, 1.0, 0.7, 0.9, 1.1])
    a = pdaframe.DataStream("nee", "y", values, times=times, std=std,
                            correlation={"kind": "exponential", "length": 3.0})
    b = pdaframe.DataStream("nee", "y", values, times=times,
                            covariance=dense(std, times.astype(float), 3.0))
    r = np.array([0.3, -1.0, 0.2, 0.4])
    np.testing.assert_allclose(a.error.solve(r), b.error.solve(r), rtol=1e-11)
    assert a.error.logdet() == pytest.approx(b.error.logdet(), rel=1e-12)


def test_hundred_thousand_points_use_linear_memory():
    # O(n): the n x n matrix would be 80 GB; allow a few dozen vectors of n floats
    import tracemalloc
    n = 100_000
    times = np.cumsum(np.random.default_rng(0).integers(1, 4, n))
    r = np.random.default_rng(1).standard_normal(n)
    tracemalloc.start()
    try:
        s = pdaframe.DataStream("nee", "y", np.zeros(n), times=times, std=0.5,
                                correlation={"kind": "exponential", "length": 5.0})
        z, x, e, ld = (s.error.whiten(r), s.error.solve(r),
                       s.error.sample(np.random.default_rng(2)), s.error.logdet())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 8 * n, peak
    assert np.isfinite(ld)
    assert np.isfinite(z).all() and np.isfinite(x).all() and e.shape == (n,)
    assert float(r @ x) == pytest.approx(float(z @ z), rel=1e-10)
    with pytest.raises(pdaframe.DataError, match="dense"):
        s.error.matrix()


def test_model_error_inflation():
    s = pdaframe.DataStream("lai", "y", [1.0, 2.0], std=[0.3, 0.4], model_error_std=0.4)
    np.testing.assert_allclose(s.error.std, [0.5, np.sqrt(0.32)])
    R = np.array([[1.0, 0.5], [0.5, 2.0]])
    f = pdaframe.DataStream("lai", "y", [1.0, 2.0], covariance=R, model_error_std=[1.0, 2.0])
    np.testing.assert_allclose(f.error.matrix(), R + np.diag([1.0, 4.0]), rtol=1e-14)


@pytest.mark.parametrize("length", [0.0, -1.0, np.inf])
def test_bad_correlation_length_names_the_stream(length):
    with pytest.raises(pdaframe.DataError, match="stream 'nee' error.*correlation length"):
        pdaframe.DataStream("nee", "y", [1.0, 2.0], std=1.0,
                            correlation={"kind": "exponential", "length": length})


def test_bad_model_error_and_combinations():
    with pytest.raises(pdaframe.DataError, match="stream 'nee' error.*model_error_std.*>= 0"):
        pdaframe.DataStream("nee", "y", [1.0, 2.0], std=1.0, model_error_std=-0.1)
    with pytest.raises(pdaframe.DataError, match="stream 'nee' error.*not be Markov"):
        pdaframe.DataStream("nee", "y", [1.0, 2.0], std=1.0, model_error_std=0.1,
                            correlation={"length": 2.0})
    with pytest.raises(pdaframe.DataError, match="stream 'nee' error.*two observations at"):
        pdaframe.DataStream("nee", "y", [1.0, 2.0], times=[3, 3], std=1.0,
                            correlation={"length": 2.0})
    with pytest.raises(pdaframe.DataError, match="stream 'nee' error.*expected"):
        pdaframe.DataStream("nee", "y", [1.0, 2.0], std=1.0, correlation={"kind": "gauss"})


def test_config_correlation_length(tmp_path):
    base = ('[model]\nname = "toy-carbon"\noptions = { n_days = 60 }\n'
            '[twin]\ntruth = "sample"\n'
            '[[streams]]\nname = "nee"\nvariable = "nee"\nstd = 0.5\n'
            'times = { start = 0, stop = 60, step = 2 }\n')
    path = tmp_path / "c.toml"
    path.write_text(base + "correlation_length = 4.0\nmodel_error_std = 0.0\n")
    with pytest.raises(pdaframe.DataError, match=r"\[streams.0\] \[nee\].*not be Markov"):
        pdaframe.load_config(path)
    path.write_text(base + "correlation_length = 4.0\n")
    err = pdaframe.load_config(path).problem.streams[0].error
    assert err.length == 4.0 and err.size == 30
    path.write_text(base + "correlation_length = 0.0\n")
    with pytest.raises(pdaframe.DataError, match=r"\[nee\].*correlation length"):
        pdaframe.load_config(path)
