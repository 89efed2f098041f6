"""Twins with estimated error hyperparameters (issue 17 item 1): the sigma scale, the AR(1)
rho and the Student-t nu are recovered within 2 posterior sigma by MCMC (adaptive
Metropolis) and by 4D-Var (L-BFGS-B with the adjoint) + Laplace (the cost's Hessian)."""
import math

import numpy as np
import pytest

import pdaframe
from pdaframe.observations.likelihoods import make_likelihood
from pdaframe.problem.layout import likelihood_parameters
from tests.models import TRUTH, Decay

#: (likelihood, options, true hyperparameters (theta units), observations)
TWINS = {
    "sigma_scale": ("gaussian", {"estimate": ["sigma_scale"]}, [math.log(1.5)], 300),
    "rho": ("ar1", {"estimate": ["sigma_scale", "rho"]}, [math.log(1.2), 0.6], 300),
    "nu": ("student-t", {"estimate": ["sigma_scale", "nu"]}, [0.0, 4.0], 1500),
}


def twin(case, seed=1):
    name, options, hyper, n = TWINS[case]
    model = Decay(n)
    stream = pdaframe.DataStream("y", "y", np.zeros(n), std=0.1)
    stream.likelihood = make_likelihood(name, options, "stream 'y'")
    hp = [p for _, p in likelihood_parameters([stream])]
    prior = pdaframe.GaussianPrior([0.1, 3.0, 0.5] + [p.default for p in hp],
                                   std=[0.1, 1.0, 0.5] + [p.std for p in hp],
                                   lower=[0.0, 0.0, -5.0] + [p.lower for p in hp],
                                   upper=[1.0, 20.0, 5.0] + [p.upper for p in hp])
    truth = np.r_[TRUTH, hyper]
    return pdaframe.Problem(model, prior, [stream]).synthetic(truth, seed), truth


@pytest.mark.parametrize("case", sorted(TWINS))
def test_4dvar_laplace_recovers_the_hyperparameters(case):
    problem, truth = twin(case)
    res = pdaframe.minimise(problem, "lbfgsb")
    assert res.success
    z = (res.x - truth) / res.posterior_std
    print(case, dict(zip(problem.parameter_names, np.round(z, 2))))
    assert np.all(np.abs(z) < 2.0), z
    # the data constrain the hyperparameters far beyond their priors
    assert np.all(res.posterior_std[3:] < 0.25 * problem.prior.std[3:])


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TWINS))
def test_mcmc_recovers_the_hyperparameters(case):
    problem, truth = twin(case)
    lap = pdaframe.minimise(problem, "lbfgsb")
    res = pdaframe.minimise(problem, "adaptive-metropolis", x0=lap.x, seed=3, n_samples=2000,
                            burn_in=2000, n_chains=4)
    samples = res.samples.reshape(-1, problem.n_param)
    mean, std = samples.mean(axis=0), samples.std(axis=0)
    z = (mean - truth) / std
    print(case, dict(zip(problem.parameter_names, np.round(z, 2))),
          "MCMC/Laplace std", np.round(std / lap.posterior_std, 2))
    assert np.all(np.abs(z) < 2.0), z
    # the Laplace posterior (cost Hessian) matches the sampled one
    np.testing.assert_allclose(std[3:], lap.posterior_std[3:], rtol=0.3)
