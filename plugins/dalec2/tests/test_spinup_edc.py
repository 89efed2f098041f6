"""DALEC2 spin-up, pool scalars and EDCs (dalec2.md section 5) on US-Me2 2004-2007."""
import numpy as np
import pytest

import pdaframe
from pdaframe_dalec2.edc import EDC_NAMES, check_edcs, gpp_fractions, pool_flows, reject
from pdaframe_dalec2.parameters import PARAMETER_NAMES
from pdaframe_dalec2.plugin import make_dalec2
from pdaframe_dalec2.spinup import PoolScalars, SpinUp

SITE = dict(site="US-Me2", start="2004-01-01", end="2007-12-31")


@pytest.fixture(scope="module")
def model():
    return make_dalec2(**SITE)


def test_xb_gpp_fractions_match_reference():
    f = gpp_fractions([p for p in make_dalec2(**SITE).defaults])
    # dalec2.md section 5: F_a 0.531804, F_f 0.031343, F_lab 0.142524, F_r 0.131285, F_w 0.163043
    np.testing.assert_allclose([f[k] for k in ("F_a", "F_f", "F_lab", "F_r", "F_w")],
                               [0.531804, 0.031343, 0.142524, 0.131285, 0.163043], atol=1e-6)


def test_xb_passes_edc_1_to_6_but_not_steady_state_on_us_me2(model):
    # dalec2.md: xb passes EDC 1-6 for Alice Holt 1999; on US-Me2 2004-2007 it does too, and
    # fails all six steady-state EDCs 7-12: from the xb pools no pool is near equilibrium
    # (wood gains 4.65 times what it loses over the four years)
    out = model.run(model.defaults)
    ok = check_edcs(model.defaults, out, model.drivers)
    assert ok == {**{k: True for k in range(1, 7)}, **{k: False for k in range(7, 13)},
                  13: True}
    f_in, f_out = pool_flows(model.defaults, out, model.drivers.dt)
    assert f_in[3] / f_out[3] == pytest.approx(4.6504, rel=1e-4)
    # mass balance: flows in minus out of all pools = NPP - R_h over the run
    pools = ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som")
    total = sum(out[k] for k in pools)
    assert total[-1] - total[0] == pytest.approx(
        float((out["gpp"] - out["ra"] - out["rh"])[:-1].sum()), rel=1e-10)


def test_edc_13_mean_pool_above_the_upper_bound_of_its_initial_value(model):
    out = dict(model.run(model.defaults))
    for name in ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som"):
        upper = model.parameters[PARAMETER_NAMES.index(f"{name}0")].upper
        bad = dict(out)
        # the same trajectory shifted so that its mean is just above the bound
        bad[name] = out[name] - out[name].mean() + upper * (1 + 1e-9)
        assert check_edcs(model.defaults, bad, model.drivers)[13] is False
        bad[name] = out[name] - out[name].mean() + upper * (1 - 1e-9)
        assert check_edcs(model.defaults, bad, model.drivers)[13] is True
    bad[name] = bad[name] + upper
    with pytest.raises(pdaframe.ModelError, match=r"EDC 13 \(every mean pool"):
        reject(model.defaults, bad, model.drivers, edcs=[13])
    with pytest.raises(pdaframe.ConfigError, match="expected EDC numbers 1-13"):
        make_dalec2(**SITE, edc="reject", edc_checks=[14])


def test_edc_reject_names_the_failing_edc(model):
    rejecting = make_dalec2(**SITE, edc="reject", edc_checks=[1, 2, 3, 4, 5, 6])
    out = rejecting.run(model.defaults)                 # xb passes 1-6
    np.testing.assert_array_equal(out["nee"], model.run(model.defaults)["nee"])
    theta = model.defaults.copy()
    theta[PARAMETER_NAMES.index("theta_som")] = 5e-3    # > theta_lit = 2.45e-3
    with pytest.raises(pdaframe.ModelError, match=r"EDC 1 \(theta_som <= theta_lit\) fails"):
        rejecting.run(theta)
    assert check_edcs(theta, model.run(theta), model.drivers)[1] is False
    # all twelve checked: xb fails the first steady-state one, EDC 7
    with pytest.raises(pdaframe.ModelError, match=EDC_NAMES[7].replace("(", r"\(")
                       .replace(")", r"\)")):
        make_dalec2(**SITE, edc="reject").run(model.defaults)


