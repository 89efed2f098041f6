"""DALEC2's end state (`Dalec2.end_state`) and the spec's diagnostics as outputs: day length
and the daily phenology fractions Phi_on, Phi_off (issue 14 item 1; dalec2.md 3.1, 3.3).

- Chaining: a run over years A + B equals the run over A, then the run over B started from
  A's end state, bit for bit (daily P16 on US-Me2, monthly CARDAMOM on DE-Hai).
- Values: the end state against the numpy reference; day length and Phi against the spec's
  point values (R2, R3) and against what the model applies to its pools and in its ACM (the
  real-driver comparisons of every output with the reference are in test_real_drivers.py).
- Derivatives of the diagnostics: Taylor tests (second order) and adjoint dot products
  <= 1e-12 on the new outputs alone and through a `Problem` whose stream observes them; the
  same checks fail on a tangent or adjoint that is broken on purpose.
"""
from dataclasses import replace

import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import ModelError, check_gradient, dot_product_test, taylor_test
from pdaframe_dalec2 import OUTPUTS, Dalec2
from pdaframe_dalec2.model import POOL_OUTPUTS
from pdaframe_dalec2.plugin import make_dalec2
from reference import run_reference

from test_kernel import EDGE, LAT_P16, POINTS, STD, XB, constant_drivers, point
from test_real_drivers import VARIANTS as REFERENCE_OPTIONS

DIAGNOSTICS = ("day_length", "phi_onset", "phi_fall")
PHENOLOGY = ("phi_onset", "phi_fall")
STEPS = 2.0 ** -np.arange(-2, 41)          # as test_kernel.py: nearly linear outputs




@pytest.fixture(scope="module")
def models(us_me2, de_hai):
    return {"P16": Dalec2(us_me2), "CARDAMOM-monthly": Dalec2(de_hai, "CARDAMOM")}


def window(drivers, lo, hi):
    """Steps ``lo:hi`` of ``drivers`` (every per-step field; elapsed continues)."""
    fields = {name: getattr(drivers, name)[lo:hi] for name in
              ("time", "doy", "elapsed", "t_min", "t_max", "t_mean", "sw", "dt")}
    if drivers.co2 is not None:
        fields["co2"] = drivers.co2[lo:hi]
    return replace(drivers, **fields)


# --- the end state ------------------------------------------------------------------------
@pytest.mark.parametrize("which, split", [("P16", 731), ("CARDAMOM-monthly", 70)])
@pytest.mark.parametrize("where", ["xb", "productive"])
def test_a_run_continued_from_its_end_state_is_the_run_in_one_go(models, which, split,
                                                                    where):
    whole = models[which]
    theta = POINTS[where]
    first = Dalec2(window(whole.drivers, 0, split), whole.variant)
    then = Dalec2(window(whole.drivers, split, whole.n), whole.variant)
    end = first.end_state(theta)
    theta_b = np.r_[theta[:17], end]
    one, a, b = whole.run(theta), first.run(theta), then.run(theta_b)
    for name in OUTPUTS:
        np.testing.assert_array_equal(np.r_[a[name], b[name]], one[name], err_msg=name)
    np.testing.assert_array_equal(end, [one[k][split] for k in POOL_OUTPUTS])
    np.testing.assert_array_equal(then.end_state(theta_b), whole.end_state(theta))
    # the end state is the pools after the last step, not those at its start
    assert not np.allclose(end, [a[k][-1] for k in POOL_OUTPUTS], rtol=1e-6)


@pytest.mark.parametrize("which, options", [("P16", "P16"), ("CARDAMOM-monthly", "CARDAMOM")])
@pytest.mark.parametrize("where", ["xb", "productive", "near-bounds"])
def test_end_state_matches_the_numpy_reference(models, which, options, where):
    model = models[which]
    theta = POINTS[where]
    ref = run_reference(theta, model.drivers, final_state=True,
                        **REFERENCE_OPTIONS[options])["final"]
    np.testing.assert_allclose(model.end_state(theta), ref, rtol=1e-12)


def test_end_state_leaves_theta_alone_and_returns_a_new_array(models):
    model = models["P16"]
    theta = POINTS["productive"].copy()
    end = model.end_state(theta)
    np.testing.assert_array_equal(theta, POINTS["productive"])
    end[:] = -1.0                                   # the caller's to change
    assert np.all(model.end_state(theta) > 0)
    model.run(theta, outputs=["nee"])               # a cached run does not change it
    np.testing.assert_array_equal(model.end_state(theta), Dalec2(model.drivers).end_state(theta))


@pytest.mark.parametrize("changes, message", [
    ({"c_lspan": 1.0}, r"'c_lspan' = 1.0 is invalid: must be greater than 1"),
    ({"c_lit0": -1.0}, r"'c_lit0' = -1.0 is invalid: must not be negative"),
    ({"theta_roo": 1.5}, r"fine-root carbon C_roo became negative or non-finite at the end "
                         r"of step 0 \(0-based, of 1461; dated 2004-01-01\) at US-Me2"),
])
def test_end_state_fails_as_the_run_does(models, changes, message):
    model = models["P16"]
    theta = point(**changes)
    with pytest.raises(ModelError, match=message) as run_error:
        model.run(theta)
    with pytest.raises(ModelError, match=message) as end_error:
        model.end_state(theta)
    assert str(end_error.value) == str(run_error.value)
    np.testing.assert_array_equal(end_error.value.theta, theta)
    with pytest.raises(ModelError, match="theta"):
        model.end_state(XB[:22])


