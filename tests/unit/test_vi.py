"""Variational inference (``vi``, `pdaframe.methods.vi`): exact on linear-Gaussian problems,
its gradients by Taylor tests, deterministic, samples.nc, and its named errors."""
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.io.ensembles import write_outputs
from pdaframe.methods import vi as vimod
from pdaframe.methods.vi import (LogTargetGradient, VIDivergenceError, _Fit, base_draws,
                                 with_members)
from pdaframe.testing import taylor_test

from ..models import TRUTH, Decay, NoDerivatives, decay_problem

DATA = Path(__file__).parents[1] / "data"
H10 = np.random.default_rng(5).standard_normal((15, 10))


def lg_problem(d=10):
    """A linear model ``H`` (15 x d) with a correlated Gaussian prior and correlated errors."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((d, d))
    B = a @ a.T / d + np.eye(d)
    e = rng.standard_normal((15, 15))
    R = 0.1 * (e @ e.T / 15 + np.eye(15))
    prior = pdaframe.GaussianPrior(rng.standard_normal(d), covariance=B)
    y = H10[:, :d] @ rng.standard_normal(d) + rng.standard_normal(15)
    stream = pdaframe.DataStream("y", "y", y, covariance=R)
    return pdaframe.Problem(pdaframe.LinearModel(H10[:, :d]), prior, [stream]), (B, R, y)


def closed_form(problem, B, R, y):
    H = H10[:, :len(B)]
    A = np.linalg.inv(np.linalg.inv(B) + H.T @ np.linalg.solve(R, H))
    mu = A @ (np.linalg.solve(B, problem.prior.mean) + H.T @ np.linalg.solve(R, y))
    return mu, A


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_base_draws_are_centred_and_whitened_exactly():
    z = base_draws(12, 5, seed=3)
    assert z.shape == (12, 5)
    assert np.max(np.abs(z.mean(axis=0))) < 1e-15
    assert np.max(np.abs(z.T @ z / 12 - np.eye(5))) < 1e-14
    assert np.array_equal(z, base_draws(12, 5, seed=3))
    assert not np.array_equal(z, base_draws(12, 5, seed=4))


@pytest.mark.parametrize("d", [2, 10])
@pytest.mark.parametrize("start", ["prior", "laplace"])
def test_vi_is_exact_on_a_linear_gaussian_problem(d, start):
    """From the prior, the fit has to find the posterior; from the Laplace start (exact
    here) it has to stay there."""
    problem, (B, R, y) = lg_problem(d)
    mu, A = closed_form(problem, B, R, y)
    res = pdaframe.minimise(problem, "vi", seed=1, start=start)
    assert res.success and res.status == 0, res.message
    assert rel(res.q_mean, mu) <= 1e-6
    assert rel(res.q_covariance, A) <= 1e-6
    # at the optimum the ELBO is the log evidence: log p(u) is the density of u whose
    # theta has density exp(-J), so ELBO = log integral exp(-J) dtheta
    logz = -problem.cost(mu) + 0.5 * np.linalg.slogdet(2 * np.pi * A)[1]
    assert res.elbo == pytest.approx(logz, abs=1e-8)
    # draws: sampler layout, mean and covariance within Monte-Carlo error
    assert res.samples.shape == (4, 250, d) and res.kind == "sample"
    se = np.sqrt(np.diag(A) / 1000)
    assert np.all(np.abs(res.x - mu) < 5 * se)
    assert np.all(np.abs(res.rhat - 1) < 0.05) and res.ess_bulk.min() > 500
    assert np.all(np.diff(res.history["elbo"]) >= -1e-12)        # L-BFGS-B: never worse
    assert res.nfev == res.n_draws * (res.njev // res.n_draws) + 1000 + 1 + res.nfev_start
    assert (res.nfev_start > 0) == (start == "laplace")


def test_the_exactness_check_fails_without_whitened_draws(monkeypatch):
    """The 1e-6 check is not vacuous: raw normal draws (mean and covariance only near 0
    and I) give an SAA optimum off by far more."""
    problem, (B, R, y) = lg_problem(10)
    mu, A = closed_form(problem, B, R, y)
    monkeypatch.setattr(vimod, "base_draws", lambda K, d, seed: np.random.default_rng(
        seed).standard_normal((K, d)))
    res = pdaframe.minimise(problem, "vi", seed=1, start="prior")
    assert rel(res.q_mean, mu) > 1e-3 and rel(res.q_covariance, A) > 1e-2


def test_log_target_gradient_passes_the_taylor_test_with_bound_transforms():
    """-J + log|dtheta/du| and its gradient (adjoint pulled back, log-Jacobian gradient of
    logit and log transforms) converge at second order."""
    for problem in (decay_problem(bounds=True), decay_problem(uniform=True)):
        target = LogTargetGradient(problem, None)
        rng = np.random.default_rng(0)
        u, h = 0.3 * rng.standard_normal(3), rng.standard_normal(3)
        report = taylor_test(lambda x: target(x)["logp"], lambda x, v: target(x)["grad"] @ v,
                             u, h)
        assert report.passed, report
        broken = taylor_test(lambda x: target(x)["logp"],
                             lambda x, v: (target(x)["grad"] * [1, 1, 0.99]) @ v, u, h)
        assert not broken.passed


def test_elbo_gradient_passes_the_taylor_test():
    problem = decay_problem(bounds=True)
    fit = _Fit(problem, base_draws(8, 3, 0), LogTargetGradient(problem, None),
               with_members(None))
    rng = np.random.default_rng(1)
    p = fit.pack(0.2 * rng.standard_normal(3), np.tril(0.1 * rng.standard_normal((3, 3)))
                 + 0.5 * np.eye(3))
    h = rng.standard_normal(p.size)
    report = taylor_test(lambda x: fit.elbo(x)[0], lambda x, v: fit.elbo(x)[1] @ v, p, h)
    assert report.passed, report


def test_vi_on_a_nonlinear_bounded_problem_matches_the_sampler():
    problem = decay_problem(bounds=True)
    res = pdaframe.minimise(problem, "vi", seed=2, n_draws=40)
    assert res.success, res.message
    mc = pdaframe.minimise(problem, "dream-zs", seed=2, n_samples=3000, burn_in=1000)
    sd = mc.posterior_std
    assert np.all(np.abs(res.x - mc.x) < 0.2 * sd), (res.x, mc.x, sd)
    assert np.all(np.abs(res.posterior_std / sd - 1) < 0.15), (res.posterior_std, sd)


def test_vi_is_deterministic_and_seeded():
    problem, _ = lg_problem(3)
    a = pdaframe.minimise(problem, "vi", seed=4, n_samples=40)
    b = pdaframe.minimise(problem, "vi", seed=4, n_samples=40)
    c = pdaframe.minimise(problem, "vi", seed=5, n_samples=40)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.q_covariance_u,
                                                                   b.q_covariance_u)
    assert not np.array_equal(a.samples, c.samples)


def test_samples_nc_holds_the_draws(tmp_path):
    import arviz as az
    problem, _ = lg_problem(2)
    res = pdaframe.minimise(problem, "vi", seed=1, n_samples=100, n_chains=2)
    paths = write_outputs(tmp_path, res, problem, seed=1)
    idata = az.from_netcdf(paths["samples"])
    assert idata.posterior["theta"].shape == (2, 50, 2)
    assert np.array_equal(idata.posterior["theta"].values, res.samples)
    assert np.array_equal(idata.sample_stats["lp"].values, res.log_prob)
    assert idata.posterior.attrs["method"] == "vi"


def test_a_model_without_derivatives_is_refused_before_any_run():
    problem = decay_problem(NoDerivatives())
    with pytest.raises(pdaframe.ConfigError, match='neither an adjoint nor a tangent.*"fd"'):
        pdaframe.minimise(problem, "vi")
    assert problem.nrun == 0
    with pytest.raises(pdaframe.ConfigError, match="no adjoint"):
        pdaframe.minimise(problem, "vi", gradient="adjoint")
    # finite differences only when asked for
    res = pdaframe.minimise(problem, "vi", gradient="fd", n_samples=16, maxiter=3)
    assert res.gradient == "fd" and np.isfinite(res.elbo)


def test_too_few_draws_or_samples_is_a_config_error():
    with pytest.raises(pdaframe.ConfigError, match="n_draws = 3: at least 4"):
        pdaframe.minimise(decay_problem(), "vi", n_draws=3)
    with pytest.raises(pdaframe.ConfigError, match="n_samples = 10: at least 12"):
        pdaframe.minimise(decay_problem(), "vi", n_samples=10, n_chains=3)


class WrongAdjoint(Decay):
    """Decay with the adjoint's sign flipped: the gradient points uphill."""

    def adjoint(self, theta, d_outputs):
        return -super().adjoint(theta, d_outputs)


