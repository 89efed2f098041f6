"""DALEC2 on the bundled real drivers: Fortran vs the numpy reference, derivatives of the
model and of a full 4D-Var cost, at several parameter points including near bounds."""
import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import check_gradient, check_model
from pdaframe_dalec2 import PARAMETERS, Dalec2
from pdaframe_dalec2.readers import data_path, read_observations
from reference import run_reference

XB = np.array([p.default for p in PARAMETERS])
STD = np.array([p.std for p in PARAMETERS])
LOWER = np.array([p.lower for p in PARAMETERS])
UPPER = np.array([p.upper for p in PARAMETERS])
# xb; a productive evergreen-like point; a point near (within 2 %) the bounds of many
# parameters (lower for some, upper for others)
NEAR = XB.copy()
for i, frac in [(1, 0.98), (2, 0.02), (5, 0.02), (6, 0.98), (9, 0.98), (10, 0.02),
                (12, 0.98), (16, 0.02), (20, 0.02)]:
    NEAR[i] = LOWER[i] + frac * (UPPER[i] - LOWER[i])
POINTS = {
    "xb": XB,
    "evergreen": np.where(np.arange(23) == 4, 3.0, XB) * np.where(np.arange(23) == 18, 3.0, 1.0),
    "near-bounds": NEAR,
}
VARIANTS = {"P16": {}, "CARDAMOM": dict(phenology_offset="card", psi_d=-2.0,
                                        temperature="minmax", co2="driver",
                                        phenology_clock="elapsed")}




@pytest.mark.parametrize("point", POINTS)
def test_fortran_matches_numpy_reference_daily(us_me2, point):
    theta = POINTS[point]
    fortran = Dalec2(us_me2).run(theta)
    ref = run_reference(theta, us_me2)
    for name, values in ref.items():
        np.testing.assert_allclose(fortran[name], values, rtol=1e-12,
                                   atol=1e-12 * np.abs(values).max(), err_msg=name)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("point", ["xb", "near-bounds"])
def test_fortran_matches_numpy_reference_monthly(de_hai, variant, point):
    theta = POINTS[point]
    fortran = Dalec2(de_hai, variant=variant).run(theta)
    ref = run_reference(theta, de_hai, **VARIANTS[variant])
    for name, values in ref.items():
        np.testing.assert_allclose(fortran[name], values, rtol=1e-12,
                                   atol=1e-12 * np.abs(values).max(), err_msg=name)


@pytest.mark.parametrize("point", ["evergreen", "near-bounds"])     # xb: test_conformance.py
def test_tangent_and_adjoint_on_real_drivers(us_me2, point):
    report = check_model(Dalec2(us_me2), POINTS[point], scale=STD, rng=11)
    assert report["dot_product"] <= 1e-12
    assert min(r.decades for r in report["taylor"].values()) >= 4


def twin_problem(drivers):
    """NEE (real gap pattern, σ 0.71), MODIS-date LAI (σ 0.3) and yearly wood carbon."""
    model = Dalec2(drivers)
    prior = pdaframe.GaussianPrior.from_model(model)
    file = data_path("US-Me2")
    t_nee, nee = read_observations(file, "nee_gC_m2_d", start=drivers.time[0],
                                   end=drivers.time[-1])
    t_lai, lai = read_observations(file, "lai_modis_m2_m2", start=drivers.time[0],
                                   end=drivers.time[-1])
    index = {t: i for i, t in enumerate(drivers.time)}
    streams = [
        pdaframe.DataStream("nee", "nee", nee, times=[index[t] for t in t_nee], std=0.71),
        pdaframe.DataStream("lai", "lai", lai, times=[index[t] for t in t_lai], std=0.3),
        pdaframe.DataStream("c_woo", "c_woo", np.zeros(4), times=[0, 365, 730, 1095], std=50.0),
    ]
    truth = XB + 0.5 * STD * np.sin(np.arange(23))
    return pdaframe.Problem(model, prior,
                            pdaframe.synthetic_streams(model, truth, streams, seed=5)), truth


@pytest.mark.parametrize("point", POINTS)
def test_cost_gradient_taylor_on_real_drivers(us_me2, point):
    problem, _ = twin_problem(us_me2)
    rep = check_gradient(problem, POINTS[point], rng=3)
    assert rep.decades >= 4
    g_adj = problem.gradient(POINTS[point])
    g_tl = problem.gradient(POINTS[point], mode="tangent")
    np.testing.assert_allclose(g_adj, g_tl, rtol=1e-9, atol=1e-9 * np.abs(g_adj).max())


def test_bad_parameters_are_rejected_not_fatal(us_me2):
    problem, _ = twin_problem(us_me2)
    bad = XB.copy()
    bad[6] = 1.5                         # theta_roo > 1: the root pool goes negative
    with pytest.raises(pdaframe.ModelError, match="C_roo") as info:
        problem.model.run(bad)
    assert "2004-01-01" in str(info.value)
    np.testing.assert_array_equal(info.value.theta, bad)
    # inside a minimiser such a point is a rejected evaluation and the run goes on: a prior
    # that allows theta_roo up to 3, and a start simplex with one vertex at theta_roo = 1.5
    upper = UPPER.copy()
    upper[6] = 3.0
    wide = pdaframe.Problem(problem.model, pdaframe.GaussianPrior(XB, std=STD, lower=LOWER,
                                                                  upper=upper),
                            problem.streams)
    u0 = wide.space.to_u(XB)
    simplex = np.vstack([u0, wide.space.to_u(bad)] +
                        [u0 + 0.1 * e for e in np.eye(23)[1:]])
    res = pdaframe.minimise(wide, method="nelder-mead", maxfev=60, posterior=False,
                            initial_simplex=simplex)
    assert res.n_rejected >= 1 and np.isfinite(res.fun) and res.fun <= wide.cost(XB)
    assert np.isfinite(problem.cost(XB))  # the process and the model stay usable
