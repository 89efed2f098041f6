"""Tests of the DALEC2 Fortran kernel through `Dalec2`: values, derivatives, errors, switches.

Drivers are synthetic (seasonal sine curves): the reference-data regression tests live in
``test_reference*.py``. Run after ``pip install --no-build-isolation -e plugins/dalec2``.
"""
import math
from dataclasses import replace

import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import check_model, reset_plugins
from pdaframe_dalec2 import OUTPUTS, PARAMETERS, Dalec2, Drivers

XB = np.array([p.default for p in PARAMETERS])
STD = np.array([p.std for p in PARAMETERS])
IDX = {p.name: i for i, p in enumerate(PARAMETERS)}
POOL_OUTPUTS = ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som")
DAYS_PER_MONTH = 30.4375


def _seasonal(doy, mean, amplitude, peak_doy):
    return mean + amplitude * np.cos(2.0 * np.pi * (doy - peak_doy) / 365.25)


def daily_drivers(n_years=3, latitude=44.45):
    """Daily weather from 2001-01-01: seasonal temperatures and shortwave, rising CO2."""
    time = np.arange("2001-01-01", f"{2001 + n_years}-01-01", dtype="datetime64[D]")
    n = time.size
    doy = (time - time.astype("datetime64[Y]")).astype(float) + 1.0
    wiggle = np.sin(np.arange(n) * 2.1)                    # deterministic day-to-day noise
    t_mean = _seasonal(doy, 9.0, 9.0, 200.0) + 2.0 * wiggle
    half_range = 4.0 + 2.0 * np.cos(np.arange(n) * 0.7) ** 2
    sw = np.maximum(0.5, _seasonal(doy, 14.0, 11.0, 172.0) * (1.0 - 0.25 * wiggle ** 2))
    return Drivers(time=time, doy=doy, elapsed=np.arange(n, dtype=float),
                   t_min=t_mean - 1.2 * half_range, t_max=t_mean + 0.8 * half_range,
                   t_mean=t_mean, sw=sw, dt=np.ones(n), latitude=latitude,
                   co2=370.0 + 0.005 * np.arange(n), site="synthetic-daily")


def monthly_drivers(n_years=3, latitude=44.45):
    """Monthly means, steps of 30.4375 days dated at their mid-points."""
    n = 12 * n_years
    mid = (np.arange(n) + 0.5) * DAYS_PER_MONTH              # days since 2001-01-01
    time = np.datetime64("2001-01-01") + np.floor(mid).astype("timedelta64[D]")
    doy = (time - time.astype("datetime64[Y]")).astype(float) + 1.0
    t_mean = _seasonal(doy, 9.0, 9.0, 200.0)
    sw = _seasonal(doy, 14.0, 10.0, 172.0)
    return Drivers(time=time, doy=doy, elapsed=mid, t_min=t_mean - 5.5, t_max=t_mean + 4.5,
                   t_mean=t_mean, sw=sw, dt=np.full(n, DAYS_PER_MONTH), latitude=latitude,
                   co2=370.0 + 0.15 * np.arange(n), site="synthetic-monthly")


def constant_drivers(n, doy, t_max, t_min, sw, latitude, co2=390.0):
    """The same weather on each of n days (for point checks)."""
    time = np.datetime64("1999-01-01") + np.arange(n).astype("timedelta64[D]")
    const = lambda v: np.full(n, float(v))                                      # noqa: E731
    return Drivers(time=time, doy=const(doy), elapsed=const(doy), t_min=const(t_min),
                   t_max=const(t_max), t_mean=const(0.5 * (t_min + t_max)), sw=const(sw),
                   dt=const(1.0), latitude=latitude, co2=const(co2), site="constant")


def point(**changes):
    theta = XB.copy()
    for name, value in changes.items():
        theta[IDX[name]] = value
    return theta


