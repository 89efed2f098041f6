"""Stepwise (one stream after another) assimilation equals the simultaneous run for a
linear-Gaussian problem; mismatched chains are named errors."""
import numpy as np
import pytest

import pdaframe
from pdaframe.methods.stepwise import chain, posterior_prior, stepwise

H = np.array([[1.0, 0.5, 0.0], [0.2, -1.0, 0.3], [0.0, 0.4, 1.0], [1.0, 1.0, 1.0],
              [0.5, 0.0, -0.7], [2.0, -0.3, 0.1], [0.0, 1.5, -0.4]])
XB = np.array([1.0, -0.5, 2.0])
B = np.array([[1.0, 0.3, 0.1], [0.3, 2.0, 0.2], [0.1, 0.2, 0.5]])
Y = np.array([2.1, 0.4, 1.2, 3.3, -0.6, 2.9, -0.1])
STD = np.array([0.3, 0.3, 0.3, 0.3, 0.2, 0.4, 0.5])
M1 = 4                                   # stream "p": rows 0-3, stream "q": rows 4-6


class TwoOutputs:
    """G = H theta, split over two outputs ``p`` and ``q``, with tangent and adjoint."""
    parameter_names = ["a", "b", "c"]

    def run(self, theta):
        g = H @ theta
        return {"p": g[:M1], "q": g[M1:]}

    def tangent(self, theta, dtheta):
        return self.run(dtheta)

    def adjoint(self, theta, d):
        return H[:M1].T @ d.get("p", np.zeros(M1)) + H[M1:].T @ d.get("q", np.zeros(3))


def problem():
    prior = pdaframe.GaussianPrior(XB, covariance=B, names=["a", "b", "c"])
    return pdaframe.Problem(TwoOutputs(), prior, [
        pdaframe.DataStream("p", "p", Y[:M1], std=STD[:M1]),
        pdaframe.DataStream("q", "q", Y[M1:], std=STD[M1:])])


def closed_form():
    rinv = np.diag(1 / STD ** 2)
    a = np.linalg.inv(H.T @ rinv @ H + np.linalg.inv(B))
    return XB + a @ H.T @ rinv @ (Y - H @ XB), a


@pytest.mark.parametrize("steps", [[["p"], ["q"]], [["q"], ["p"]]])
def test_stepwise_equals_simultaneous_linear_gaussian(steps):
    sim = pdaframe.minimise(problem(), method="lbfgsb")
    res = pdaframe.minimise(problem(), method=stepwise, steps=steps)
    xa, a = closed_form()
    np.testing.assert_allclose(sim.x, xa, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.x, sim.x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.posterior_covariance, sim.posterior_covariance,
                               rtol=1e-8, atol=1e-12)
    assert res.fun == pytest.approx(sim.fun, rel=1e-8)
    assert [s.streams for s in res.steps] == steps
    # history: full J at the start and after each step, decreasing to J_min
    assert res.history["cost"].shape == (3,)
    assert res.history["cost"][0] == pytest.approx(problem().cost(XB), rel=1e-12)
    assert res.history["cost"][-1] == pytest.approx(sim.fun, rel=1e-8)
    assert res.nfev == sum(s.nfev for s in res.steps)
    # the second step starts at its prior mean, the first step's posterior mean
    np.testing.assert_array_equal(res.steps[1].x0, res.steps[0].x)


def test_default_steps_one_stream_each_and_registered_options():
    res = stepwise(problem(), inner_options={"gtol": 1e-12})
    assert [s.streams for s in res.steps] == [["p"], ["q"]]
    np.testing.assert_allclose(res.x, closed_form()[0], rtol=1e-8)


def test_single_step_with_all_streams_is_simultaneous():
    res = stepwise(problem(), steps=[["p", "q"]])
    np.testing.assert_allclose(res.x, closed_form()[0], rtol=1e-8)
    np.testing.assert_allclose(res.posterior_covariance, closed_form()[1], rtol=1e-8)


@pytest.mark.parametrize("steps, match", [
    ([["p"], ["nee"]], r"steps\[1\] names stream 'nee'.*streams are \['p', 'q'\]"),
    ([["p"], ["p", "q"]], r"stream 'p' is in steps\[0\] and steps\[1\]"),
    ([[]], r"steps\[0\] must be a non-empty list"),
    ("p", "steps must be a non-empty list of lists"),
])
def test_bad_steps_are_config_errors(steps, match):
    with pytest.raises(pdaframe.ConfigError, match=match):
        stepwise(problem(), steps=steps)


def test_chain_with_mismatched_parameters_is_named_error():
    first = pdaframe.minimise(problem())
    other = pdaframe.Result(first)
    other["parameter_names"] = ["a", "b", "d"]
    with pytest.raises(pdaframe.ConfigError, match=r"step 1 estimates parameters "
                       r"\['a', 'b', 'd'\], step 0 \['a', 'b', 'c'\]"):
        chain([first, other])
    with pytest.raises(pdaframe.ConfigError, match="no step results"):
        chain([])


def test_step_prior_with_other_parameter_names_is_named_error():
    first = pdaframe.minimise(problem())
    prior = pdaframe.GaussianPrior(XB, covariance=B, names=["a", "b", "z"])
    with pytest.raises(pdaframe.ConfigError, match=r"next step's prior has \['a', 'b', 'z'\]"):
        posterior_prior(first, prior)
    del first["posterior_covariance"]
    with pytest.raises(pdaframe.ConfigError, match="no posterior_covariance"):
        posterior_prior(first, problem().prior)


def test_posterior_prior_keeps_bounds_and_transforms():
    prior = pdaframe.GaussianPrior(XB, covariance=B, lower=[0.0, -5.0, -np.inf],
                                   upper=[3.0, np.inf, np.inf], names=["a", "b", "c"])
    res = pdaframe.minimise(pdaframe.Problem(TwoOutputs(), prior, problem().streams))
    nxt = posterior_prior(res, prior)
    assert nxt.transform.kinds == ["logit", "log", "identity"]
    np.testing.assert_array_equal(nxt.mean, res.x)
    np.testing.assert_array_equal(nxt.covariance, res.posterior_covariance)


def test_multisite_problem_is_rejected():
    with pytest.raises(pdaframe.ConfigError, match="single-site pdaframe.Problem"):
        stepwise(object())
