"""Taylor tests of gradients and dot-product tests of every tangent/adjoint pair."""
import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import Identity, Select
from pdaframe.testing import (check_gradient, check_model, dot_product_test,
                              operator_dot_product_test, taylor_test)
from tests.models import TRUTH, Decay, NoDerivatives, decay_problem

def test_model_tangent_and_adjoint():
    report = check_model(Decay(), TRUTH, rng=1)
    assert set(report["taylor"]) == {"y", "z"}
    assert min(r.decades for r in report["taylor"].values()) >= 4
    assert report["dot_product"] <= 1e-12


def test_taylor_test_detects_a_wrong_tangent():
    class Wrong(Decay):
        def tangent(self, theta, dtheta):
            out = super().tangent(theta, dtheta)
            out["y"] = out["y"] * 1.001
            return out
    with pytest.raises(AssertionError, match="FAILED"):
        check_model(Wrong(), TRUTH, rng=1)


def test_check_model_is_deterministic_by_default():
    first, second = check_model(Decay(), TRUTH), check_model(Decay(), TRUTH)
    for k in ("y", "z"):
        np.testing.assert_array_equal(first["taylor"][k].remainders,
                                      second["taylor"][k].remainders)
    assert first["dot_product"] == second["dot_product"]
    rep = check_gradient(decay_problem(), [0.2, 3.5, 0.6])
    np.testing.assert_array_equal(rep.remainders,
                                  check_gradient(decay_problem(), [0.2, 3.5, 0.6]).remainders)


def test_check_model_takes_a_fixed_direction():
    h = np.array([0.0, 0.0, 1.0])
    report = check_model(Decay(), TRUTH, direction=h)
    step = 2.0 ** -10
    expected = np.linalg.norm(Decay().run(TRUTH + step * h)["y"] - Decay().run(TRUTH)["y"]
                              - step * Decay().tangent(TRUTH, h)["y"])
    assert report["taylor"]["y"].remainders[10] == pytest.approx(expected, rel=1e-12)


def test_failed_taylor_test_names_the_remedies():
    class Wrong(Decay):
        def tangent(self, theta, dtheta):
            out = super().tangent(theta, dtheta)
            out["y"] = out["y"] * 1.001
            return out
    with pytest.raises(AssertionError) as info:
        check_model(Wrong(), TRUTH)
    text = str(info.value)
    for words in ("FAILED", "rng=<another seed>", "direction=", "steps=", "scale=",
                  "min_decades"):
        assert words in text, words


def test_check_model_refuses_a_model_without_derivatives():
    with pytest.raises(AssertionError, match="neither tangent nor adjoint"):
        check_model(NoDerivatives(), TRUTH)


def test_adjoint_only_model_is_taylor_tested():
    class AdjointOnly(Decay):
        tangent = None
    report = check_model(AdjointOnly(), TRUTH, rng=1)
    assert all(r.passed for r in report["taylor"].values())


def test_dot_product_detects_a_wrong_adjoint():
    class Wrong(Decay):
        def adjoint(self, theta, d_outputs):
            return super().adjoint(theta, d_outputs) * np.array([1.0, 1.0, 1.0 + 1e-9])
    with pytest.raises(AssertionError, match="relative mismatch"):
        dot_product_test(Wrong(), TRUTH, rng=2)


@pytest.mark.parametrize("theta", [[0.1, 3.0, 0.5], [0.3, 1.0, -0.2], [0.98, 19.0, 4.5]])
def test_problem_gradient_taylor(theta):
    rep = check_gradient(decay_problem(bounds=True), theta, rng=3)
    assert rep.decades >= 4


def test_gradient_modes_agree():
    problem = decay_problem()
    theta = np.array([0.2, 3.5, 0.6])
    g_adj = problem.gradient(theta, mode="adjoint")
    g_tl = problem.gradient(theta, mode="tangent")
    g_fd = problem.gradient(theta, mode="fd")
    np.testing.assert_allclose(g_tl, g_adj, rtol=1e-12, atol=1e-12 * np.abs(g_adj).max())
    np.testing.assert_allclose(g_fd, g_adj, rtol=1e-5, atol=1e-6 * np.abs(g_adj).max())
    central = decay_problem(NoDerivatives())
    central.fd_scheme = "central"
    np.testing.assert_allclose(central.gradient(theta), g_adj, rtol=1e-8,
                               atol=1e-9 * np.abs(g_adj).max())


def test_jacobian_modes_agree_and_count_runs():
    problem = decay_problem()
    theta = np.array([0.2, 3.5, 0.6])
    j_tl = problem.jacobian(theta, mode="tangent")
    j_adj = problem.jacobian(theta, mode="adjoint")
    np.testing.assert_allclose(j_adj, j_tl, rtol=1e-12, atol=1e-12)
    fd = decay_problem(NoDerivatives())
    runs = fd.nrun
    np.testing.assert_allclose(fd.jacobian(theta), j_tl, rtol=1e-5, atol=1e-6)
    assert fd.nrun - runs == 1 + 3              # base run + one per parameter (forward)