POINTS = {
    "xb": XB,
    "productive": point(f_auto=0.42, f_fol=0.12, c_eff=90.0, c_lma=80.0, theta_som=2e-4,
                        theta=0.05, c_rfall=60.0, d_onset=130.0, c_fol0=150.0, c_som0=4000.0),
    # each of the 17 parameters at or near one of its P16 bounds (initial pools at xb)
    "near-bounds": point(theta_min=9.5e-3, f_auto=0.69, f_fol=0.48, f_roo=0.011,
                         c_lspan=1.002, theta_woo=9.8e-4, theta_roo=1.05e-4, theta_lit=9.6e-3,
                         theta_som=1.1e-7, theta=0.079, c_eff=99.0, d_onset=350.0,
                         f_lab=0.49, c_ronset=11.0, d_fall=5.0, c_rfall=99.0, c_lma=11.0),
}


@pytest.fixture(scope="module")
def daily():
    return daily_drivers()


@pytest.fixture(scope="module")
def monthly():
    return monthly_drivers()


@pytest.fixture(scope="module")
def models(daily, monthly):
    return {"P16": Dalec2(daily), "CARDAMOM": Dalec2(daily, "CARDAMOM"),
            "P16-monthly": Dalec2(monthly), "CARDAMOM-monthly": Dalec2(monthly, "CARDAMOM")}


# --- parameter table -----------------------------------------------------------------------
def test_parameter_table():
    names = ("theta_min", "f_auto", "f_fol", "f_roo", "c_lspan", "theta_woo", "theta_roo",
             "theta_lit", "theta_som", "theta", "c_eff", "d_onset", "f_lab", "c_ronset",
             "d_fall", "c_rfall", "c_lma", "c_lab0", "c_fol0", "c_roo0", "c_woo0", "c_lit0",
             "c_som0")
    model = Dalec2(daily_drivers(1))
    assert model.parameter_names == names
    np.testing.assert_array_equal(model.defaults, XB)
    assert XB[IDX["c_eff"]] == 74.7751776 and XB[IDX["c_som0"]] == 1625.65304
    assert STD[IDX["f_auto"]] == 9.00639e-2 and STD[IDX["c_woo0"]] == 5333.08
    for p in PARAMETERS:
        assert p.units and p.long_name, p.name
        assert 0 < p.lower < p.upper and p.std > 0, p.name
        assert p.lower < p.default < p.upper, p.name
    # P16 quirk: its xb for c_rfall (120.9) lies above its bnds (100); bnds_tst's 150 is used
    assert [PARAMETERS[IDX["c_rfall"]].lower, PARAMETERS[IDX["c_rfall"]].upper] == [10, 150]


