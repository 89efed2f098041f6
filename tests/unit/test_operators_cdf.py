"""CDF matching: pytesmo rules, the Gaussian closed form, the fixed map's derivatives."""
import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.operators import CDFMatching, fit_cdf_matching
from tests.unit.test_operators_common import check_operator


def test_gaussian_onto_gaussian_is_affine():
    rng = np.random.default_rng(42)
    model, obs = rng.standard_normal(200_000), 2.0 + 3.0 * rng.standard_normal(200_000)
    op = CDFMatching("sm").fit({"sm": model}, obs)
    assert op.knots[0].size == 101
    y = np.linspace(-2.5, 2.5, 51)
    np.testing.assert_allclose(op.apply({"sm": y}), 2.0 + 3.0 * y, atol=0.1)
    # beyond the outer knots the map continues linearly with about the same slope
    np.testing.assert_allclose(op.apply({"sm": np.array([8.0])}), [26.0], rtol=0.05)


def test_linear_relation_is_recovered_exactly_with_fewer_bins():
    x = np.linspace(0.1, 0.4, 200)
    xk, yk = fit_cdf_matching(x, 0.5 * x + 0.05)         # 200 / 20 -> 10 bins
    assert xk.size == 11
    np.testing.assert_allclose(yk, 0.5 * xk + 0.05, atol=1e-12)
    xk, yk = fit_cdf_matching(x[:30], 2.0 * x[:30])      # one bin: linear regression
    np.testing.assert_allclose(yk - yk[0], [0.0, 2.0], atol=1e-12)


def test_derivatives_and_one_sided_kinks():
    op = CDFMatching("sm", times=[0, 2, 3, 2], knots=[[0.0, 1.0, 2.0], [0.0, 2.0, 2.5]])
    out = {"sm": np.array([0.3, 9.0, 1.7, -1.0])}
    np.testing.assert_allclose(op.apply(out), [0.6, 2.35, -2.0, 2.35], rtol=1e-15)
    # at a knot the slope of the segment on the right; past the last knot the last one
    plain = CDFMatching("sm", knots=op.knots)
    np.testing.assert_allclose(plain.tangent({"sm": np.array([1.0, 0, 2.0, 5.0])},
                                          {"sm": np.ones(4)}), [0.5, 2.0, 0.5, 0.5])
    check_operator(op, out, first_step=1e-3)


def test_too_few_points():
    x = np.r_[np.arange(25.0), np.full(5, np.nan)]
    y = np.r_[np.full(6, np.nan), np.arange(24.0)]
    with pytest.raises(DataError, match=r"19 valid co-located values, at least minobs = 20"):
        fit_cdf_matching(x, y)
    with pytest.raises(DataError, match="3 model values but 2 observations"):
        fit_cdf_matching([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="model values are all equal"):
        fit_cdf_matching(np.ones(30), np.arange(30.0))
    with pytest.raises(ConfigError, match="nbins and minobs must be positive"):
        fit_cdf_matching(np.arange(30.0), np.arange(30.0), nbins=0)


def test_bad_operator_input():
    with pytest.raises(ConfigError, match=r"cdf matching of 'sm': not fitted"):
        CDFMatching("sm").apply({"sm": np.zeros(3)})
    with pytest.raises(ConfigError, match="strictly increasing model knots"):
        CDFMatching("sm", knots=[[0.0, 0.0], [1.0, 2.0]])
    with pytest.raises(ConfigError, match="time index 7 beyond the model's 3 steps"):
        CDFMatching("sm", times=[7], knots=[[0, 1], [0, 1]]).apply({"sm": np.zeros(3)})
    with pytest.raises(DataError, match=r"output shape \(3, 1\), expected \(n_time,\)"):
        CDFMatching("sm", knots=[[0, 1], [0, 1]]).apply({"sm": np.zeros((3, 1))})