class NaNModel(Decay):
    """Decay giving NaN everywhere but at the truth (which makes the observations)."""

    def run(self, theta):
        out = super().run(theta)
        return out if np.array_equal(theta, TRUTH) else {"y": out["y"] * np.nan, "z": out["z"]}


def test_a_diverging_fit_is_a_named_error_with_the_last_elbo_values():
    with pytest.raises(VIDivergenceError, match=r"did not increase.*last ELBO values \[") as e:
        pdaframe.minimise(decay_problem(WrongAdjoint()), "vi", seed=0, start="prior")
    assert e.value.elbo.size >= 1 and np.all(e.value.elbo <= e.value.elbo[0])
    with pytest.raises(VIDivergenceError, match="not finite.*draw 0") as e:
        pdaframe.minimise(decay_problem(NaNModel()), "vi", seed=0, start="prior")
    assert isinstance(e.value, pdaframe.ModelError)
    # from the Laplace start, the minimiser meets the failing model first
    with pytest.raises(pdaframe.ModelError, match="fails at the start point"):
        pdaframe.minimise(decay_problem(NaNModel()), "vi", seed=0)


def vi_config(folder, options="{ n_samples = 40 }"):
    """tests/data/lg2.toml (the LG2 problem) with method ``vi``, written into ``folder``."""
    for name in ("lg2.toml", "lg2_obs.csv"):
        text = (DATA / name).read_text()
        if name == "lg2.toml":
            text = text.replace('name = "lbfgsb"', f'name = "vi"\noptions = {options}')
        (folder / name).write_text(text)
    return folder / "lg2.toml"


