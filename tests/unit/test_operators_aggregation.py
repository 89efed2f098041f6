"""Temporal aggregation: window values, missing-data rule, tiling errors, aggregated errors."""
import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.operators.aggregation import (TemporalAggregation, check_windows,
                                            mean_error_variance, window_edges)
from pdaframe.testing import operator_dot_product_test
from tests.unit.test_operators_common import check_operator


def test_calendar_windows():
    d = np.datetime64("2004-01-01") + np.arange(366)              # a leap year
    monthly = window_edges("monthly", d)
    np.testing.assert_array_equal(np.diff(monthly), [31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                                     30, 31])
    eight = window_edges("8-day", d)
    assert eight.size - 1 == 46 and np.diff(eight)[-1] == 6      # 45 * 8 + 6 = 366
    two_years = window_edges("8-day", np.datetime64("2005-01-01") + np.arange(730))
    assert np.diff(two_years)[45] == 5 and two_years[46] == 365  # restart on 1 January
    np.testing.assert_array_equal(window_edges("annual", np.datetime64("2004-07-01") +
                                               np.arange(400)), [0, 184, 400])


def test_means_and_sums_with_missing_steps():
    x = np.arange(10.0)
    valid = np.ones(10, bool)
    valid[[1, 7, 8]] = False                 # window 0: 4/5 valid (kept), window 1: 3/5
    mean = TemporalAggregation("x", [0, 5, 10], valid=valid)
    np.testing.assert_array_equal(mean.kept, [True, False])
    y = mean.apply({"x": x})
    assert y[0] == pytest.approx((0 + 2 + 3 + 4) / 4, abs=1e-15) and np.isnan(y[1])
    rescaled = TemporalAggregation("x", [[0, 5], [5, 10]], "sum", valid=valid,
                                   min_fraction=0.6)
    np.testing.assert_allclose(rescaled.apply({"x": x}), [9 * 5 / 4, (5 + 6 + 9) * 5 / 3],
                               rtol=1e-15)
    dropped = TemporalAggregation("x", [0, 5, 10], "sum", valid=valid, min_fraction=0.6,
                                  sums="drop")
    assert np.isnan(dropped.apply({"x": x})).all()
    full = TemporalAggregation("x", [0, 3, 10], "sum")
    np.testing.assert_array_equal(full.apply({"x": x}), [3.0, 42.0])
    np.testing.assert_array_equal(mean.aggregate(np.where(valid, x, np.nan))[:1], [2.25])


def test_extra_axes_flattened_per_window():
    x = np.arange(12.0).reshape(6, 2)
    op = TemporalAggregation("x", [0, 2, 6])
    np.testing.assert_allclose(op.apply({"x": x}), [1.0, 2.0, 7.0, 8.0], rtol=1e-15)
    check_operator(op, {"x": x})


@pytest.mark.parametrize("statistic", ["mean", "sum"])
def test_derivatives(statistic):
    rng = np.random.default_rng(3)
    valid = rng.random(40) > 0.1
    op = TemporalAggregation("x", [0, 8, 16, 24, 31, 40], statistic, valid=valid,
                             min_fraction=0.5)
    check_operator(op, {"x": rng.standard_normal(40)})


def test_tangent_and_adjoint_ignore_dropped_windows():
    valid = np.r_[np.ones(5, bool), np.zeros(5, bool)]
    op = TemporalAggregation("x", [0, 5, 10], valid=valid)
    out = {"x": np.ones(10)}
    assert op.tangent(out, {"x": np.ones(10)})[1] == 0.0
    assert not op.adjoint(out, np.ones(2))["x"][5:].any()
    assert operator_dot_product_test(op, out, rng=1) <= 1e-12


@pytest.mark.parametrize("windows, message", [
    ([0, 5, 5, 10], r"window 1 \[5, 5\) is empty"),
    ([[0, 5], [6, 10]], r"window 1 \[6, 10\) leaves a gap after window 0 ending at 5"),
    ([[0, 5], [4, 10]], r"window 1 \[4, 10\) leaves an overlap with window 0"),
    ([0, 5, 9], r"window 1 \(the last\) ends at 9, the period at 10"),
    ([[1, 5], [5, 10]], r"window 0 starts at 1, the period at 0"),
    ([0.5, 3], r"integer"),
    ([[0, 1, 2]], r"shape"),
])
def test_windows_must_tile_the_period(windows, message):
    with pytest.raises(ConfigError, match=r"temporal aggregation of 'nee': .*" + message):
        TemporalAggregation("nee", windows, n_steps=10)


def test_windows_checked_against_model_length():
    op = TemporalAggregation("nee", [0, 5, 9])
    with pytest.raises(ConfigError, match=r"window 1 \(the last\) ends at 9, the model has 10"):
        op.apply({"nee": np.zeros(10)})
    assert check_windows([0, 4, 9]).tolist() == [0, 4, 9]


def test_bad_options():
    with pytest.raises(ConfigError, match="statistic 'median'"):
        TemporalAggregation("x", [0, 2], "median")
    with pytest.raises(ConfigError, match="min_fraction must be in"):
        TemporalAggregation("x", [0, 2], min_fraction=0)
    with pytest.raises(ConfigError, match="sums 'keep'"):
        TemporalAggregation("x", [0, 2], "sum", sums="keep")
    with pytest.raises(DataError, match="boolean mask of the 2 model steps"):
        TemporalAggregation("x", [0, 2], valid=[True])
    with pytest.raises(ConfigError, match="period 'weekly'"):
        window_edges("weekly", np.datetime64("2004-01-01") + np.arange(3))
    with pytest.raises(ConfigError, match="step 2 is 2004-01-04 after 2004-01-02"):
        window_edges("monthly", np.array(["2004-01-01", "2004-01-02", "2004-01-04"],
                                         dtype="datetime64[D]"))
    op = TemporalAggregation("x", [0, 2], valid=[True, False], min_fraction=0.5)
    with pytest.raises(DataError, match="value at valid step 0 is nan"):
        op.aggregate([np.nan, 1.0])


def test_aggregated_error_closed_forms():
    n, sigma = 8, 0.7
    assert mean_error_variance(np.full((n, n), sigma ** 2)) == pytest.approx(sigma ** 2,
                                                                             rel=1e-15)
    assert mean_error_variance(sigma ** 2 * np.eye(n)) == pytest.approx(sigma ** 2 / n,
                                                                        rel=1e-15)
    with pytest.raises(DataError, match="square"):
        mean_error_variance(np.ones(3))
    op = TemporalAggregation("x", [0, 8, 16])
    np.testing.assert_allclose(op.error_std(std=sigma), sigma / np.sqrt(8), rtol=1e-15)
    np.testing.assert_allclose(op.error_std(covariance=np.full((16, 16), sigma ** 2)),
                               sigma, rtol=1e-15)
    total = TemporalAggregation("x", [0, 8, 16], "sum", valid=np.arange(16) != 3)
    # 7 valid independent steps, rescaled by 8/7: var = 7 sigma^2 (8/7)^2
    assert total.error_std(std=sigma)[0] == pytest.approx(sigma * 8 / np.sqrt(7), rel=1e-14)
    with pytest.raises(DataError, match="exactly one of std or covariance"):
        op.error_std()
    with pytest.raises(DataError, match=r"covariance shape \(2, 2\), expected \(16, 16\)"):
        op.error_std(covariance=np.eye(2))
