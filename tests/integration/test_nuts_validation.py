"""NUTS on the sampler validation targets of Method notes §4 (tests/integration/
test_sampler_validation.py): the d = 10 Gaussian with a diagonal and a dense metric (the
dense one must pay: several times the ESS per gradient), and the twisted Gaussian (banana)
with an adjoint of its model. Tolerances from NUTS's own ESS, as there."""
import numpy as np

import pdaframe
from tests.integration.test_sampler_validation import (B_TWIST, D, K_SIGMA, Twist,
                                                       _check_gaussian10, banana_reference,
                                                       gaussian10_problem)


def test_nuts_gaussian10_dense_metric_beats_diagonal_per_gradient():
    runs = {}
    for dense in (False, True):
        res = pdaframe.minimise(gaussian10_problem(), "nuts", seed=1, x0=np.zeros(D),
                                n_chains=2, n_samples=1000, burn_in=600, dense_mass=dense)
        _check_gaussian10(res, min_ess=300)
        assert res.n_divergent.sum() == 0
        runs[dense] = res
        print(f"dense_mass={dense}: ESS bulk min {res.ess_bulk.min():.0f}, gradients "
              f"{res.njev}, ESS per 1000 gradients {1000 * res.ess_bulk.min() / res.njev:.1f}"
              f", step sizes {np.round(res.step_size, 3)}")
    per_grad = {k: r.ess_bulk.min() / r.njev for k, r in runs.items()}
    assert per_grad[True] > 2.0 * per_grad[False], per_grad
    # the adapted dense inverse metric is the posterior covariance in u (to ~20 %)
    cov_u = np.cov(runs[True].samples_u.reshape(-1, D), rowvar=False)
    inv = runs[True].inverse_metric[0]
    assert np.allclose(np.diag(inv) / np.diag(cov_u), 1.0, atol=0.35)


class TwistAdjoint(Twist):
    """`Twist` with its adjoint: ``J^T d`` of ``(x1, x2 + b x1^2 - 100 b)``."""

    def adjoint(self, theta, d_outputs):
        d = d_outputs["y"]
        return np.array([d[0] + 2.0 * self.b * theta[0] * d[1], d[1]])


def test_nuts_banana_quantiles():
    prior = pdaframe.GaussianPrior(np.zeros(2), std=[1e3, 1e3])
    stream = pdaframe.DataStream("y", "y", [0.0, 0.0], std=[10.0, 1.0])
    problem = pdaframe.Problem(TwistAdjoint(), prior, [stream])
    res = pdaframe.minimise(problem, "nuts", seed=3, x0=np.zeros(2), n_chains=3,
                            n_samples=2000, burn_in=1000)
    ess = np.minimum(res.ess_bulk, res.ess_tail)
    assert ess.min() >= 150, (res.ess_bulk, res.ess_tail)
    assert res.rhat.max() < 1.02, res.rhat
    print(f"banana: ESS min {ess.min():.0f}, gradients {res.njev}, divergences "
          f"{res.n_divergent.sum()}, mean tree depth {res.tree_depth.mean():.2f}")
    ref = banana_reference(400_000, seed=12)
    flat = res.samples.reshape(-1, 2)
    probs = np.array([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975])
    for j in range(2):
        frac = (flat[:, j][:, None] < np.quantile(ref[:, j], probs)[None, :]).mean(axis=0)
        z = (frac - probs) / np.sqrt(probs * (1 - probs) / ess[j])
        assert np.all(np.abs(z) < K_SIGMA), (j, frac, z)
    assert abs(flat[:, 1].mean()) < K_SIGMA * np.sqrt(19.0 / ess[1])
    assert abs(flat[:, 1].var() / 19.0 - 1) < K_SIGMA * np.sqrt(2.0 * 4.0 / ess[1])
    x2 = flat[:, 1] - flat[:, 1].mean()
    assert np.mean(x2 ** 3) / x2.std() ** 3 < -1.0
    assert 1.0 + 2e4 * B_TWIST ** 2 == 19.0