def test_wrappers_give_the_end_state_of_their_run(us_me2):
    drivers = window(us_me2, 0, 365)
    plain = Dalec2(drivers)
    scaled = make_dalec2(drivers=drivers, pool_scalars=True)
    theta = np.r_[XB[:17], np.linspace(0.8, 1.2, 6)]
    np.testing.assert_array_equal(scaled.end_state(theta), plain.end_state(scaled.full(theta)))
    # spun up: the end state is the extra-step run's last pools, and (steady) near the start
    spun = make_dalec2(drivers=drivers, spinup="cycle", spinup_tol=1e-6)
    start = spun.spun_up(XB)
    end = spun.end_state(XB)
    again = spun._cycle.run(start, outputs=POOL_OUTPUTS)
    np.testing.assert_array_equal(end, [again[k][-1] for k in POOL_OUTPUTS])
    np.testing.assert_allclose(end, start[17:], rtol=2e-6)
    assert not np.allclose(end, XB[17:], rtol=0.01)
    # EDC rejection applies to the end state's run too
    edc = make_dalec2(drivers=drivers, edc="reject", edc_checks=[1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(edc.end_state(XB), plain.end_state(XB))
    with pytest.raises(ModelError, match="EDC 1"):
        edc.end_state(point(theta_som=9e-4, theta_lit=5e-4))


# --- diagnostics: values ------------------------------------------------------------------
def test_units_and_long_names_of_every_output(models):
    model = models["P16"]
    assert OUTPUTS[-3:] == DIAGNOSTICS
    assert set(model.output_long_names) == set(OUTPUTS) == set(model.output_units)
    assert all(isinstance(v, str) and len(v) > 10 for v in model.output_long_names.values())
    assert [model.output_units[k] for k in DIAGNOSTICS] == ["h", "day-1", "day-1"]
    assert "leaf-onset" in model.output_long_names["phi_onset"]
    assert "leaf-fall" in model.output_long_names["phi_fall"]


@pytest.mark.parametrize("doy, latitude, hours", [
    (1, LAT_P16, 7.77731113), (172, LAT_P16, 16.31887480), (355, LAT_P16, 7.68092404),  # R2
    (172, 80.0, 24.0), (355, 80.0, 0.0), (172, -80.0, 0.0), (80, 0.0, 12.0),
])
def test_day_length_reference_values_r2(doy, latitude, hours):
    out = Dalec2(constant_drivers(2, doy, 20.0, 10.0, 15.0, latitude)).run(XB)
    np.testing.assert_allclose(out["day_length"], hours, rtol=0, atol=1e-8)


def test_day_length_is_the_one_the_acm_uses(us_me2):
    """GPP is proportional to a2 h + a5 (spec 3.1), nothing else depends on latitude: on the
    first day (pools, hence LAI, the same) GPP at two latitudes has the ratio of the outputs'
    (a2 h + a5)."""
    a2, a5 = 0.0156935, 0.0453194
    runs = [Dalec2(replace(us_me2, latitude=lat)).run(XB) for lat in (44.45, 62.0)]
    w = [a2 * r["day_length"][0] + a5 for r in runs]
    assert runs[0]["day_length"][0] > runs[1]["day_length"][0] + 1.0     # 1 January
    assert runs[0]["gpp"][0] / runs[1]["gpp"][0] == pytest.approx(w[0] / w[1], rel=1e-14)


@pytest.mark.parametrize("offset, phi_on, phi_off", [
    ("p16", 0.1823789412, 0.0237012963),                                            # R3
    ("cardamom", 0.0847985013, 0.0199805985),
])
def test_phenology_fractions_reference_values_r3(offset, phi_on, phi_off):
    theta = point(d_onset=140.0, c_ronset=30.0, d_fall=300.0, c_rfall=60.0, c_lspan=1.2)
    on = Dalec2(constant_drivers(1, 140, 20, 10, 5.0, LAT_P16), phenology_offset=offset)
    off = Dalec2(constant_drivers(1, 300, 20, 10, 5.0, LAT_P16), phenology_offset=offset)
    assert on.run(theta)["phi_onset"][0] == pytest.approx(phi_on, abs=6e-11)
    assert off.run(theta)["phi_fall"][0] == pytest.approx(phi_off, abs=6e-11)


@pytest.mark.parametrize("dt", [1.0, 30.4375])
def test_phenology_fractions_are_what_the_pools_lose(dt):
    """Without light (no GPP, no allocation) the labile pool keeps (1 - Phi_on)**dt per
    step and the foliage (1 - Phi_off)**dt plus what the labile pool releases."""
    n = 40 if dt == 1.0 else 12
    drivers = constant_drivers(n, 1, 20.0, 10.0, 0.0, LAT_P16)
    drivers = replace(drivers, doy=(np.arange(n) * dt) % 365 + 1.0, dt=np.full(n, dt))
    theta = point(d_onset=10.0, d_fall=25.0, c_ronset=20.0, c_rfall=30.0)
    out = Dalec2(drivers).run(theta)
    assert np.all(out["gpp"] == 0.0) and out["phi_onset"].max() > 0.01
    keep_lab, keep_fol = (1 - out["phi_onset"]) ** dt, (1 - out["phi_fall"]) ** dt
    np.testing.assert_allclose(out["c_lab"][1:], keep_lab[:-1] * out["c_lab"][:-1],
                               rtol=1e-13)
    released = out["c_lab"][:-1] - out["c_lab"][1:]
    np.testing.assert_allclose(out["c_fol"][1:], keep_fol[:-1] * out["c_fol"][:-1] + released,
                               rtol=1e-13)


# --- diagnostics: derivatives -------------------------------------------------------------
class Only:
    """The model seen through some outputs only (what a problem observing them asks for)."""

    def __init__(self, model, names, tangent_factor=1.0, drop=None):
        self.model, self.names = model, names
        self.parameter_names = model.parameter_names
        self.factor, self.drop = tangent_factor, drop

    def run(self, theta, outputs=None):
        return dict(self.model.run(theta, outputs=self.names))

    def tangent(self, theta, dtheta, outputs=None):
        tl = self.model.tangent(theta, dtheta, outputs=self.names)
        return {k: v * self.factor for k, v in tl.items()}

    def adjoint(self, theta, d_outputs):
        return self.model.adjoint(theta, {k: v for k, v in d_outputs.items() if k != self.drop})


def _directions(theta, seed):
    scale = np.minimum(STD, 0.5 * (theta - EDGE))
    return scale * np.random.default_rng(seed).standard_normal(23)


@pytest.mark.parametrize("which", ["P16", "CARDAMOM-monthly"])
@pytest.mark.parametrize("where", ["xb", "productive", "near-bounds"])
@pytest.mark.parametrize("name", PHENOLOGY)
def test_taylor_test_of_the_phenology_fractions(models, which, where, name):
    model = models[which]
    theta = POINTS[where]
    report = taylor_test(lambda x: model.run(x, outputs=[name])[name],
                         lambda x, h: model.tangent(x, h, outputs=[name])[name],
                         theta, _directions(theta, 5), steps=STEPS)
    assert report.passed and report.decades >= 4.0, str(report)


@pytest.mark.parametrize("which", ["P16", "CARDAMOM-monthly"])
@pytest.mark.parametrize("where", ["xb", "productive", "near-bounds"])
def test_adjoint_dot_product_of_the_diagnostics(models, which, where):
    model = models[which]
    theta = POINTS[where]
    assert dot_product_test(Only(model, DIAGNOSTICS), theta, rng=7) <= 1e-12
    # day length depends on the drivers only
    zeros = model.tangent(theta, STD, outputs=["day_length"])["day_length"]
    assert np.all(zeros == 0.0)
    assert np.all(model.adjoint(theta, {"day_length": np.ones(model.n)}) == 0.0)


def test_the_checks_fail_on_a_broken_tangent_or_adjoint(models):
    model = models["P16"]
    theta = POINTS["productive"]
    h = _directions(theta, 5)
    wrong = Only(model, PHENOLOGY, tangent_factor=1.001)
    report = taylor_test(lambda x: wrong.run(x)["phi_fall"],
                         lambda x, d: wrong.tangent(x, d)["phi_fall"], theta, h, steps=STEPS)
    assert not report.passed and "linear in the step" in report.diagnosis()
    with pytest.raises(AssertionError, match="output 'phi_onset'"):
        dot_product_test(Only(model, PHENOLOGY, drop="phi_onset"), theta, rng=7)


def test_a_stream_observing_the_phenology_has_the_adjoint_gradient(models):
    model = Dalec2(models["P16"].drivers)
    truth = model.run(POINTS["productive"])
    every = np.arange(0, model.n, 5)
    streams = [pdaframe.DataStream("fall", "phi_fall", truth["phi_fall"][every], std=1e-3,
                                   times=every),
               pdaframe.DataStream("onset", "phi_onset", truth["phi_onset"][every], std=1e-3,
                                   times=every),
               pdaframe.DataStream("hours", "day_length", truth["day_length"][every], std=0.1,
                                   times=every)]
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior.from_model(model), streams)
    assert set(problem.needed_outputs) == set(DIAGNOSTICS)
    report = check_gradient(problem, XB, rng=3)
    assert report.passed and report.decades >= 4.0
    # at the prior mean only the data term is left, and the phenology fractions depend on
    # d_onset, c_ronset, d_fall, c_rfall and c_lspan alone (day length on none)
    g = problem.gradient(XB)
    names = [model.parameter_names[i] for i in np.flatnonzero(g)]
    assert sorted(names) == ["c_lspan", "c_rfall", "c_ronset", "d_fall", "d_onset"]
