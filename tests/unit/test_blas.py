"""BLAS threads inside pdaframe.minimise: one by default, PDAFRAME_BLAS_THREADS otherwise."""
import pytest
from threadpoolctl import threadpool_info

import pdaframe
from pdaframe.blas import blas_thread_setting


def _blas_threads():
    return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})


def _problem():
    model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    prior = pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 2.0])
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2],
                                                                std=0.7)])


def _seen(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("PDAFRAME_BLAS_THREADS", raising=False)
    else:
        monkeypatch.setenv("PDAFRAME_BLAS_THREADS", value)
    seen = []

    def method(problem, x0=None, callback=None):
        seen.append(_blas_threads())
        return {"x": problem.prior.mean, "fun": 0.0}

    pdaframe.minimise(_problem(), method)
    return seen[0]


@pytest.mark.skipif(not _blas_threads(), reason="no BLAS seen by threadpoolctl")
def test_methods_run_with_one_blas_thread_unless_asked(monkeypatch):
    outside = _blas_threads()
    assert _seen(monkeypatch, None) == [1]
    assert _seen(monkeypatch, "default") == outside
    assert _blas_threads() == outside                       # restored after the call
    assert _seen(monkeypatch, "2") == [min(2, max(outside))]  # the library caps at its max


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_a_bad_setting_is_a_named_error(value):
    with pytest.raises(pdaframe.ConfigError, match=r"PDAFRAME_BLAS_THREADS=.*positive whole"):
        blas_thread_setting(value)


def test_setting_values(monkeypatch):
    assert blas_thread_setting("4") == 4 and blas_thread_setting(" Default ") is None
    monkeypatch.delenv("PDAFRAME_BLAS_THREADS", raising=False)
    assert blas_thread_setting() == 1
    monkeypatch.setenv("PDAFRAME_BLAS_THREADS", "3")
    assert blas_thread_setting() == 3
