"""Sampler validation targets of Method notes §4–§5 (VALIDATION lines), expressed as Problems.

* d=10 Gaussian ``C_ij = 0.5 (1 + delta_ij) sqrt(i j)`` (DREAM-Suite example_2): identity
  linear model, one stream with full covariance ``C`` observed at 0 and a very wide Gaussian
  prior (std 1e3), so the posterior is ``(C^-1 + I/1e6)^-1`` (= ``C`` to ~1e-5 relative; the
  tests use the exact posterior anyway).
* Twisted Gaussian (banana) ``X1 ~ N(0, 100)``, ``X2 = Y2 - b X1^2 + 100 b``, b = 0.03: a
  2-parameter model with outputs ``(x1, x2 + b x1^2 - 100 b)`` observed at 0 with std
  ``(10, 1)``; the map ``(x1, x2) -> outputs`` has unit Jacobian, so with a flat-ish prior the
  posterior is exactly this target.

Tolerances are Monte-Carlo errors from the samplers' own ESS (ArviZ, rank-normalised), with a
wide factor (the ESS estimate is itself noisy); each test also requires a minimum ESS so the
tolerance cannot become vacuous. Seeds are fixed: the tests are deterministic.
"""
import numpy as np
import pytest

import pdaframe

D = 10
J_IDX = np.arange(1, D + 1)
C10 = 0.5 * (1.0 + np.eye(D)) * np.sqrt(np.outer(J_IDX, J_IDX))
PRIOR_STD = 1e3
B_TWIST = 0.03
K_SIGMA = 5.0          # z-score allowed per checked statistic (10-20 statistics per test)


def gaussian10_problem():
    prior = pdaframe.GaussianPrior(np.zeros(D), std=np.full(D, PRIOR_STD))
    stream = pdaframe.DataStream("y", "y", np.zeros(D), covariance=C10)
    return pdaframe.Problem(pdaframe.LinearModel(np.eye(D)), prior, [stream])


def gaussian10_posterior():
    return np.linalg.inv(np.linalg.inv(C10) + np.eye(D) / PRIOR_STD ** 2)


def test_gaussian10_target_definition():
    """The Problem's J is exactly the Gaussian's -log density (up to the tiny prior term)."""
    problem = gaussian10_problem()
    rng = np.random.default_rng(0)
    post = gaussian10_posterior()
    assert np.allclose(np.diag(C10), J_IDX)                   # var_j = j
    assert np.allclose(np.diag(post), J_IDX, rtol=1e-4)
    prec = np.linalg.inv(post)
    for x in rng.standard_normal((5, D)) * np.sqrt(J_IDX):
        assert problem.cost(x) == pytest.approx(0.5 * x @ prec @ x, rel=1e-10)


def _check_gaussian10(res, min_ess):
    post = gaussian10_posterior()
    var = np.diag(post)
    s = res.samples
    assert s.shape[2] == D
    assert np.all(np.isfinite(res.ess_bulk))
    assert res.ess_bulk.min() >= min_ess, res.ess_bulk
    assert res.rhat.max() < 1.1, res.rhat
    flat = s.reshape(-1, D)
    ess = res.ess_bulk
    # means 0: standard error sqrt(var_j / ESS_j)
    z_mean = flat.mean(axis=0) / np.sqrt(var / ess)
    assert np.all(np.abs(z_mean) < K_SIGMA), z_mean
    # variances j: relative standard error of a Gaussian sample variance ~ sqrt(2 / ESS)
    rel = flat.var(axis=0) / var - 1.0
    z_var = rel / np.sqrt(2.0 / ess)
    assert np.all(np.abs(z_var) < K_SIGMA), (rel, z_var)
    # the variances really scale as var_j = j (not a constant proposal-limited spread)
    assert np.corrcoef(flat.var(axis=0), J_IDX)[0, 1] > 0.95
    # the correlations C_ij / sqrt(C_ii C_jj) = 0.5 off the diagonal, pooled over 45 pairs
    corr = np.corrcoef(flat, rowvar=False)[np.triu_indices(D, 1)]
    assert abs(corr.mean() - 0.5) < 0.1, corr.mean()
    # mean and covariance reported by the Result agree with the draws
    assert np.allclose(res.x, flat.mean(axis=0))
    assert np.allclose(res.posterior_covariance, np.cov(flat, rowvar=False))