def test_fd_step_stays_inside_bounds():
    problem = decay_problem(NoDerivatives(), bounds=True)
    theta = np.array([1.0 - 1e-12, 3.0, 0.5])   # at the upper bound of k: step goes down
    g = problem.gradient(theta)
    assert np.all(np.isfinite(g))


def test_cost_and_gradient_share_one_run():
    problem = decay_problem()
    theta = np.array([0.2, 3.5, 0.6])
    problem.cost(theta)
    problem.gradient(theta)
    assert problem.nrun == 1 and problem.nadjoint == 1


def test_lbfgsb_fd_and_nelder_mead_agree_on_nonlinear_problem():
    ref = pdaframe.minimise(decay_problem(), method="lbfgsb")
    assert ref.success
    for method in ("lbfgsb-fd", "nelder-mead"):
        res = pdaframe.minimise(decay_problem(), method=method)
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-4)
    # the estimate moved from the background towards the truth for every parameter
    assert np.all(np.abs(ref.x - TRUTH) < np.abs(np.array([0.1, 3.0, 0.5]) - TRUTH))


def test_converged_lbfgsb_is_a_success_despite_a_marginally_lower_trial_point():
    # scipy converges here, but one line-search trial point is a few ulps lower in cost
    # than its final point: still converged (status 0, scipy's message)
    res = pdaframe.minimise(decay_problem(), method="lbfgsb")
    assert (res.success, res.status) == (True, 0)
    assert res.message.startswith("CONVERGENCE")
    assert res.fun == pytest.approx(res.history["cost"][-1], rel=1e-14)


def test_not_converged_lbfgsb_keeps_scipys_status_and_message():
    res = pdaframe.minimise(decay_problem(), method="lbfgsb", maxiter=2, posterior=False)
    assert (res.success, res.status) == (False, 1)
    assert "ITERATIONS REACHED LIMIT" in res.message


@pytest.mark.parametrize("fun, best, expected", [
    (1.0, 1.0 - 4e-16, (True, 0)),          # round-off: converged
    (0.0, 0.0, (True, 0)),
    (11.0, 1.0, (False, -1)),               # scipy stopped on a rejected point's stand-in
])
def test_minimiser_outcome_rule(fun, best, expected):
    from scipy.optimize import OptimizeResult
    from pdaframe.methods.scipy_minimisers import _outcome
    res = OptimizeResult(success=True, status=0, fun=fun, message="CONVERGENCE: NORM OF PG")
    success, status, message = _outcome(res, best)
    assert (success, status) == expected
    assert ("stand-in cost" in message) == (not success)
    failed = OptimizeResult(success=False, status=2, fun=fun, message="ABNORMAL")
    assert _outcome(failed, best) == (False, 2, "ABNORMAL")


def test_uniform_prior_problem_gradient_and_posterior():
    problem = decay_problem(uniform=True)
    check_gradient(problem, [0.2, 3.0, 0.5], rng=4)
    res = pdaframe.minimise(problem)
    assert res.success and np.all(np.isfinite(res.posterior_std))


@pytest.mark.parametrize("op", [Identity("z"), Select("z", [0, 3, 3, 7]),
                                Select("y", [5, 1])])
def test_operator_dot_products(op):
    outputs = Decay().run(TRUTH)
    assert operator_dot_product_test(op, outputs, rng=5) <= 1e-12


def test_linear_model_dot_product():
    model = pdaframe.LinearModel(np.random.default_rng(1).standard_normal((7, 3)))
    assert dot_product_test(model, np.ones(3), rng=1) <= 1e-12


def test_taylor_report_on_exact_quadratic():
    rep = taylor_test(lambda x: np.array([x @ x]), lambda x, h: np.array([2 * x @ h]),
                      np.ones(3), np.array([0.3, -0.2, 0.1]))
    assert rep.passed and np.allclose(rep.rates[:10], 2.0, atol=1e-6)


@pytest.mark.parametrize("method, model, expected", [
    ("lbfgsb", Decay(), "adjoint"),
    ("lbfgsb", type("TangentOnly", (Decay,), {"adjoint": None})(), "tangent linear"),
    ("lbfgsb", NoDerivatives(), "finite differences (forward)"),
    ("lbfgsb-fd", Decay(), "finite differences (forward)"),
])
def test_lbfgsb_says_which_gradient_it_used(method, model, expected):
    problem = decay_problem()
    problem.model = model
    res = pdaframe.minimise(problem, method=method, maxiter=3, posterior=False)
    assert res.gradient == expected
    assert "gradient" not in pdaframe.minimise(decay_problem(), method="nelder-mead",
                                               maxfev=20, posterior=False)
