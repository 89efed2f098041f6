"""Normalised seasonality: per-year min-max values, derivative, ties and flat years."""
import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.operators import NormalisedSeasonality
from tests.unit.test_operators_common import check_operator

DATES = np.datetime64("2004-01-01") + np.arange(731)         # 2004 (leap) and 2005
TIMES = np.arange(5, 731, 16)


def lai():
    t = np.arange(731.0)
    return {"lai": 2.0 + np.sin(2 * np.pi * (t - 100) / 365.0) + 0.1 * np.cos(0.37 * t)}


def test_values_per_year():
    op = NormalisedSeasonality("lai", TIMES, dates=DATES)
    u = op.apply(lai())
    x = lai()["lai"][TIMES]
    first = TIMES < 366
    for sel in (first, ~first):
        np.testing.assert_allclose(u[sel], (x[sel] - x[sel].min()) / np.ptp(x[sel]),
                                   rtol=1e-14)
        assert u[sel].min() == 0.0 and u[sel].max() == 1.0
    years = np.repeat([7, 8], [366, 365])
    np.testing.assert_array_equal(NormalisedSeasonality("lai", TIMES, years=years).apply(lai()),
                                  u)


def test_derivative_against_central_differences():
    op = NormalisedSeasonality("lai", TIMES, dates=DATES)
    out = lai()
    jac = np.empty((TIMES.size, 731))
    for s in range(731):
        e = np.zeros(731)
        e[s] = 1.0
        jac[:, s] = op.tangent(out, {"lai": e})
    h = 1e-6          # well below the gap between the extremes and the runner-up values
    for s in np.r_[TIMES[:4], np.unique(np.r_[op._extremes(out["lai"])[1:3]]).ravel()]:
        xp, xm = out["lai"].copy(), out["lai"].copy()
        xp[s] += h
        xm[s] -= h
        fd = (op.apply({"lai": xp}) - op.apply({"lai": xm})) / (2 * h)
        np.testing.assert_allclose(jac[:, s], fd, atol=1e-8)
    check_operator(op, out, first_step=4e-3)


def test_ties_and_flat_years():
    x = {"lai": np.array([1.0, 3.0, 1.0, 2.0, 5.0, 5.0])}
    years = [0, 0, 0, 1, 1, 1]
    op = NormalisedSeasonality("lai", [0, 1, 2, 3, 4], years=years)
    np.testing.assert_allclose(op.apply(x), [0, 1, 0, 0, 1], rtol=1e-15)
    with pytest.raises(DataError, match=r"year 0: minimum 1.0 tied at steps \[0, 2\]"):
        NormalisedSeasonality("lai", [0, 1, 2, 3, 4], years=years, ties="raise").apply(x)
    with pytest.raises(DataError, match=r"year 1 is flat \(min = max = 5.0\)"):
        NormalisedSeasonality("lai", [0, 1, 4, 5], years=years).apply(x)
    with pytest.raises(DataError, match=r"year 1 has observations on 1 date"):
        NormalisedSeasonality("lai", [0, 1, 4, 4], years=years)


def test_bad_input():
    with pytest.raises(ConfigError, match="exactly one of years"):
        NormalisedSeasonality("lai", [0, 1])
    with pytest.raises(ConfigError, match="time index 9 outside the 3 model steps"):
        NormalisedSeasonality("lai", [0, 9], years=[0, 0, 0])
    with pytest.raises(ConfigError, match="ties 'last'"):
        NormalisedSeasonality("lai", [0, 1], years=[0, 0], ties="last")
    with pytest.raises(ConfigError, match="needs the observations' time indices"):
        NormalisedSeasonality("lai", None, years=[0, 0])
    with pytest.raises(DataError, match=r"output shape \(4,\), expected \(3,\)"):
        NormalisedSeasonality("lai", [0, 1], years=[0, 0, 0]).apply({"lai": np.zeros(4)})


def test_normalise_observations():
    op = NormalisedSeasonality("lai", [0, 1, 2, 3, 4], years=[0, 0, 0, 1, 1])
    u, s = op.normalise([1.0, 3.0, np.nan, 2.0, 6.0], std=0.4)
    np.testing.assert_allclose(u[[0, 1, 3, 4]], [0, 1, 0, 1], rtol=1e-15)
    np.testing.assert_allclose(s, [0.2, 0.2, 0.2, 0.1, 0.1], rtol=1e-15)
    with pytest.raises(DataError, match="year 0 has 1 valid observations"):
        op.normalise([1.0, np.nan, np.nan, 2.0, 6.0])