# --- forward model ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["P16", "CARDAMOM", "P16-monthly", "CARDAMOM-monthly"])
def test_outputs_and_diagnostics(models, which):
    model = models[which]
    out = model.run(XB)
    assert tuple(out) == OUTPUTS and set(out) == set(model.output_units)
    for name, value in out.items():
        assert value.shape == (model.n,), name
        assert np.all(np.isfinite(value)), name
    f_auto = XB[IDX["f_auto"]]
    np.testing.assert_allclose(out["ra"], f_auto * out["gpp"], rtol=1e-15)
    np.testing.assert_allclose(out["rtot"], out["ra"] + out["rh"], rtol=1e-15)
    np.testing.assert_allclose(out["nee"], -(1 - f_auto) * out["gpp"] + out["rh"],
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(out["lai"], out["c_fol"] / XB[IDX["c_lma"]], rtol=1e-15)
    # outputs at t are diagnostics of the pools at the start of step t
    np.testing.assert_array_equal([out[k][0] for k in POOL_OUTPUTS], XB[17:])
    assert np.all(out["gpp"] >= 0) and out["gpp"].max() > 5.0      # a growing season
    assert out["lai"].max() > 1.5 * out["lai"].min()                 # and phenology


@pytest.mark.parametrize("which", ["P16", "CARDAMOM", "P16-monthly", "CARDAMOM-monthly"])
@pytest.mark.parametrize("where", POINTS)
def test_carbon_balance(models, which, where):
    model = models[which]
    out = model.run(POINTS[where])
    total = sum(out[k] for k in POOL_OUTPUTS)
    uptake = (out["gpp"] - out["ra"] - out["rh"]) * model.drivers.dt
    scale = total.max()
    np.testing.assert_allclose(np.diff(total), uptake[:-1], rtol=0, atol=1e-13 * scale)


def test_general_step_form_matches_daily_p16(daily):
    """dt a hair above 1 takes the (1 - (1 - k)**dt) branch; it must agree with P16."""
    exact = Dalec2(daily).run(XB)
    general = Dalec2(replace(daily, dt=np.full(daily.n, np.nextafter(1.0, 2.0)))).run(XB)
    for name in OUTPUTS:
        np.testing.assert_allclose(general[name], exact[name], rtol=1e-11, atol=1e-12,
                                   err_msg=name)


def test_long_step_compounds_daily_losses():
    """Without light (no GPP) labile, root and wood pools only decay: a step of dt days must
    leave (1 - k)**dt of them, as dt daily steps do."""
    theta = point(c_ronset=80.0)
    runs = {}
    for dt, n in ((1.0, 31), (30.0, 2), (DAYS_PER_MONTH, 2)):
        drivers = replace(constant_drivers(n, 130, 18.0, 8.0, 0.0, 44.45), dt=np.full(n, dt))
        runs[dt] = Dalec2(drivers).run(theta)
    for name in ("c_lab", "c_roo", "c_woo"):
        daily = runs[1.0][name]
        keep = daily[1] / daily[0]                       # 1 - k
        assert 0.0 < keep < 1.0
        np.testing.assert_allclose(runs[30.0][name][1] / runs[30.0][name][0],
                                   daily[30] / daily[0], rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(runs[DAYS_PER_MONTH][name][1] / runs[DAYS_PER_MONTH][name][0],
                                   keep ** DAYS_PER_MONTH, rtol=1e-13, err_msg=name)
    assert np.all(runs[DAYS_PER_MONTH]["gpp"] == 0.0)


# --- reference numbers (spec section 9) -----------------------------------------------------
LAT_P16 = math.degrees(0.89133965)


@pytest.mark.parametrize("lai, c_eff, t_max, t_min, sw, doy, psi_d, expected", [
    (3.0, 50.0, 20.0, 10.0, 20.0, 180, -2.5, 14.6364802298),
    (3.0, 50.0, 20.0, 10.0, 20.0, 180, -2.0, 13.9577114956),
    (1.0, 74.7751776, 5.0, -1.0, 5.0, 15, -2.5, 1.6140722778),
])
def test_acm_reference_values_r1(lai, c_eff, t_max, t_min, sw, doy, psi_d, expected):
    model = Dalec2(constant_drivers(1, doy, t_max, t_min, sw, LAT_P16), psi_d=psi_d)
    theta = point(c_eff=c_eff, c_lma=100.0, c_fol0=lai * 100.0)
    out = model.run(theta)
    assert out["lai"][0] == pytest.approx(lai, rel=1e-15)
    assert out["gpp"][0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("offset, phi_on, phi_off", [
    ("p16", 0.1823789412, 0.0237012963),
    ("cardamom", 0.0847985013, 0.0199805985),
])
def test_phenology_reference_values_r3(offset, phi_on, phi_off):
    # no light, so no GPP: the labile (foliar) pool loses exactly Phi_on (Phi_off) on day 0;
    # the spec gives 10 decimals
    common = dict(d_onset=140.0, c_ronset=30.0, d_fall=300.0, c_rfall=60.0, c_lspan=1.2)
    release = Dalec2(constant_drivers(2, 140, 20, 10, 0.0, LAT_P16), phenology_offset=offset)
    out = release.run(point(c_lab0=100.0, c_fol0=0.0, **common))
    assert 1 - out["c_lab"][1] / out["c_lab"][0] == pytest.approx(phi_on, abs=6e-11)
    fall = Dalec2(constant_drivers(2, 300, 20, 10, 0.0, LAT_P16), phenology_offset=offset)
    out = fall.run(point(c_lab0=0.0, c_fol0=100.0, **common))
    assert 1 - out["c_fol"][1] / out["c_fol"][0] == pytest.approx(phi_off, abs=6e-11)


def test_tangent_linear_wood_r6(daily):
    """dC_w,365 / dC_w,0 = (1 - theta_woo)**365 (wood does not feed back on anything)."""
    model = Dalec2(daily)
    for theta in (XB, POINTS["productive"]):
        d_wood = model.tangent(theta, np.eye(23)[IDX["c_woo0"]])["c_woo"]
        expected = (1.0 - theta[IDX["theta_woo"]]) ** np.arange(daily.n)
        np.testing.assert_allclose(d_wood, expected, rtol=1e-13)
    assert model.tangent(XB, np.eye(23)[IDX["c_woo0"]])["c_woo"][365] == \
        pytest.approx(0.98078369354, rel=1e-10)


# --- derivatives ----------------------------------------------------------------------------
# Where the model is undefined: c_lspan <= 1, c_ronset, c_rfall, c_lma <= 0, negative pools.
EDGE = np.array([-np.inf] * 4 + [1.0] + [-np.inf] * 8 + [0.0, -np.inf, 0.0, 0.0] + [0.0] * 6)
# Taylor steps 4, 2, 1, 1/2, ...: nearly linear outputs (wood, roots) reach check_model's
# round-off floor (1e3 eps |output|) about 4 decades below a step of 1; their remainders stay
# second order further down (the kernel's round-off is far below that floor).
STEPS = 2.0 ** -np.arange(-2, 41)


def direction_scale(theta):
    """Prior std, but at most half the distance to where the model is undefined, so that
    near-bound points are perturbed inside the model's domain."""
    return np.minimum(STD, 0.5 * (theta - EDGE))


@pytest.mark.parametrize("which", ["P16", "CARDAMOM", "P16-monthly", "CARDAMOM-monthly"])
@pytest.mark.parametrize("where", POINTS)
def test_check_model(models, which, where):
    theta = POINTS[where]
    scale = direction_scale(theta) if where == "near-bounds" else STD
    report = check_model(models[which], theta, scale=scale, rng=0, steps=STEPS)
    # day length depends on the drivers only: no change along any direction, left out
    assert set(report["taylor"]) == set(OUTPUTS) - {"day_length"}
    for name, rep in report["taylor"].items():
        assert rep.passed and rep.decades >= 4.0, f"{name}: {rep}"
    assert report["dot_product"] <= 1e-12


def test_adjoint_matches_tangent_columns(models):
    """The full gradient of the year-3 NEE sum and of the last SOM value, both ways."""
    model = models["P16"]
    theta = POINTS["productive"]
    weights = {"nee": (np.arange(model.n) >= 730).astype(float),
               "c_som": np.eye(model.n)[-1], "lai": np.full(model.n, 0.1)}
    grad = model.adjoint(theta, weights)
    columns = []
    for i in range(23):
        tl = model.tangent(theta, np.eye(23)[i])
        columns.append(sum(float(tl[k] @ w) for k, w in weights.items()))
    np.testing.assert_allclose(grad, columns, rtol=1e-11, atol=1e-14 * np.abs(grad).max())


def test_adjoint_missing_outputs_are_zero(models):
    model = models["P16-monthly"]
    d_nee = np.random.default_rng(1).standard_normal(model.n)
    zeros = {k: np.zeros(model.n) for k in OUTPUTS if k != "nee"}
    np.testing.assert_array_equal(model.adjoint(XB, {"nee": d_nee}),
                                  model.adjoint(XB, {"nee": d_nee, **zeros}))
    np.testing.assert_array_equal(model.adjoint(XB, {}), np.zeros(23))


def test_adjoint_rejects_unknown_or_misshaped_outputs(models):
    model = models["P16"]
    with pytest.raises(pdaframe.ModelError, match=r"unknown output.*'NEE'.*'nee'"):
        model.adjoint(XB, {"NEE": np.ones(model.n)})
    with pytest.raises(pdaframe.ModelError, match=r"d_outputs\['gpp'\] has shape \(3,\)"):
        model.adjoint(XB, {"gpp": np.ones(3)})


# --- model errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"c_lspan": 1.0}, r"'c_lspan' = 1.0 is invalid: must be greater than 1"),
    ({"c_lspan": 0.5}, r"'c_lspan' = 0.5 is invalid"),
    ({"c_lma": 0.0}, r"'c_lma' = 0.0 is invalid: must be positive"),
    ({"c_rfall": -3.0}, r"'c_rfall' = -3.0 is invalid: must be positive"),
    ({"c_ronset": 0.0}, r"'c_ronset' = 0.0 is invalid"),
    ({"f_roo": np.nan}, r"'f_roo' = nan is invalid: must be a finite number"),
    ({"c_lit0": -1.0}, r"'c_lit0' = -1.0 is invalid: must not be negative"),
])
@pytest.mark.parametrize("method", ["run", "tangent", "adjoint"])
def test_invalid_parameters(models, changes, message, method):
    model = models["P16"]
    theta = point(**changes)
    args = {"run": (), "tangent": (STD,), "adjoint": ({"nee": np.ones(model.n)},)}[method]
    with pytest.raises(pdaframe.ModelError, match=message) as info:
        getattr(model, method)(theta, *args)
    np.testing.assert_array_equal(info.value.theta, theta)


@pytest.mark.parametrize("which, changes, pool, step, date", [
    # a daily root turnover above 1 empties the roots on the first day
    ("P16", {"theta_roo": 1.5}, "fine-root carbon C_roo", 0, "2001-01-01"),
    # negative NPP (f_auto > 1) drains the labile pool; small pools fail within the season
    ("P16", {"f_auto": 3.0, "c_lab0": 1.0}, "labile carbon C_lab", None, None),
    # monthly: a litter loss fraction above 1 cannot be compounded over 30 days
    ("P16-monthly", {"theta_lit": 0.9, "theta_min": 0.9}, "litter carbon C_lit", 0,
     "2001-01-16"),
])
@pytest.mark.parametrize("method", ["run", "tangent", "adjoint"])
def test_pool_going_negative_names_pool_step_and_date(models, which, changes, pool, step,
                                                      date, method):
    model = models[which]
    theta = point(**changes)
    args = {"run": (), "tangent": (STD,), "adjoint": ({"nee": np.ones(model.n)},)}[method]
    with pytest.raises(pdaframe.ModelError, match=f"{pool} became negative or non-finite "
                                                  f"at the end of step") as info:
        getattr(model, method)(theta, *args)
    message = str(info.value)
    if step is not None:
        assert f"step {step} (0-based, of {model.n}; dated {date})" in message
    else:
        found = int(message.split("end of step ")[1].split(" ")[0])
        assert 0 <= found < model.n and str(model.drivers.time[found]) in message
    assert model.drivers.site in message
    np.testing.assert_array_equal(info.value.theta, theta)
    # the process (and the model) are still usable
    assert np.isfinite(model.run(XB)["nee"]).all()


def test_non_finite_gpp(models):
    model = models["P16"]
    theta = point(c_eff=1e308)                 # the ACM's p overflows: C_i is nan
    with pytest.raises(pdaframe.ModelError, match=r"dalec2: gpp is not finite on step 0 "
                                                  r"\(0-based, of 1095; dated 2001-01-01\) "
                                                  r"at synthetic-daily") as info:
        model.run(theta)
    np.testing.assert_array_equal(info.value.theta, theta)


def test_overflowing_decomposition_names_the_pool(models):
    model = models["P16"]
    with pytest.raises(pdaframe.ModelError, match=r"litter carbon C_lit became negative or "
                                                  r"non-finite at the end of step 0 "):
        model.run(point(theta=1000.0))        # E_T = exp(1000 T) overflows on the first day


@pytest.mark.parametrize("theta", [XB[:22], np.append(XB, 1.0), XB[None, :]])
def test_wrong_theta_length(models, theta):
    with pytest.raises(pdaframe.ModelError, match="theta needs 23 values"):
        models["P16"].run(theta)


def test_run_does_not_modify_theta(models):
    theta = XB.copy()
    models["P16"].adjoint(theta, {"nee": np.ones(models["P16"].n)})
    np.testing.assert_array_equal(theta, XB)


# --- variants and switches ------------------------------------------------------------------
def test_variants_differ_and_switches_combine(daily):
    nee = {v: Dalec2(daily, v).run(XB)["nee"].sum() for v in ("P16", "CARDAMOM")}
    assert abs(nee["P16"] - nee["CARDAMOM"]) > 1.0
    # CARDAMOM = P16 with the five switches flipped one by one
    flipped = Dalec2(daily, phenology_offset="cardamom", psi_d=-2.0, temperature="minmax",
                     co2="driver", phenology_clock="elapsed")
    np.testing.assert_array_equal(flipped.run(XB)["nee"], Dalec2(daily, "CARDAMOM").run(XB)["nee"])
    # each switch changes the result
    for switch, value in [("phenology_offset", "cardamom"), ("psi_d", -2.0),
                          ("temperature", "minmax"), ("co2", "driver"),
                          ("phenology_clock", "elapsed"), ("co2", 400.0)]:
        other = Dalec2(daily, **{switch: value}).run(XB)["nee"].sum()
        assert other != nee["P16"], switch
    assert "CARDAMOM" in repr(Dalec2(daily, "CARDAMOM", psi_d=-2.5))
    assert "psi_d=-2.5" in repr(Dalec2(daily, "CARDAMOM", psi_d=-2.5))


@pytest.mark.parametrize("kwargs, message", [
    ({"variant": "p17"}, r"unknown variant 'p17'; choose one of \['P16', 'CARDAMOM'\]"),
    ({"fire": True}, r"unknown switch\(es\) \['fire'\]; the switches are "
                     r"\['phenology_offset', 'psi_d', 'temperature', 'co2', 'phenology_clock'\]"),
    ({"phenology_offset": "P16"}, r"phenology_offset='P16' is not one of \['p16', 'cardamom'\]"),
    ({"temperature": "max"}, r"temperature='max' is not one of \['mean', 'minmax'\]"),
    ({"phenology_clock": 1}, r"phenology_clock=1 is not one of \['doy', 'elapsed'\]"),
    ({"psi_d": 2.5}, r"psi_d=2.5 must be a negative number"),
    ({"psi_d": "dry"}, r"psi_d='dry' must be a negative number"),
    ({"co2": -1.0}, r"co2=-1.0 must be a positive number of ppm or 'driver'"),
    ({"co2": "constant"}, r"co2='constant' must be a positive number"),
])
def test_bad_configuration(daily, kwargs, message):
    with pytest.raises(pdaframe.ConfigError, match=message):
        Dalec2(daily, **kwargs)


def test_co2_driver_needs_co2(daily):
    no_co2 = replace(daily, co2=None, site="no-co2-site")
    Dalec2(no_co2)                                         # P16: constant 390 ppm, fine
    for kwargs in ({"co2": "driver"}, {"variant": "CARDAMOM"}):
        with pytest.raises(pdaframe.ConfigError, match=r"co2='driver' but the drivers "
                                                       r"\(no-co2-site\) have no CO2"):
            Dalec2(no_co2, **kwargs)
    out = Dalec2(no_co2, "CARDAMOM", co2=390.0).run(XB)
    assert np.isfinite(out["nee"]).all()


def test_drivers_must_be_drivers():
    with pytest.raises(pdaframe.ConfigError, match="drivers must be a pdaframe_dalec2.Drivers"):
        Dalec2({"t_mean": [1.0]})


def test_registered_as_dalec2(daily):
    reset_plugins()
    model = pdaframe.get_model("dalec2", drivers=daily, variant="CARDAMOM")
    assert isinstance(model, Dalec2) and model.variant == "CARDAMOM"
    np.testing.assert_array_equal(model.run(XB)["gpp"], Dalec2(daily, "CARDAMOM").run(XB)["gpp"])
