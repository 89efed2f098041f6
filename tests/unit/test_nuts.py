"""NUTS and HMC (`pdaframe.methods.mcmc.nuts`, Method notes §12): the control-space target's
gradient, the linear-Gaussian closed forms, bounds through the log-Jacobian, bad input,
seeding and checkpoints. The d = 10 Gaussian and banana validations are in
tests/integration/test_nuts_validation.py."""
import warnings

import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError, ModelError
from pdaframe.methods.mcmc import hamiltonian as hm
from pdaframe.methods.mcmc.nuts import GradientTarget
from tests.conftest import LG2_COV, LG2_MEAN, lg2_problem, random_linear_gaussian

K = 5.0                  # z-score allowed per checked statistic


def check_moments(res, mean, cov, min_ess=150):
    """Mean within K standard errors (from ESS), variances within K sqrt(2/ESS) relative,
    correlations within K / sqrt(ESS)."""
    flat = res.samples.reshape(-1, mean.size)
    ess = res.ess_bulk
    assert ess.min() >= min_ess, ess
    assert res.rhat.max() < 1.02, res.rhat
    sd = np.sqrt(np.diag(cov))
    z = (flat.mean(axis=0) - mean) / (sd / np.sqrt(ess))
    assert np.all(np.abs(z) < K), z
    rel = flat.var(axis=0) / np.diag(cov) - 1.0
    assert np.all(np.abs(rel) < K * np.sqrt(2.0 / ess)), rel
    corr = np.corrcoef(flat, rowvar=False)
    corr_ref = cov / np.outer(sd, sd)
    assert np.all(np.abs(corr - corr_ref) < K / np.sqrt(ess.min())), corr - corr_ref


class BoxedLinear:
    """``y = H theta`` with the adjoint, for a problem with a uniform (logit) prior."""

    parameter_names = ("a", "b")
    H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])

    def run(self, theta):
        return {"y": self.H @ theta}

    def adjoint(self, theta, d_outputs):
        return self.H.T @ d_outputs["y"]


def boxed_problem(lower=(-20.0, -20.0), upper=(20.0, 20.0)):
    if np.all(np.isfinite(np.r_[lower, upper])):
        prior = pdaframe.UniformPrior(np.array(lower), np.array(upper), names=["a", "b"])
    else:
        prior = pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 3.0], lower=np.array(lower),
                                       upper=np.array(upper), names=["a", "b"])
    obs = pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=np.sqrt(0.5))
    return pdaframe.Problem(BoxedLinear(), prior, [obs])


def boxed_closed_form():
    H, R = BoxedLinear.H, 0.5
    cov = np.linalg.inv(H.T @ H / R)
    return cov @ H.T @ np.array([3.5, -0.5, 2.2]) / R, cov


# --- the target ----------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lg2_problem, lambda: boxed_problem((0.0, 0.0), (2.5, 3.0)),
                                  lambda: boxed_problem((0.5, -30.0), (np.inf, 4.0))])
def test_target_gradient_taylor_second_order(make):
    problem = make()
    target = GradientTarget(problem)
    rng = np.random.default_rng(0)
    u = 0.7 * rng.standard_normal(2)
    du = rng.standard_normal(2)
    f0, g0, _ = target(u)
    errs = [abs(target(u + h * du)[0] - f0 - h * g0 @ du) for h in (1e-2, 5e-3, 2.5e-3)]
    rates = np.log2(np.array(errs[:-1]) / errs[1:])
    assert np.all(np.abs(rates - 2.0) < 0.1), (errs, rates)
    # the log-Jacobian's gradient matters: without it the remainder is first order
    kinds = np.array(problem.space.transform.kinds)
    phi = problem.space.phi_b + problem.space.scale @ u
    dlogdet = np.where(kinds == "logit", 1.0 - 2.0 / (1.0 + np.exp(-phi)),
                       np.where(kinds == "identity", 0.0, 1.0))
    broken = g0 - problem.space.scale.T @ dlogdet
    if any(kinds != "identity"):
        h = 1e-4
        good = abs(target(u + h * du)[0] - f0 - h * g0 @ du)
        bad = abs(target(u + h * du)[0] - f0 - h * broken @ du)
        assert bad > 100 * good, (bad, good)


def test_target_is_minus_inf_where_the_model_fails():
    class Fails(BoxedLinear):
        def run(self, theta):
            if theta[0] > 1.0:
                raise ModelError("a > 1")
            return super().run(theta)
    problem = pdaframe.Problem(Fails(), pdaframe.UniformPrior([-2.0, -2.0], [2.0, 2.0]),
                               [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=1.0)])
    target = GradientTarget(problem)
    logp, grad, J = target(problem.space.to_u(np.array([1.5, 0.0])))
    assert logp == -np.inf and np.isnan(grad).all() and J == np.inf


# --- closed forms --------------------------------------------------------------------------