def test_rejected_edc_point_is_a_rejected_evaluation_in_a_problem(model):
    rejecting = make_dalec2(**SITE, edc="reject", edc_checks=[1])
    prior = pdaframe.GaussianPrior.from_model(rejecting)
    stream = pdaframe.DataStream("nee", "nee", model.run(model.defaults)["nee"], std=0.7)
    problem = pdaframe.Problem(rejecting, prior, [stream])
    assert problem.cost(model.defaults) == pytest.approx(0.0, abs=1e-20)
    theta = model.defaults.copy()
    theta[PARAMETER_NAMES.index("theta_som")] = 9e-4     # inside the bounds,
    theta[PARAMETER_NAMES.index("theta_lit")] = 5e-4     # but theta_som > theta_lit
    with pytest.raises(pdaframe.ModelError, match="EDC 1"):
        problem.cost(theta)


def test_spinup_converges_to_a_fixed_point(model):
    spun = make_dalec2(**SITE, spinup="cycle", spinup_tol=1e-6)
    assert isinstance(spun, SpinUp) and not hasattr(spun, "adjoint")   # "fd" default
    theta = spun.spun_up(model.defaults)
    assert spun.cycles > 10
    out = model.run(theta)
    first = np.array([out[k][0] for k in ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit",
                                          "c_som")])
    np.testing.assert_array_equal(first, theta[17:])
    # another cycle from the spun-up pools changes them by less than the tolerance
    again = spun._cycle.run(theta)
    end = np.array([again[k][-1] for k in ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit",
                                           "c_som")])
    assert np.all(np.abs(end / theta[17:] - 1) < 1e-6)
    # the initial-pool parameters are only the first guess: doubling them changes the
    # spun-up state little
    other = model.defaults.copy()
    other[17:] *= 2
    np.testing.assert_allclose(spun.spun_up(other)[17:], theta[17:], rtol=2e-3)
    np.testing.assert_array_equal(spun.run(model.defaults)["nee"], out["nee"])


def test_spinup_not_converging_is_a_model_error():
    spun = make_dalec2(**SITE, spinup="cycle", spinup_max_cycles=3)
    with pytest.raises(pdaframe.ModelError, match="not steady after 3 cycles"):
        spun.run(spun.defaults)


def test_spinup_fixed_derivatives_zero_pool_components(model):
    spun = make_dalec2(**SITE, spinup="cycle", spinup_derivatives="fixed")
    d = {"nee": np.ones(model.n)}
    grad = spun.adjoint(model.defaults, d)
    np.testing.assert_array_equal(grad[17:], 0.0)
    ref = model.adjoint(spun.spun_up(model.defaults), d)
    np.testing.assert_array_equal(grad[:17], ref[:17])


def test_pool_scalars_chain_rule(model):
    scaled = make_dalec2(**SITE, pool_scalars=True)
    assert isinstance(scaled, PoolScalars)
    assert scaled.parameter_names[17:] == tuple(f"scale_{n}" for n in PARAMETER_NAMES[17:])
    theta = scaled.defaults.copy()
    np.testing.assert_array_equal(theta[17:], 1.0)
    np.testing.assert_array_equal(scaled.run(theta)["nee"], model.run(model.defaults)["nee"])
    rng = np.random.default_rng(0)
    dtheta = rng.standard_normal(23) * np.array([p.std for p in scaled.parameters]) * 1e-3
    d_out = {"nee": rng.standard_normal(model.n), "lai": rng.standard_normal(model.n)}
    tl = scaled.tangent(theta, dtheta)
    lhs = sum(float(tl[k] @ d_out[k]) for k in d_out)
    rhs = float(scaled.adjoint(theta, d_out) @ dtheta)
    assert lhs == pytest.approx(rhs, rel=1e-10)
    # tangent of a scalar = tangent of its pool times the default pool
    e = np.zeros(23)
    e[20] = 1.0
    base = model.defaults[20]
    np.testing.assert_allclose(scaled.tangent(theta, e)["c_woo"],
                               base * model.tangent(model.defaults, e)["c_woo"], rtol=1e-12)


@pytest.mark.parametrize("options, match", [
    ({"spinup": "yes"}, "spinup='yes': expected 'cycle'"),
    ({"spinup": "cycle", "pool_scalars": True}, "choose one"),
    ({"spinup": "cycle", "spinup_tol": 2.0}, "spinup_tol=2.0"),
    ({"spinup": "cycle", "spinup_derivatives": "exact"}, "spinup_derivatives='exact'"),
    ({"edc": "warn"}, "edc='warn': expected 'reject'"),
    ({"edc": "reject", "edc_checks": [0, 13]}, "edc_checks=\\[0, 13\\]"),
    ({"edc_checks": [1]}, "edc_checks goes with edc"),
    ({"pool_scalars": "yes"}, "pool_scalars='yes'"),
])
def test_bad_options_are_config_errors(options, match):
    with pytest.raises(pdaframe.ConfigError, match=match):
        make_dalec2(**SITE, **options)
