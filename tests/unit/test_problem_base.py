"""One problem interface (issue 12 item 4): `Problem` and `MultiSiteProblem` share
`BaseProblem` for the control-space cost, gradient and posterior covariance, and neither
changes the prior it is given."""
import numpy as np
import pytest

import pdaframe
from pdaframe.problem.base import BaseProblem
from pdaframe.problem.multisite import MultiSiteProblem, Site

#: inherited as they are (MultiSiteProblem extends ``data_hessian`` to add site blocks)
SHARED_API = ("cost_u", "gradient_u", "posterior_covariance", "_covariance", "_use_prior",
              "n_param", "n_obs")


def _prior_state(prior):
    return (list(prior.names), list(prior.transform.names), prior.named, prior.mean.copy(),
            prior.lower.copy(), prior.upper.copy(), prior.scale.copy())


def _assert_unchanged(prior, before):
    after = _prior_state(prior)
    assert after[:3] == before[:3]
    for a, b in zip(after[3:], before[3:]):
        np.testing.assert_array_equal(a, b)


def _sites():
    return [Site(s, pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0]], names=["a", "b"]),
                 [pdaframe.DataStream("y", "y", [2.0, 0.1 * i], std=0.5)])
            for i, s in enumerate(["x", "z"])]


@pytest.mark.parametrize("cls", [pdaframe.Problem, MultiSiteProblem])
def test_problems_share_the_base_and_copy_none_of_it(cls):
    assert issubclass(cls, BaseProblem)
    for name in SHARED_API:                 # inherited, not redefined
        assert name not in vars(cls), f"{cls.__name__} redefines {name}"


def test_problem_does_not_rename_or_change_the_callers_prior():
    # unnamed: the problem names its copy after the model; the caller's keeps theta[i]
    prior = pdaframe.GaussianPrior([0.5, 1.0], std=[1.0, 2.0], lower=[-5.0, 0.0],
                                   upper=[5.0, 10.0], transforms=["identity", "log"])
    before = _prior_state(prior)
    model = pdaframe.LinearModel([[1.0, 2.0], [0.5, -1.0]], names=["p", "q"])
    problem = pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", [1.0, 2.0],
                                                                  std=0.3)])
    _assert_unchanged(prior, before)
    assert problem.prior is not prior
    assert problem.prior.names == problem.prior.transform.names == ["p", "q"]
    synthetic = problem.synthetic([0.4, 1.2], seed=3)
    assert synthetic.prior.names == ["p", "q"]
    _assert_unchanged(prior, before)


def test_multisite_problem_does_not_rename_or_change_the_callers_prior():
    prior = pdaframe.UniformPrior([-4.0, -3.0, -2.0], [4.0, 3.0, 2.0])
    before = _prior_state(prior)
    problem = MultiSiteProblem(_sites(), prior, ["a"], ["b"])
    _assert_unchanged(prior, before)
    assert problem.prior is not prior
    assert problem.prior.names == problem.prior.transform.names == ["a", "b@x", "b@z"]
    problem.select_sites(["z"])
    _assert_unchanged(prior, before)


def test_multisite_posterior_covariance_by_sites_equals_the_stacked_jacobian():
    prior = pdaframe.GaussianPrior([0.0, 0.1, -0.1], std=[1.0, 2.0, 0.5])
    problem = MultiSiteProblem(_sites(), prior, ["a"], ["b"])
    theta = np.array([0.3, -0.2, 0.4])
    jac = problem.jacobian(theta)
    np.testing.assert_allclose(problem.data_hessian(theta), problem.data_hessian(theta, jac),
                               rtol=1e-12, atol=1e-14)
    cov = problem.posterior_covariance(theta)
    # closed form (G^T R^-1 G + B^-1)^-1 of the linear-Gaussian problem
    dense = np.linalg.inv(jac.T @ jac / 0.25 + np.diag(1 / np.array([1.0, 2.0, 0.5]) ** 2))
    np.testing.assert_allclose(cov, dense, rtol=1e-12)
    np.testing.assert_allclose(problem.posterior_covariance(theta, jac), dense, rtol=1e-12)