def test_nuts_lg2_closed_form():
    res = pdaframe.minimise(lg2_problem(), "nuts", seed=3, n_chains=4, n_samples=1000,
                            burn_in=500)
    assert res.method == "nuts" and res.success, res.message
    assert res.samples.shape == (4, 1000, 2) and res.samples_u.shape == (4, 1000, 2)
    check_moments(res, LG2_MEAN, LG2_COV, min_ess=1000)
    # counters: every gradient is one run plus one adjoint; a few more runs for the start
    assert res.njev == res.n_gradient == res.n_adjoint
    assert res.nfev == res.n_adjoint + 1                      # + J at the posterior mean
    assert res.njev == res.n_leapfrog.sum() + (res.njev - res.n_leapfrog.sum())
    assert res.n_leapfrog.sum() < res.njev < 1.5 * res.n_leapfrog.sum() + 4 * 700
    assert res.n_divergent.sum() == 0 and res.gradient == "adjoint"
    assert 0.6 < res.accept_stat.mean() < 0.99
    assert np.all((res.tree_depth >= 1) & (res.tree_depth <= 10))
    assert np.allclose(res.log_prob, -np.array([[lg2_problem().cost(t) for t in c]
                                                for c in res.samples]))


@pytest.mark.parametrize("seed", [1, 2])
def test_nuts_random_linear_gaussian_closed_form(seed):
    problem, xa, A = random_linear_gaussian(seed, n=4, m=9)
    res = pdaframe.minimise(problem, "nuts", seed=seed, n_chains=2, n_samples=1000,
                            burn_in=400, dense_mass=True)
    check_moments(res, xa, A, min_ess=500)


def test_hmc_lg2_closed_form():
    res = pdaframe.minimise(lg2_problem(), "hmc", seed=4, n_chains=4, n_samples=1000,
                            burn_in=500, n_steps=8)
    assert res.method == "hmc"
    check_moments(res, LG2_MEAN, LG2_COV, min_ess=200)
    assert np.all(res.n_leapfrog == 8) and np.all(res.tree_depth == 0)
    assert 0.6 < res.acceptance_rate.mean() < 1.0


def truncated_moments(lower, upper, n=801):
    """Mean and covariance of the likelihood's Gaussian truncated to the box (quadrature)."""
    mean, cov = boxed_closed_form()
    a, b = (np.linspace(lo, up, n) for lo, up in zip(lower, upper))
    A, B = np.meshgrid(a, b, indexing="ij")
    x = np.stack([A - mean[0], B - mean[1]], axis=-1)
    w = np.exp(-0.5 * np.einsum("...i,ij,...j->...", x, np.linalg.inv(cov), x))
    w /= w.sum()
    m = np.array([np.sum(w * A), np.sum(w * B)])
    d = np.stack([A - m[0], B - m[1]], axis=-1)
    return m, np.einsum("abi,abj,ab->ij", d, d, w)


def test_nuts_uniform_prior_through_the_logit_jacobian():
    """A box that cuts the likelihood (a: 0.6 to 2.2, about -2 to +3 sd): the posterior is
    the truncated Gaussian (moments by quadrature), right in theta only with the logit's
    log-Jacobian and its gradient (without them the mean of a moves by ~8 standard errors)."""
    lower, upper = (0.6, 0.0), (2.2, 3.0)
    mean, cov = truncated_moments(lower, upper)
    res = pdaframe.minimise(boxed_problem(lower, upper), "nuts", seed=5, n_chains=4,
                            n_samples=800, burn_in=600)
    check_moments(res, mean, cov, min_ess=600)


def test_hamiltonian_kernels_sample_a_standard_normal_exactly():
    """The kernels alone (no Problem) on N(0, diag(1, 100)) with the right metric."""
    var = np.array([1.0, 100.0])

    def target(q):
        return -0.5 * float(q @ (q / var)), -q / var, 0.0
    # HMC: eps * n_steps = 1.5, far from the half period pi of a standard normal
    for transition, eps, arg in ((hm.nuts_transition, 0.6, 10), (hm.hmc_transition, 0.3, 5)):
        rng = np.random.default_rng(0)
        integ = hm.Integrator(target, var.copy())
        q = np.zeros(2)
        z = hm.Point(q, None, *target(q))
        draws = []
        for _ in range(4000):
            z, _st = transition(integ, z, eps, rng, arg)
            draws.append(z.q)
        draws = np.array(draws)
        assert np.allclose(draws.mean(axis=0) / np.sqrt(var), 0.0, atol=0.1)
        assert np.allclose(draws.var(axis=0) / var, 1.0, atol=0.1), draws.var(axis=0)


def test_windows_follow_stan():
    assert hm.windows(1000) == [(75, 100), (100, 150), (150, 250), (250, 450), (450, 950)]
    assert hm.windows(150) == [(75, 100)]
    assert hm.windows(149) == [(22, 135)]
    assert hm.windows(10) == []