def test_dream_zs_gaussian10():
    res = pdaframe.minimise(gaussian10_problem(), method="dream-zs", seed=1, x0=np.zeros(D),
                            n_chains=3, n_samples=6000, burn_in=6000)
    assert res.method == "dream-zs"
    assert res.samples.shape == (3, 6000, D)
    assert 0.1 < res.acceptance_rate.mean() < 0.5, res.acceptance_rate
    _check_gaussian10(res, min_ess=80)


def test_adaptive_metropolis_gaussian10():
    res = pdaframe.minimise(gaussian10_problem(), method="adaptive-metropolis", seed=1,
                            x0=np.zeros(D), n_chains=4, n_samples=3000, burn_in=3000)
    assert res.method == "adaptive-metropolis"
    assert res.samples.shape == (4, 3000, D)
    # Gaussian optimum acceptance ~0.234 for d -> inf; about 0.25-0.3 at d = 10
    assert 0.15 < res.acceptance_rate.mean() < 0.4, res.acceptance_rate
    _check_gaussian10(res, min_ess=150)


# --- twisted Gaussian (banana) -------------------------------------------------------------

class Twist:
    """Outputs ``(x1, x2 + b x1^2 - 100 b)``: unit Jacobian, so N(0, diag(100, 1)) on the
    outputs is the twisted Gaussian on ``(x1, x2)``."""

    parameter_names = ("x1", "x2")

    def __init__(self, b=B_TWIST):
        self.b = b

    def run(self, theta):
        x1, x2 = theta
        return {"y": np.array([x1, x2 + self.b * x1 ** 2 - 100.0 * self.b])}


def banana_problem():
    prior = pdaframe.GaussianPrior(np.zeros(2), std=[PRIOR_STD, PRIOR_STD])
    stream = pdaframe.DataStream("y", "y", [0.0, 0.0], std=[10.0, 1.0])
    return pdaframe.Problem(Twist(), prior, [stream])


def banana_reference(n, seed):
    """i.i.d. draws of the analytic construction X1 ~ N(0, 100), X2 = Y2 - b X1^2 + 100 b."""
    rng = np.random.default_rng(seed)
    x1 = 10.0 * rng.standard_normal(n)
    x2 = rng.standard_normal(n) - B_TWIST * x1 ** 2 + 100.0 * B_TWIST
    return np.column_stack([x1, x2])


def test_banana_reference_moments():
    """The reference sampler matches Method notes §4: E[X2] = 0, Var X2 = 1 + 2e4 b^2 = 19."""
    ref = banana_reference(400_000, seed=11)
    assert 1.0 + 2e4 * B_TWIST ** 2 == pytest.approx(19.0)
    assert ref[:, 0].mean() == pytest.approx(0.0, abs=5 * 10 / np.sqrt(4e5))
    assert ref[:, 0].var() == pytest.approx(100.0, rel=0.01)
    assert ref[:, 1].mean() == pytest.approx(0.0, abs=5 * np.sqrt(19 / 4e5))
    assert ref[:, 1].var() == pytest.approx(19.0, rel=0.02)
    # and the Problem's J is the target's -log density up to a constant (tiny prior term)
    problem = banana_problem()
    x = ref[:5]
    y2 = x[:, 1] + B_TWIST * x[:, 0] ** 2 - 100 * B_TWIST
    logp = -0.5 * (x[:, 0] ** 2 / 100 + y2 ** 2)
    J = np.array([problem.cost(t) for t in x])
    assert np.allclose(J + logp, 0.0, atol=1e-3)


