"""Problem.log_likelihood: the normalised Gaussian log density, whole and pointwise."""
import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.observations.error_models import ExponentialCorrelation


def _problem(n=9, weight=1.0, **error):
    rng = np.random.default_rng(4)
    model = pdaframe.LinearModel(rng.standard_normal((n, 2)))
    prior = pdaframe.GaussianPrior([0.2, -0.1], std=[1.0, 2.0], names=model.parameter_names)
    y = rng.standard_normal(n)
    stream = pdaframe.DataStream("y", "y", y, times=np.arange(n), weight=weight, **error)
    return pdaframe.Problem(model, prior, [stream]), model, y


def _cov(n, kind):
    std = np.linspace(0.5, 1.3, n)
    if kind == "diag":
        return {"std": std}, np.diag(std ** 2)
    t = np.arange(n)
    corr = np.exp(-np.abs(t[:, None] - t[None]) / 2.5)
    cov = std[:, None] * std * corr
    if kind == "dense":
        return {"covariance": cov}, cov
    return {"std": std, "correlation": ExponentialCorrelation(2.5)}, cov


@pytest.mark.parametrize("kind", ["diag", "dense", "exponential"])
@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_log_likelihood_is_the_gaussian_density(kind, weight):
    error, cov = _cov(9, kind)
    problem, model, y = _problem(weight=weight, **error)
    theta = np.array([0.7, -0.4])
    r = model.run(theta)["y"] - y
    exact = stats.multivariate_normal(np.zeros(9), cov / weight).logpdf(r)
    pointwise = problem.log_likelihood(theta, pointwise=True)
    assert pointwise.shape == (9,)
    assert problem.log_likelihood(theta) == pytest.approx(exact, rel=1e-12)
    assert pointwise.sum() == pytest.approx(exact, rel=1e-12)
    # the cost's data term is the same up to a constant in theta
    j_o = problem.cost(theta) - problem.prior.cost(theta)
    const = problem.log_likelihood(theta) + j_o
    theta2 = theta + 0.3
    assert problem.log_likelihood(theta2) + problem.cost(theta2) - \
        problem.prior.cost(theta2) == pytest.approx(const, rel=1e-12)


def test_pointwise_diagonal_terms_are_each_observations_density():
    error, cov = _cov(9, "diag")
    problem, model, y = _problem(**error)
    theta = np.array([0.1, 0.3])
    r = model.run(theta)["y"] - y
    np.testing.assert_allclose(problem.log_likelihood(theta, pointwise=True),
                               stats.norm(0, np.sqrt(np.diag(cov))).logpdf(r), rtol=1e-13)


def test_log_likelihood_outside_bounds_is_minus_inf():
    rng = np.random.default_rng(0)
    model = pdaframe.LinearModel(rng.standard_normal((4, 1)))
    prior = pdaframe.GaussianPrior([0.5], std=[1.0], lower=0.0, upper=1.0,
                                   names=model.parameter_names)
    problem = pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", np.zeros(4),
                                                                   std=1.0)])
    assert problem.log_likelihood([1.5]) == -np.inf
    assert np.all(problem.log_likelihood([1.5], pointwise=True) == -np.inf)
