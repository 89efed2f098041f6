"""Operator parameters (e.g. an additive bias) estimated with the model's parameters."""
import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import Identity, Parameter, Select, reset_plugins
from pdaframe.testing import check_gradient
from tests.models import Decay


class AddBias:
    """Minimal parameterised operator: ``h(x) + b`` around an ordinary operator."""

    def __init__(self, inner, names=("bias",)):
        self.inner, self.inputs = inner, inner.inputs
        self.parameters = tuple(Parameter(n, 0.0, std=1.0) for n in names)

    def apply(self, outputs, params=None):
        return self.inner.apply(outputs) + np.sum(params)

    def tangent(self, outputs, d_outputs, params=None):
        return self.inner.tangent(outputs, d_outputs)

    def adjoint(self, outputs, d_obs, params=None):
        return self.inner.adjoint(outputs, d_obs)

    def param_tangent(self, outputs, params, d_params):
        return np.full(self.apply(outputs, params).size, np.sum(d_params))

    def param_adjoint(self, outputs, params, d_obs):
        return np.full(len(self.parameters), np.sum(d_obs))


def linear_problem():
    H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.5], [0.0, 1.0]])
    model = pdaframe.LinearModel(H)
    y = np.array([3.5, -0.5, 2.2, 1.0])
    s = pdaframe.DataStream("y", "y", y, std=[0.5, 0.7, 0.6, 0.8],
                            operator=AddBias(Identity("y")))
    prior = pdaframe.GaussianPrior([1.0, 2.0, 0.3], std=[1.0, 2.0, 0.5])
    return pdaframe.Problem(model, prior, [s]), H, y


def test_names_and_closed_form_posterior_with_a_bias():
    problem, H, y = linear_problem()
    assert problem.parameter_names == ["theta_0", "theta_1", "y:bias"]
    Ha = np.hstack([H, np.ones((4, 1))])
    Rinv = np.diag(1 / np.array([0.5, 0.7, 0.6, 0.8]) ** 2)
    Binv = np.diag(1 / np.array([1.0, 2.0, 0.5]) ** 2)
    A = np.linalg.inv(Ha.T @ Rinv @ Ha + Binv)
    xa = A @ (Ha.T @ Rinv @ y + Binv @ [1.0, 2.0, 0.3])
    res = pdaframe.minimise(problem, method="lbfgsb")
    np.testing.assert_allclose(res.x, xa, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(problem.posterior_covariance(res.x), A, rtol=1e-10)
    np.testing.assert_allclose(problem.equivalents(res.x)["y"], Ha @ xa, rtol=1e-10)


@pytest.mark.parametrize("mode", ["adjoint", "tangent", "fd"])
def test_jacobian_modes_agree(mode):
    problem, H, _ = linear_problem()
    jac = problem.jacobian([0.3, -0.2, 0.7], mode=mode)
    np.testing.assert_allclose(jac, np.hstack([H, np.ones((4, 1))]), rtol=1e-7, atol=1e-7)


def test_gradient_taylor_on_a_nonlinear_model_with_two_biased_streams():
    model = Decay(15)
    times = np.arange(0, 15, 2)
    streams = [pdaframe.DataStream("y", "y", np.linspace(1, 2, 15), std=0.3,
                                   operator=AddBias(Identity("y"))),
               pdaframe.DataStream("z", "y", np.ones(times.size), times=times, std=0.4,
                                   operator=AddBias(Select("y", times), ("b0", "b1"))),
               pdaframe.DataStream("w", "y", np.ones(15), std=1.0)]          # ordinary
    prior = pdaframe.GaussianPrior([0.2, 2.0, 0.5, 0.0, 0.1, -0.1], std=[0.1, 1, 1, 1, 1, 1])
    problem = pdaframe.Problem(model, prior, streams)
    assert problem.parameter_names[3:] == ["y:bias", "z:b0", "z:b1"]
    theta = np.array([0.25, 1.5, 0.4, 0.2, -0.3, 0.1])
    check_gradient(problem, theta, rng=1)
    g = problem.gradient(theta, mode="adjoint")
    np.testing.assert_allclose(problem.gradient(theta, mode="tangent"), g, rtol=1e-12)
    np.testing.assert_allclose(problem.gradient(theta, mode="fd"), g, rtol=1e-5, atol=1e-5)
    n = problem.nrun
    problem.cost(theta + np.array([0, 0, 0, 1.0, 0, 0]))     # only a bias changes: no run
    assert problem.nrun == n


def test_ordinary_operators_unchanged_and_clashes():
    problem, _, _ = linear_problem()
    plain = pdaframe.Problem(pdaframe.LinearModel([[1.0]]),
                             pdaframe.GaussianPrior([0.0], std=[1.0]),
                             [pdaframe.DataStream("y", "y", [1.0], std=1.0)])
    assert plain.parameter_names == ["theta_0"] and plain.n_model == 1
    with pytest.raises(pdaframe.ConfigError, match="stream 'y'.*'y:b' clashes"):
        pdaframe.Problem(pdaframe.LinearModel([[1.0]]), pdaframe.GaussianPrior([0, 0, 0], std=1),
                         [pdaframe.DataStream("y", "y", [1.0], std=1.0,
                                              operator=AddBias(Identity("y"),
                                                               ("b", "b")))])
    with pytest.raises(pdaframe.ConfigError, match="1 operator parameters"):
        pdaframe.Problem(problem.model, pdaframe.GaussianPrior([0, 0], std=1), problem.streams)


@pytest.fixture
def registered():
    reset_plugins()
    reg = pdaframe.plugins.registry
    reg("operator").add("test-bias", lambda variable, times=None: AddBias(
        Identity(variable) if times is None else Select(variable, times)))
    reg("model").add("test-linear", lambda: pdaframe.LinearModel(
        [[1.0, 1.0], [1.0, -1.0], [2.0, 0.5], [0.0, 1.0]]))
    yield
    reset_plugins()


def test_config_end_to_end(tmp_path, registered):
    path = tmp_path / "c.toml"
    text = ('[model]\nname = "test-linear"\n'
            '[parameters]\ntheta_0 = { mean = 1.0, std = 1.0 }\ntheta_1 = { mean = 2.0, std = 2.0 }\n'
            '"y:bias" = { mean = 0.3, std = 0.5 }\n{estimate}'
            '[twin]\ntruth = { theta_0 = 1.2, "y:bias" = 0.8 }\nseed = 3\n'
            '[[streams]]\nname = "y"\nvariable = "y"\nstd = 0.5\noperator = "test-bias"\ntimes = [0, 1, 2, 3]\n')
    problem, _ = pdaframe.load_config(_write(path, text.replace("{estimate}", "")))
    assert problem.parameter_names[-1] == "y:bias"
    np.testing.assert_allclose(problem.prior.mean[-1], 0.3)
    np.testing.assert_allclose(problem.streams[0].truth_values,
                               np.array([1.2 + 2, 1.2 - 2, 2.4 + 1, 2.0]) + 0.8)
    fixed = pdaframe.load_config(_write(path, text.replace("{estimate}", 'estimate = ["theta_0"]\n')
                                        .replace(', "y:bias" = 0.8', ""))).problem
    assert fixed.parameter_names == ["theta_0"]
    np.testing.assert_allclose(fixed.equivalents([1.0])["y"], [3.3, -0.7, 3.3, 2.3])
    with pytest.raises(pdaframe.ConfigError, match="at least one model parameter"):
        pdaframe.load_config(_write(path, text.replace("{estimate}",
                                                       'estimate = ["y:bias"]\n')))


def _write(path, text):
    path.write_text(text)
    return path