def test_dream_zs_banana_quantiles():
    res = pdaframe.minimise(banana_problem(), method="dream-zs", seed=3, x0=np.zeros(2),
                            n_chains=3, n_samples=5000, burn_in=3000)
    assert res.samples.shape == (3, 5000, 2)
    ess = np.minimum(res.ess_bulk, res.ess_tail)
    assert ess.min() >= 100, (res.ess_bulk, res.ess_tail)
    assert res.rhat.max() < 1.05, res.rhat
    ref = banana_reference(400_000, seed=12)
    flat = res.samples.reshape(-1, 2)
    probs = np.array([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975])
    for j in range(2):
        q_ref = np.quantile(ref[:, j], probs)
        # fraction of sampler draws below each reference quantile ~ p +- sqrt(p(1-p)/ESS)
        frac = (flat[:, j][:, None] < q_ref[None, :]).mean(axis=0)
        se = np.sqrt(probs * (1 - probs) / ess[j])
        z = (frac - probs) / se
        assert np.all(np.abs(z) < K_SIGMA), (j, frac, z)
    # the moments of X2 (the twisted, skewed marginal): E = 0, Var = 19
    assert abs(flat[:, 1].mean()) < K_SIGMA * np.sqrt(19.0 / ess[1])
    assert flat[:, 1].var() == pytest.approx(19.0, rel=K_SIGMA * np.sqrt(2.0 * 4.0 / ess[1]))
    # skewness of X2 is strongly negative (long lower tail from -b X1^2)
    x2 = flat[:, 1] - flat[:, 1].mean()
    skew_ref = np.mean((ref[:, 1] - ref[:, 1].mean()) ** 3) / ref[:, 1].std() ** 3
    assert skew_ref < -1.5
    assert np.mean(x2 ** 3) / x2.std() ** 3 < -1.0


class Bimodal:
    """``g(x) = sqrt(2 (-log p(x) + log 2/3))`` observed at 0 with std 1, so that
    ``J = -log p + const`` for the mixture ``p = 1/3 N(-5·1, I) + 2/3 N(5·1, I)``, d = 10
    (DREAM-Suite example_3, Method notes §5)."""

    parameter_names = tuple(f"x{i}" for i in range(D))

    def run(self, theta):
        from scipy.special import logsumexp
        t = np.asarray(theta, dtype=float)
        lp = logsumexp([np.log(1 / 3) - 0.5 * np.sum((t + 5) ** 2),
                        np.log(2 / 3) - 0.5 * np.sum((t - 5) ** 2)])
        return {"g": np.array([np.sqrt(max(2.0 * (np.log(2 / 3) - lp), 0.0))])}


@pytest.mark.slow
def test_dream_zs_bimodal_mode_weights():
    """DREAM(ZS) jumps between the modes (AM cannot): 2/3 of the mass near +5, marginal
    mean 5/3, marginal variance 1 + (2/9)·100 = 23.22 (Method notes §5)."""
    import arviz as az
    # U(-10, 10) prior: the mixture's mass outside is < 1e-6
    prior = pdaframe.UniformPrior(np.full(D, -10.0), np.full(D, 10.0))
    problem = pdaframe.Problem(Bimodal(), prior, [pdaframe.DataStream("g", "g", [0.0], std=1.0)])
    res = pdaframe.minimise(problem, method="dream-zs", seed=1, n_chains=3, n_samples=40000,
                            burn_in=10000)
    plus = res.samples.mean(axis=2) > 0                       # (chain, draw): in the + mode
    ess = float(az.ess(plus.astype(float)[None].transpose(1, 2, 0)[..., 0]))
    assert ess >= 50, ess                                    # several mode switches
    assert np.all(plus.any(axis=1) & (~plus).any(axis=1))   # every chain visits both modes
    p = plus.mean()
    assert abs(p - 2 / 3) < K_SIGMA * np.sqrt(2 / 9 / ess), (p, ess)
    flat = res.samples.reshape(-1, D)
    # within each mode: N(±5, I); a few hundred effective draws per mode (~5 standard
    # errors: 0.3 for the means, 0.3 relative for the variances)
    for sign, rows in ((1, plus.ravel()), (-1, ~plus.ravel())):
        assert np.allclose(flat[rows].mean(axis=0), 5 * sign, atol=0.3)
        assert np.allclose(flat[rows].var(axis=0), 1.0, rtol=0.3)
    # the marginal moments follow from the mode weight: mean 10 p - 5, var 1 + 100 p (1 - p)
    assert abs(flat.mean() - 5 / 3) < 10 * K_SIGMA * np.sqrt(2 / 9 / ess)
    assert abs(flat.var(axis=0).mean() - (1 + 100 * 2 / 9)) < 3.0
