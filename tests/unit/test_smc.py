"""Tempered SMC (``method="smc"``): evidence and posterior of linear-Gaussian problems
against the closed form, a Bayes factor, a bimodal posterior, determinism, checkpoint
resume, samples.nc and bad input."""
import logging

import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.errors import ConfigError, ModelError
from pdaframe.io.checkpoint import Checkpoint
from pdaframe.methods.smc import (SMCState, lee_whiteley_se, min_particles,
                                  next_temperature, smc)
from pdaframe.parallel import SerialExecutor
from tests.conftest import random_linear_gaussian


def exact_log_evidence(problem):
    """``log N(y; H x_b, H B H^T + R)`` of a `random_linear_gaussian` problem."""
    H, B = problem.model.matrix, problem.prior.covariance
    s = problem.streams[0]
    return stats.multivariate_normal(H @ problem.prior.mean,
                                     H @ B @ H.T + s.error.matrix()).logpdf(s.values)


def lg(seed=3, n=2, m=6):
    return random_linear_gaussian(seed, n=n, m=m)


@pytest.fixture(scope="module")
def lg_run():
    problem, xa, A = lg()
    return problem, xa, A, pdaframe.minimise(problem, "smc", seed=1, n_particles=800)


def test_evidence_matches_the_closed_form_within_three_standard_errors(lg_run):
    problem, _, _, res = lg_run
    exact = exact_log_evidence(problem)
    assert res.success and res.beta[-1] == 1.0 and np.all(np.diff(res.beta) > 0)
    assert 0 < res.log_evidence_se < 0.12          # ~ sqrt(stages / N)
    assert abs(res.log_evidence - exact) < 3 * res.log_evidence_se
    # the evidence is the sum of the stages' increments
    assert res.log_evidence == pytest.approx(res.stage_stats["log_z_increment"].sum(),
                                             abs=1e-12)
    # each intermediate stage kept half the particles effective (the last may keep more)
    ess = res.stage_stats["ess"] / res.n_particles
    np.testing.assert_allclose(ess[:-1], 0.5, atol=1e-6)
    assert ess[-1] >= 0.5 - 1e-6


def test_posterior_mean_and_covariance_match_the_closed_form(lg_run):
    _, xa, A, res = lg_run
    sd = np.sqrt(np.diag(A))
    # MC error of the mean of ~N/3 effective particles: sd / 16; tolerance ~3 of those
    assert np.all(np.abs(res.x - xa) < 0.2 * sd), (res.x - xa) / sd
    assert np.all(np.abs(res.posterior_std / sd - 1) < 0.12), res.posterior_std / sd
    corr = res.posterior_covariance[0, 1] / np.prod(res.posterior_std)
    assert corr == pytest.approx(A[0, 1] / np.prod(sd), abs=0.08)
    assert res.samples.shape == (1, 800, 2) and res.log_prob.shape == (1, 800)


def test_bayes_factor_picks_the_model_that_made_the_data_and_matches_the_closed_form():
    problem, _, _ = lg(seed=6, n=2, m=8)
    H = problem.model.matrix
    other = pdaframe.Problem(pdaframe.LinearModel(H[:, ::-1] * [1.0, 0.3]),
                             problem.prior, problem.streams)
    exact = exact_log_evidence(problem) - exact_log_evidence(other)
    assert exact > 3.0                       # the data favour the true model (BF ~ 30)
    r1 = pdaframe.minimise(problem, "smc", seed=2, n_particles=400)
    r2 = pdaframe.minimise(other, "smc", seed=2, n_particles=400)
    log_bf = r1.log_evidence - r2.log_evidence
    se = np.hypot(r1.log_evidence_se, r2.log_evidence_se)
    assert log_bf > 0
    assert abs(log_bf - exact) < 3 * se, (log_bf, exact, se)


@pytest.mark.slow
def test_the_lee_whiteley_standard_error_is_calibrated_over_seeds():
    """z = (log Ẑ - log Z) / SE over 12 independent runs: mean ~0 and spread ~1 (20 seeds
    of 300 particles gave mean 0.07, sd 1.15); a SE ignored by half would double the sd."""
    problem, _, _ = lg()
    exact = exact_log_evidence(problem)
    z = []
    for seed in range(12):
        r = pdaframe.minimise(problem, "smc", seed=100 + seed, n_particles=200)
        z.append((r.log_evidence - exact) / r.log_evidence_se)
    z = np.array(z)
    assert abs(z.mean()) < 1.0 and 0.5 < z.std(ddof=1) < 1.8, z


class Square:
    """``y = theta^2``: two modes ``±sqrt(y)`` for one observation."""

    parameter_names = ("theta",)
    output_names = ("y",)

    def run(self, theta):
        return {"y": np.array([theta[0] ** 2])}


