"""The numpy reference DALEC2 (``reference.py``) against the spec, ``shared/reference/dalec2.md``.

Section 9 point values R1-R3 test the reference's helpers; carbon balance, the step form and
the analytic tangent-linear fact of R6 test full runs.

R4, R5, R6 (cost and gradient) and R7 are runs over the Alice Holt 1999-2013 drivers of
Pinnington et al. (2016). That file has no licence and is not in the project (spec section 8),
so those checks have no test here (a permanently skipped placeholder was removed: it could
never fail); the analytic part of R6 does not depend on the drivers and is tested below.
"""
import math

import numpy as np
import pytest

from pdaframe_dalec2.drivers import Drivers
from pdaframe_dalec2.readers import read_us_me2
from reference import (OUTPUTS, POOL_NAMES, XB, acm_gpp, day_length, offset_polynomial, offsets,
                       phenology, run_reference)

PHI_P16 = 0.89133965            # P16 latitude as coded, radians (spec section 2)
CARD_PRESET = dict(phenology_offset="card", psi_d=-2.0, temperature="minmax", co2="driver",
                   phenology_clock="elapsed")


# --- R1: ACM ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lai, c_eff, t_max, t_min, sw, doy, lat_rad, psi_d, expected", [
    (3.0, 50.0, 20.0, 10.0, 20.0, 180, PHI_P16, -2.5, 14.6364802298),
    (3.0, 50.0, 20.0, 10.0, 20.0, 180, PHI_P16, -2.0, 13.9577114956),
    (1.0, 74.7751776, 5.0, -1.0, 5.0, 15, PHI_P16, -2.5, 1.6140722778),
    (3.0, 50.0, 20.0, 10.0, 20.0, 180, math.radians(51.153525), -2.5, 14.6474038625),
    (3.0, 50.0, 20.0, 10.0, 20.0, 180, math.radians(51.153525), -2.0, 13.9681285433),
])
def test_r1_acm(lai, c_eff, t_max, t_min, sw, doy, lat_rad, psi_d, expected):
    gpp = acm_gpp(lai, c_eff, t_max, t_min, sw, doy, lat_rad, ca=390.0, psi_d=psi_d)
    assert gpp == pytest.approx(expected, rel=1e-9)


# --- R2: day length --------------------------------------------------------------------------
@pytest.mark.parametrize("doy, hours", [(1, 7.77731113), (172, 16.31887480), (355, 7.68092404)])
def test_r2_day_length(doy, hours):
    assert day_length(doy, PHI_P16) == pytest.approx(hours, abs=1e-8)


def test_day_length_beyond_polar_circles():
    assert day_length(172, math.radians(80.0)) == 24.0
    assert day_length(355, math.radians(80.0)) == 0.0
    assert day_length(172, math.radians(-80.0)) == 0.0


# --- R3: phenology ---------------------------------------------------------------------------
def test_r3_offset_polynomial_at_one():
    assert offset_polynomial(1.0) == pytest.approx(-0.086503318564, abs=1e-12)


@pytest.mark.parametrize("variant, o_on, o_off", [
    ("p16", -1.8334348388, -3.0854655040),
    ("card", -18.7350703856, -17.8719964008),
])
def test_r3_offsets(variant, o_on, o_off):
    got_on, got_off = offsets(c_ronset=30.0, c_rfall=60.0, c_lspan=1.2, phenology_offset=variant)
    assert got_on == pytest.approx(o_on, abs=1e-10)
    assert got_off == pytest.approx(o_off, abs=1e-10)


@pytest.mark.parametrize("variant, phi_on, phi_off", [
    ("p16", 0.1823789412, 0.0237012963),
    ("card", 0.0847985013, 0.0199805985),
])
def test_r3_phenology(variant, phi_on, phi_off):
    params = dict(d_onset=140.0, c_ronset=30.0, d_fall=300.0, c_rfall=60.0, c_lspan=1.2,
                  phenology_offset=variant)
    assert phenology(140.0, **params)[0] == pytest.approx(phi_on, abs=1e-10)
    assert phenology(300.0, **params)[1] == pytest.approx(phi_off, abs=1e-10)


def test_phenology_yearly_products():
    """Spec section 3.3: the daily products over a year are about 0.00057 and 0.153."""
    params = dict(d_onset=140.0, c_ronset=30.0, d_fall=300.0, c_rfall=60.0, c_lspan=1.2)
    phi = np.array([phenology(d, **params) for d in range(1, 366)])
    assert np.prod(1.0 - phi[:, 0]) == pytest.approx(0.00057, rel=0.01)
    assert np.prod(1.0 - phi[:, 1]) == pytest.approx(0.153, rel=0.01)


# --- full runs -------------------------------------------------------------------------------
def card_theta():
    """xb with d_onset and d_fall moved into CARDAMOM's days-since-start range."""
    theta = XB.copy()
    theta[[11, 14]] += 365.25
    return theta