# --- bad input, seeding, checkpoints -------------------------------------------------------

class NoGradient:
    parameter_names = ("a", "b")

    def run(self, theta):
        return {"y": BoxedLinear.H @ theta}


def no_gradient_problem():
    return pdaframe.Problem(NoGradient(), pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 2.0]),
                            [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=1.0)])


@pytest.mark.parametrize("method", ["nuts", "hmc"])
def test_a_problem_without_gradient_is_refused_before_any_run(method):
    problem = no_gradient_problem()
    with pytest.raises(ConfigError, match=r"no adjoint or tangent linear.*emulator.*"
                                          r"gradient = \"fd\".*dream-zs"):
        pdaframe.minimise(problem, method, n_samples=10, burn_in=10, n_chains=2)
    assert problem.nrun == 0
    with pytest.raises(ConfigError, match="gradient = 'exact'; expected one of"):
        pdaframe.minimise(lg2_problem(), method, gradient="exact")
    with pytest.raises(ConfigError, match="the model has no tangent"):
        pdaframe.minimise(problem, method, gradient="tangent")


def test_finite_differences_only_when_asked_with_a_warning():
    problem = no_gradient_problem()
    with pytest.warns(RuntimeWarning, match=r"finite-difference gradients \(n_param \+ 1 = 3"):
        res = pdaframe.minimise(problem, "nuts", seed=1, n_samples=50, burn_in=50,
                                n_chains=2, gradient="fd")
    assert res.gradient == "finite differences (forward)" and res.n_adjoint == 0
    assert res.nfev >= 3 * res.njev                           # 1 + n_param runs each


@pytest.mark.parametrize("option, value, match", [
    ("target_accept", 1.2, "target_accept = 1.2; expected a number between 0 and 1"),
    ("max_tree_depth", 0, "'max_tree_depth' = 0: at least 1 needed"),
    ("n_chains", 1, "'n_chains' = 1: at least 2 needed"),
    ("dense", True, r"unknown option\(s\) \['dense'\]"),
])
def test_bad_options_are_named(option, value, match):
    with pytest.raises(ConfigError, match=match):
        pdaframe.minimise(lg2_problem(), "nuts", **{option: value})


def test_same_bits_whatever_the_round_length_and_executor():
    from concurrent.futures import ThreadPoolExecutor
    kw = dict(seed=7, n_chains=3, n_samples=40, burn_in=60)
    a = pdaframe.minimise(lg2_problem(), "nuts", steps_per_round=100, **kw)
    b = pdaframe.minimise(lg2_problem(), "nuts", steps_per_round=7, **kw)
    with ThreadPoolExecutor(3) as pool:
        c = pdaframe.minimise(lg2_problem(), "nuts", executor=pool, steps_per_round=13, **kw)
    for r in (b, c):
        assert np.array_equal(a.samples, r.samples)
        assert np.array_equal(a.tree_depth, r.tree_depth)
        assert a.njev == r.njev and np.array_equal(a.step_size, r.step_size)
    d = pdaframe.minimise(lg2_problem(), "nuts", **dict(kw, seed=8))
    assert not np.array_equal(a.samples, d.samples)
    # chains are independent streams: chain 0 does not depend on the number of chains
    e = pdaframe.minimise(lg2_problem(), "nuts", **dict(kw, n_chains=2))
    assert np.array_equal(a.samples[:2], e.samples)


def test_checkpoint_resume_is_bit_identical(tmp_path):
    kw = dict(seed=2, n_chains=2, n_samples=30, burn_in=40, steps_per_round=10)
    full = pdaframe.minimise(lg2_problem(), "nuts", **kw)
    path = tmp_path / "cp.npz"

    def stop_after_three(progress, calls=[]):
        calls.append(1)
        if len(calls) == 3:
            raise StopIteration
    part = pdaframe.minimise(lg2_problem(), "nuts", callback=stop_after_three,
                             checkpoint=pdaframe.Checkpoint(path, every=1), **kw)
    assert part.status == 3 and part.samples.shape[1] == 0
    resumed = pdaframe.minimise(lg2_problem(), "nuts",
                                checkpoint=pdaframe.Checkpoint(path, resume=True), **kw)
    assert np.array_equal(full.samples, resumed.samples)
    assert full.njev == resumed.njev


def test_start_where_the_model_fails_is_a_model_error():
    class Fails(BoxedLinear):
        def run(self, theta):
            raise ModelError("always")
    problem = pdaframe.Problem(Fails(), pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 2.0]),
                               [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=1.0)])
    with pytest.raises(ModelError, match="chain 0: the log posterior or its gradient is not "
                                         "finite at the start x0"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pdaframe.minimise(problem, "nuts", x0=[1.0, 2.0], n_samples=10, burn_in=10)