def test_bimodal_posterior_finds_both_modes_with_the_right_weights():
    prior = pdaframe.GaussianPrior([0.5], std=[1.0], names=["theta"])
    problem = pdaframe.Problem(Square(), prior,
                               [pdaframe.DataStream("y", "y", [4.0], std=0.5)])
    grid = np.linspace(-6, 6, 200001)
    dens = stats.norm(0.5, 1).pdf(grid) * stats.norm(grid ** 2, 0.5).pdf(4.0)
    p_plus = dens[grid > 0].sum() / dens.sum()               # mass of the mode at +2
    log_z = np.log(dens.sum() * (grid[1] - grid[0]))
    res = pdaframe.minimise(problem, "smc", seed=0, n_particles=1000)
    theta = res.samples[0, :, 0]
    assert np.all(np.abs(np.abs(theta) - 2.0) < 0.6)         # every particle on a mode
    frac = np.mean(theta > 0)
    # tolerance 0.06: 4 binomial sds of ~N/4 effective particles
    assert abs(frac - p_plus) < 0.06, (frac, p_plus)
    assert 0.6 < p_plus < 0.95                               # the weights differ
    assert abs(res.log_evidence - log_z) < 3 * res.log_evidence_se


def test_building_blocks():
    ell = np.array([0.0, -10.0, -40.0, -np.inf])
    beta, ess = next_temperature(ell, 0.0, 0.5)
    w = np.exp(beta * ell[:3])
    assert 0 < beta < 1 and ess == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert ess == pytest.approx(1.5, rel=1e-9)       # half of the 3 finite particles
    assert next_temperature(np.zeros(5), 0.3, 0.5) == (1.0, pytest.approx(5.0))
    assert lee_whiteley_se(np.arange(10), 0) == 0.0          # one stage-0 draw: exact
    # all particles from one Eve: relative variance 1 (the estimator's upper end)
    assert lee_whiteley_se(np.zeros(10, dtype=int), 3) == pytest.approx(1.0)
    assert min_particles(3) == 8


def test_same_seed_same_bits_with_any_executor_and_different_seeds_differ():
    problem, _, _ = lg(n=2, m=4)

    class Reversed:
        """Evaluates the members last to first (as another rank split would)."""

        def map(self, func, items):
            items = list(items)
            out = SerialExecutor().map(func, items[::-1])
            return out[::-1]

    opts = dict(n_particles=60, n_moves=3)
    a = pdaframe.minimise(problem, "smc", seed=7, **opts)
    b = pdaframe.minimise(problem, "smc", seed=7, executor=Reversed(), **opts)
    c = pdaframe.minimise(problem, "smc", seed=8, **opts)
    assert np.array_equal(a.samples, b.samples) and a.log_evidence == b.log_evidence
    assert np.array_equal(a.beta, b.beta) and a.nfev == b.nfev
    assert not np.array_equal(a.samples, c.samples)
    assert a.nfev == 60 * (1 + 3 * a.n_stages) + 1           # prior, moves, the mean


def test_resume_from_a_checkpoint_is_bit_identical(tmp_path):
    problem, _, _ = lg(n=2, m=4)
    opts = dict(n_particles=50, seed=4)
    full = pdaframe.minimise(problem, "smc", **opts)

    class Interrupting:
        def __init__(self, after):
            self.calls, self.after = 0, after

        def map(self, func, items):
            self.calls += 1
            if self.calls > self.after:
                raise KeyboardInterrupt
            return SerialExecutor().map(func, items)

    cp = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        pdaframe.minimise(problem, "smc", executor=Interrupting(7),
                          checkpoint=Checkpoint(cp), **opts)
    assert cp.exists()
    resumed = pdaframe.minimise(problem, "smc", checkpoint=Checkpoint(cp, resume=True),
                                **opts)
    assert np.array_equal(full.samples, resumed.samples)
    assert full.log_evidence == resumed.log_evidence
    assert full.log_evidence_se == resumed.log_evidence_se
    assert np.array_equal(full.stage_stats["acceptance"], resumed.stage_stats["acceptance"])


def test_samples_nc_holds_particles_evidence_and_stages(tmp_path, lg_run):
    import arviz as az
    from pdaframe.io.netcdf import write_result
    from pdaframe.io.samples import write_samples
    problem, _, _, res = lg_run
    idata = az.from_netcdf(str(write_samples(tmp_path / "samples.nc", res, problem)))
    post = idata.posterior
    assert post.theta.shape == (1, 800, 2)
    assert post.attrs["log_evidence"] == res.log_evidence
    assert post.attrs["log_evidence_se"] == res.log_evidence_se
    assert post.attrs["log_evidence_se_method"] == "lee-whiteley"
    st = idata.sample_stats
    np.testing.assert_array_equal(st.stage_beta.values, res.beta)
    assert st.stage_ess.dims == ("stage",) and st.lp.shape == (1, 800)
    import netCDF4
    with netCDF4.Dataset(write_result(tmp_path / "result.nc", res, problem)) as ds:
        assert ds.log_evidence == res.log_evidence
        assert ds.log_evidence_se == res.log_evidence_se
        assert "log Z" in ds.message


def test_systematic_resampling_reports_no_standard_error():
    problem, _, _ = lg(n=2, m=4)
    res = pdaframe.minimise(problem, "smc", seed=0, n_particles=60, n_moves=2,
                            resampling="systematic")
    assert np.isfinite(res.log_evidence) and np.isnan(res.log_evidence_se)
    assert "no SE" in res.message