def test_pdaframe_run_writes_samples_nc_and_nothing_when_the_fit_diverges(tmp_path):
    from pdaframe.run import run_problem
    problem, settings = pdaframe.load_config(vi_config(tmp_path, '{ n_samples = 40, start = '
                                                                 '"prior" }'))
    result, paths = run_problem(problem, settings, tmp_path / "ok", progress=False)
    assert paths["samples"].name == "samples.nc" and paths["netcdf"].exists()
    assert result.success and result.method == "vi"
    with pytest.raises(VIDivergenceError):
        run_problem(decay_problem(NaNModel()), settings, tmp_path / "bad", progress=False)
    assert not any(p.suffix in (".nc", ".png", ".html") for p in (tmp_path / "bad").rglob("*"))


def test_a_callback_sees_each_iteration_and_can_stop_the_fit():
    problem, _ = lg_problem(3)
    seen = []

    def callback(state):
        seen.append(state.fun)
        if state.nit == 3:
            raise StopIteration

    res = pdaframe.minimise(problem, "vi", seed=1, n_samples=40, callback=callback,
                            start="prior")
    assert res.status == 3 and not res.success and "stopped by the callback" in res.message
    assert len(seen) == 3 and res.history["elbo"].size == 4
    assert np.allclose(-res.history["elbo"][1:], seen)