def constant_drivers(n, dt, sw=0.0, temp=10.0):
    """``n`` steps of ``dt`` days with constant weather starting on 1 January 2001."""
    return Drivers(time=np.datetime64("2001-01-01") + np.arange(n), doy=np.arange(n) * dt + 1.0,
                   elapsed=np.arange(n) * dt + 1.0, t_min=np.full(n, temp - 5.0),
                   t_max=np.full(n, temp + 5.0), t_mean=np.full(n, temp), sw=np.full(n, sw),
                   dt=np.full(n, float(dt)), latitude=51.0)




def check_carbon_balance(out, dt, f_auto):
    """Sum of the pool changes over each step = (GPP - Ra - Rh) * dt."""
    pools = np.column_stack([out[name] for name in POOL_NAMES])
    pools = np.vstack([pools, out["final"]])
    change = np.diff(pools.sum(axis=1))
    net = (out["gpp"] - out["ra"] - out["rh"]) * dt
    assert np.all(np.isfinite(pools))
    np.testing.assert_allclose(change, net, rtol=0, atol=1e-12 * pools.sum(axis=1).max())
    # the diagnostics as defined in the spec (section 3.6)
    np.testing.assert_allclose(out["rtot"], out["ra"] + out["rh"], rtol=1e-15)
    np.testing.assert_allclose(out["nee"], -(1.0 - f_auto) * out["gpp"] + out["rh"],
                               rtol=0, atol=1e-13)


def test_outputs_and_initial_state(us_me2):
    out = run_reference(XB, us_me2)
    assert set(out) == set(OUTPUTS) and len(OUTPUTS) == 15
    assert all(out[name].shape == (us_me2.n,) for name in OUTPUTS)
    np.testing.assert_array_equal([out[name][0] for name in POOL_NAMES], XB[17:])
    np.testing.assert_allclose(out["lai"], out["c_fol"] / XB[16], rtol=1e-15)
    # day 0 fluxes come from the initial pools and the first day's drivers
    gpp0 = acm_gpp(XB[18] / XB[16], XB[10], us_me2.t_max[0], us_me2.t_min[0], us_me2.sw[0],
                   us_me2.doy[0], math.radians(us_me2.latitude))
    assert out["gpp"][0] == pytest.approx(gpp0, rel=1e-15)
    rh0 = (XB[7] * XB[21] + XB[8] * XB[22]) * math.exp(XB[9] * us_me2.t_mean[0])
    assert out["rh"][0] == pytest.approx(rh0, rel=1e-14)


def test_carbon_balance_daily(us_me2):
    out = run_reference(XB, us_me2, final_state=True)
    check_carbon_balance(out, us_me2.dt, f_auto=XB[1])
    assert out["gpp"].max() > 5.0                      # a real growing season


@pytest.mark.parametrize("preset", ["p16", "card"])
def test_carbon_balance_monthly(de_hai, preset):
    theta, options = (XB, {}) if preset == "p16" else (card_theta(), CARD_PRESET)
    out = run_reference(theta, de_hai, final_state=True, **options)
    check_carbon_balance(out, de_hai.dt, f_auto=theta[1])
    assert np.all(np.column_stack([out[name] for name in POOL_NAMES]) > 0)


def test_monthly_step_equals_daily_steps_for_linear_losses():
    """With no GPP, root and wood only decay: one 30-day step = 30 daily steps."""
    theta = XB.copy()
    daily = run_reference(theta, constant_drivers(30, 1.0), final_state=True)
    monthly = run_reference(theta, constant_drivers(1, 30.0), final_state=True)
    assert np.all(daily["gpp"] == 0.0) and np.all(monthly["gpp"] == 0.0)
    for i, k in ((2, theta[6]), (3, theta[5])):          # c_roo, c_woo
        assert monthly["final"][i] == pytest.approx(theta[17 + i] * (1.0 - k) ** 30, rel=1e-13)
        assert monthly["final"][i] == pytest.approx(daily["final"][i], rel=1e-12)


def test_general_step_form_is_continuous_at_dt_one():
    """dt == 1 uses f = k exactly; dt = 1 + 1e-9 uses 1 - (1 - k)**dt: nearly equal."""
    drivers = read_us_me2(start="2005-01-01", end="2005-12-31")
    nudged = Drivers(**{**vars(drivers), "dt": drivers.dt + 1e-9})
    a, b = run_reference(XB, drivers), run_reference(XB, nudged)
    for name in OUTPUTS:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-6, atol=1e-9, err_msg=name)


def test_r6_tangent_linear_wood():
    """R6: dC_w,365 / dC_w,0 = (1 - theta_woo)**365 = 0.98078369354 at xb (central FD)."""
    drivers = read_us_me2(start="2005-01-01", end="2005-12-31")
    assert drivers.n == 365
    h = 1.0                                               # g C m-2; C_w,365 is linear in C_w,0
    plus, minus = XB.copy(), XB.copy()
    plus[20] += h
    minus[20] -= h
    fd = (run_reference(plus, drivers, final_state=True)["final"][3]
          - run_reference(minus, drivers, final_state=True)["final"][3]) / (2.0 * h)
    assert fd == pytest.approx((1.0 - XB[5]) ** 365, rel=1e-10)
    assert fd == pytest.approx(0.98078369354, rel=1e-9)