# --- bad input ---------------------------------------------------------------------------
def test_too_few_particles_are_refused_and_few_warn(caplog):
    problem, _, _ = lg(n=3, m=5)
    with pytest.raises(ConfigError, match=r"n_particles = 7: at least 8 needed"):
        SMCState(problem, n_particles=7)
    with caplog.at_level(logging.WARNING, logger="pdaframe.methods.smc"):
        SMCState(problem, n_particles=8)
    assert "at least 100 are recommended" in caplog.text


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.2])
def test_ess_target_outside_zero_one_is_refused(value):
    problem, _, _ = lg()
    with pytest.raises(ConfigError, match="ess_target must be a fraction in"):
        pdaframe.minimise(problem, "smc", n_particles=20, ess_target=value)


def test_other_bad_options_and_a_start_are_refused():
    problem, _, _ = lg()
    with pytest.raises(ConfigError, match="resampling 'stratified' unknown"):
        pdaframe.minimise(problem, "smc", resampling="stratified")
    with pytest.raises(ConfigError, match="does not use x0"):
        pdaframe.minimise(problem, "smc", x0=[0.0, 0.0])


def test_a_problem_without_log_likelihood_is_refused():
    class NoLikelihood:
        n_param = 2
        space = None

    with pytest.raises(ConfigError, match="NoLikelihood has no log_likelihood"):
        SMCState(NoLikelihood(), n_particles=20)


def test_multisite_problem_is_refused_clearly():
    from pdaframe.problem.multisite import MultiSiteProblem
    assert not hasattr(MultiSiteProblem, "log_likelihood")
    with pytest.raises(ConfigError, match="MultiSiteProblem has no log_likelihood"):
        SMCState(object.__new__(MultiSiteProblem), n_particles=20)


class Broken:
    parameter_names = ("a",)
    output_names = ("y",)

    def run(self, theta):
        raise ModelError("the model does not run here")


def test_no_particle_inside_the_support_is_a_named_error():
    problem = pdaframe.Problem(Broken(), pdaframe.GaussianPrior([0.0], std=[1.0],
                                                                names=["a"]),
                               [pdaframe.DataStream("y", "y", [1.0], std=1.0)])
    with pytest.raises(ModelError, match="no particle inside the support.*first failure: "
                                         "member 0: ModelError: the model does not run"):
        smc(problem, n_particles=10)


def test_bounded_prior_through_its_transform_gives_the_truncated_evidence():
    """A prior truncated to theta > 0 (log transform: the Jacobian enters the moves): the
    evidence and posterior mean of a grid."""
    model = pdaframe.LinearModel([[2.0], [1.0]], names=["a"])
    prior = pdaframe.GaussianPrior([0.5], std=[1.0], lower=0.0, names=["a"])
    y = np.array([0.6, 0.1])
    problem = pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", y, std=0.5)])
    grid = np.linspace(1e-9, 8, 400001)
    dens = stats.norm(0.5, 1).pdf(grid) / stats.norm(0.5, 1).sf(0.0) * \
        stats.norm(0, 0.5).pdf(y[0] - 2 * grid) * stats.norm(0, 0.5).pdf(y[1] - grid)
    h = grid[1] - grid[0]
    log_z, mean = np.log(dens.sum() * h), (grid * dens).sum() / dens.sum()
    res = pdaframe.minimise(problem, "smc", seed=3, n_particles=600)
    assert np.all(res.samples > 0)
    assert abs(res.log_evidence - log_z) < 3 * res.log_evidence_se
    sd = np.sqrt((grid ** 2 * dens).sum() / dens.sum() - mean ** 2)
    assert abs(res.x[0] - mean) < 0.15 * sd and res.posterior_std[0] == pytest.approx(
        sd, rel=0.12)


class FailsAbove:
    """``y = a``, but the run fails (`ModelError`) for ``a > 1``."""

    parameter_names = ("a",)
    output_names = ("y",)

    def run(self, theta):
        if theta[0] > 1.0:
            raise ModelError("no run above 1")
        return {"y": np.array([theta[0]])}


def test_failed_runs_have_zero_likelihood_and_are_counted():
    problem = pdaframe.Problem(FailsAbove(), pdaframe.GaussianPrior([0.0], std=[1.0],
                                                                    names=["a"]),
                               [pdaframe.DataStream("y", "y", [0.8], std=0.3)])
    res = pdaframe.minimise(problem, "smc", seed=0, n_particles=200, n_moves=3)
    assert res.success and np.all(res.samples <= 1.0)
    assert res.n_failed > 0 and "no run above 1" in res.first_failure
    # the evidence of the likelihood truncated to a <= 1 (a grid)
    grid = np.linspace(-6, 1, 70001)
    dens = stats.norm(0, 1).pdf(grid) * stats.norm(grid, 0.3).pdf(0.8)
    log_z = np.log(dens.sum() * (grid[1] - grid[0]))
    assert abs(res.log_evidence - log_z) < 3 * res.log_evidence_se
