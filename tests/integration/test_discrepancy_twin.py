"""Twin with a known structural error: the Kennedy-O'Hagan discrepancy absorbs it.

The model ``y_t = p0 + p1 x_t`` (``x`` a known driver: a seasonal cycle plus day-to-day
weather) lacks a smooth seasonal term that the truth has:

    y_t = p0 + p1 x_t + delta_t + eps_t,
    delta_t = sin(2 pi t / 365 + 0.8) + 0.3 sin(2 pi t / 40),   eps ~ N(0, 0.3^2)

over 365 daily observations. Fitted without a discrepancy, the slope takes up the part of
``delta`` that follows the driver's seasonal cycle; with ``likelihood = "discrepancy"`` (an
OU process in time, amplitude and length estimated) the parameters are fitted to what the
smooth discrepancy cannot explain (the weather), and the bias shrinks.
"""
import numpy as np
import pytest

import pdaframe
from pdaframe.observations.discrepancy import DiscrepancyLikelihood
from pdaframe.prediction.discrepancy import decompose

N, SIGMA = 365, 0.3
TRUTH = np.array([1.0, 2.0])
PRIOR_MEAN, PRIOR_STD = np.array([0.0, 1.5]), np.array([2.0, 1.0])


class Driven:
    """``y = p0 + p1 x`` with tangent and adjoint."""

    parameter_names = ("p0", "p1")

    def __init__(self, x):
        self.x = np.asarray(x, dtype=float)

    def run(self, theta):
        return {"y": theta[0] + theta[1] * self.x}

    def tangent(self, theta, dtheta):
        return {"y": dtheta[0] + dtheta[1] * self.x}

    def adjoint(self, theta, d_outputs):
        d = d_outputs["y"]
        return np.array([d.sum(), d @ self.x])


def twin(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(N, dtype=float)
    x = np.sin(2 * np.pi * t / 365) + 0.5 * rng.standard_normal(N)
    delta = np.sin(2 * np.pi * t / 365 + 0.8) + 0.3 * np.sin(2 * np.pi * t / 40)
    y = TRUTH[0] + TRUTH[1] * x + delta + SIGMA * rng.standard_normal(N)
    return Driven(x), t, y, delta


def problem_for(model, t, y, discrepancy):
    stream = pdaframe.DataStream("y", "y", y, times=t, std=SIGMA)
    mean, std = list(PRIOR_MEAN), list(PRIOR_STD)
    lower, upper = [-np.inf, -np.inf], [np.inf, np.inf]
    if discrepancy:
        stream.likelihood = DiscrepancyLikelihood()
        for p in stream.likelihood.bind(stream).parameters:    # the documented defaults
            mean.append(p.default)
            std.append(p.std)
            lower.append(p.lower)
            upper.append(p.upper)
    prior = pdaframe.GaussianPrior(mean, std=std, lower=lower, upper=upper)
    return pdaframe.Problem(model, prior, [stream])


@pytest.fixture(scope="module")
def fits():
    model, t, y, delta = twin()
    out = {}
    for label, disc in (("without", False), ("with", True)):
        problem = problem_for(model, t, y, disc)
        res = pdaframe.minimise(problem, "lbfgsb")
        cov = problem.posterior_covariance(res["x"])
        out[label] = (problem, np.asarray(res["x"]), np.sqrt(np.diag(cov)))
    return out, delta


def test_parameter_bias_shrinks_with_the_discrepancy(fits):
    out, delta = fits
    bias = {k: np.abs(x[:2] - TRUTH) / PRIOR_STD for k, (_, x, _) in out.items()}
    z = {k: np.abs(x[:2] - TRUTH) / sd[:2] for k, (_, x, sd) in out.items()}
    a, ell = np.exp(out["with"][1][2:])
    rms = float(np.sqrt(np.mean(delta ** 2)))
    print(f"\n{'fit':>8} {'p0':>8} {'p1':>8} {'|bias| p0,p1 (prior sd)':>24} "
          f"{'|bias| / posterior sd':>22}")
    for k, (_, x, _) in out.items():
        print(f"{k:>8} {x[0]:8.3f} {x[1]:8.3f} {bias[k][0]:11.3f} {bias[k][1]:11.3f} "
              f"{z[k][0]:10.2f} {z[k][1]:10.2f}")
    print(f"truth    {TRUTH[0]:8.3f} {TRUTH[1]:8.3f}; estimated amplitude {a:.3f} (RMS of the "
          f"injected error {rms:.3f}), length {ell:.1f} days")
    norm = {k: float(np.linalg.norm(b)) for k, b in bias.items()}
    assert norm["without"] > 0.3                   # the structural error matters ...
    assert norm["with"] < 0.4 * norm["without"]    # ... and the discrepancy absorbs it
    # without it the Laplace posterior is overconfident (truth many sd away); with it the
    # truth is within 2 posterior sd
    assert z["without"].max() > 5.0
    assert z["with"].max() < 2.0
    # amplitude of the size of the injected error: one year holds only span / l ~ 5
    # independent stretches of a smooth error, so its size is known to ~ +-50 %
    assert 0.5 * rms < a < 2.0 * rms


def test_discrepancy_posterior_recovers_the_injected_error(fits):
    """Process + discrepancy recovers the true signal ``p0 + p1 x + delta``; the parts are
    confounded in their mean (``p0`` against the mean of ``delta``), so the check is on their
    sum, with the Laplace posterior's draws of theta for the parameter uncertainty."""
    out, delta = fits
    problem, x, _ = out["with"]
    model = problem.model
    signal = model.run(TRUTH)["y"] + delta
    at_x = decompose(problem, x)["y"]
    assert np.allclose(at_x["observation_std"], SIGMA)
    assert np.all(at_x["model_std"] == 0.0)          # at the estimate only
    assert np.allclose(at_x["predictive_std"] ** 2, at_x["discrepancy_std"] ** 2 + SIGMA ** 2)
    cov = problem.posterior_covariance(x)
    draws = x + np.random.default_rng(1).standard_normal((100, x.size)) @ \
        np.linalg.cholesky(cov).T
    parts = decompose(problem, x, draws=draws)["y"]
    err = parts["model"] + parts["discrepancy"] - signal
    sd = parts["signal_std"]
    rmse = float(np.sqrt(np.mean(err ** 2)))
    cover = float(np.mean(np.abs(err) < 2 * sd))
    d_rmse = float(np.sqrt(np.mean((at_x["discrepancy"] - delta) ** 2)))
    print(f"\nprocess + discrepancy against the true signal: RMSE {rmse:.3f} (injected error "
          f"RMS {np.sqrt(np.mean(delta ** 2)):.3f}, obs error {SIGMA}); {100 * cover:.0f} % "
          f"within 2 posterior sd (mean sd: signal {np.mean(sd):.3f}, model "
          f"{np.mean(parts['model_std']):.3f}, discrepancy "
          f"{np.mean(parts['discrepancy_std']):.3f}); discrepancy alone at the estimate: "
          f"RMSE {d_rmse:.3f}")
    assert rmse < 0.25 * np.sqrt(np.mean(delta ** 2))
    assert cover > 0.9
    # the parts trade off: the signal is known better than model and discrepancy apart
    assert np.mean(sd) < 0.5 * np.mean(np.hypot(parts["model_std"], parts["discrepancy_std"]))
    assert d_rmse < 0.35 * np.sqrt(np.mean(delta ** 2))
    # law of total variance: the draws add the model's spread and the spread of the mean
    assert np.all(parts["model_std"] > 0)
    assert np.mean(parts["discrepancy_std"]) > np.mean(at_x["discrepancy_std"])
    assert decompose(out["without"][0], out["without"][1]) == {}


def test_taylor_full_cost_in_theta_and_hyperparameters(fits):
    """The problem's cost (model adjoint + discrepancy with log-det terms): second order."""
    out, _ = fits
    problem, x, _ = out["with"]
    rng = np.random.default_rng(2)
    d = rng.standard_normal(x.size) * np.array([0.1, 0.1, 0.3, 0.3])
    j0, slope = problem.cost(x), float(problem.gradient(x, mode="adjoint") @ d)
    rem = np.array([abs(problem.cost(x + e * d) - j0 - e * slope)
                    for e in 0.1 / 2.0 ** np.arange(5)])
    ratios = rem[:-1] / rem[1:]
    assert np.all(np.abs(ratios - 4.0) < 0.2), ratios
    assert np.allclose(problem.gradient(x, mode="tangent"), problem.gradient(x, mode="adjoint"),
                       rtol=1e-10, atol=1e-8)


def test_problem_log_likelihood_and_synthetic(fits):
    """``Problem.log_likelihood`` (for WAIC/LOO/evidence) is ``log N(y - h; 0, R + K)``, its
    pointwise terms the chain rule in time; a twin draws delta + eps from the OU process."""
    from scipy.stats import multivariate_normal
    out, _ = fits
    problem, x, _ = out["with"]
    s = problem.streams[0]
    a, ell = np.exp(x[2:])
    t = s.times.astype(float)
    cov = SIGMA ** 2 * np.eye(N) + a * a * np.exp(-np.abs(t[:, None] - t[None, :]) / ell)
    r = s.residual(problem.equivalents(x)["y"])
    ref = multivariate_normal(np.zeros(N), cov).logpdf(r)
    assert problem.log_likelihood(x) == pytest.approx(ref, abs=1e-8)
    assert problem.log_likelihood(x, pointwise=True).shape == (N,)
    twin_problem = problem.synthetic(x, seed=4)
    noise = twin_problem.streams[0].values - problem.equivalents(x)["y"]
    # OU noise with l ~ 85 days: neighbouring days correlated (white noise would give ~0)
    lag1 = np.corrcoef(noise[:-1], noise[1:])[0, 1]
    assert lag1 > 0.5, lag1


def test_sampler_takes_the_discrepancy():
    """Adaptive Metropolis on the twin with the discrepancy: the slope's posterior holds the
    truth (within 2.5 sd), the amplitude's is of the injected error's size."""
    model, t, y, delta = twin()
    problem = problem_for(model, t, y, True)
    res = pdaframe.minimise(problem, "adaptive-metropolis", seed=1, n_samples=1500, n_chains=2)
    s = np.asarray(res["samples"]).reshape(-1, 4)
    s = s[len(s) // 2:]
    mean, sd = s.mean(0), s.std(0)
    print(f"\nadaptive Metropolis: p1 {mean[1]:.3f} +- {sd[1]:.3f} (truth 2), amplitude "
          f"{np.exp(mean[2]):.3f}, length {np.exp(mean[3]):.0f}")
    assert abs(mean[1] - TRUTH[1]) < 2.5 * sd[1]
    assert 0.5 * np.sqrt(np.mean(delta ** 2)) < np.exp(mean[2]) < 2.0 * np.sqrt(np.mean(delta ** 2))


def test_result_file_keeps_the_parts_apart(fits, tmp_path):
    import xarray as xr
    from pdaframe.io.netcdf import write_result
    out, _ = fits
    problem, x, _ = out["with"]
    parts = decompose(problem, x)
    result = {"x": x, "parameter_names": problem.parameter_names, "discrepancy": parts}
    path = write_result(tmp_path / "result.nc", result, problem,
                        {"posterior": problem.equivalents(x)})
    with xr.open_dataset(path) as ds:
        assert np.allclose(ds["y_discrepancy"].values, parts["y"]["discrepancy"])
        assert np.allclose(ds["y_discrepancy_std"].values, parts["y"]["discrepancy_std"])
        assert np.allclose(ds["y_predictive_std"].values, parts["y"]["predictive_std"])
        assert "discrepancy" in ds["y_discrepancy"].attrs["long_name"]
        total = ds["y_posterior"] + ds["y_discrepancy"]
        # observed = model + discrepancy + observation error: the rest is noise-sized
        assert float(np.std(ds["y_observed"] - total)) < 1.5 * SIGMA


CONFIG = """
[model]
name = "driven"

[parameters]
p0 = { mean = 0.0, std = 2.0 }
p1 = { mean = 1.5, std = 1.0 }

[[streams]]
name = "y"
variable = "y"
file = "obs.csv"
time_column = "step"
value_column = "y"
std = 0.3
likelihood = "discrepancy"
{options}

[method]
name = "lbfgsb"
"""


class DrivenTwin(Driven):
    """`Driven` on the twin's driver (as a registered model takes options only)."""

    def __init__(self, seed=0):
        super().__init__(twin(seed)[0].x)


@pytest.fixture
def driven_plugin():
    pdaframe.plugin.reset_plugins()
    pdaframe.plugins.registry("model").add("driven", DrivenTwin)
    yield
    pdaframe.plugin.reset_plugins()


def write_config(tmp_path, options=""):
    _, t, y, _ = twin()
    rows = "\n".join(f"{int(a)},{float(b)!r}" for a, b in zip(t, y))
    (tmp_path / "obs.csv").write_text("step,y\n" + rows + "\n")
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.replace("{options}", options))
    return path


def test_config_run_writes_the_discrepancy(tmp_path, driven_plugin):
    """``likelihood = "discrepancy"`` in [[streams]]: default priors on log a and log l
    join the prior, ``pdaframe run`` fits them and writes the parts into result.nc."""
    import xarray as xr
    from pdaframe.run import run_problem
    problem, settings = pdaframe.load_config(write_config(tmp_path))
    assert problem.parameter_names == ["p0", "p1", "y:log_amplitude", "y:log_length"]
    assert problem.prior.mean[2:] == pytest.approx([np.log(SIGMA), np.log(364 / 10)])
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    assert np.abs(result.x[:2] - TRUTH)[1] < 0.05          # the slope, unbiased
    with xr.open_dataset(paths["netcdf"]) as ds:
        parts = decompose(problem, result.x)["y"]
        assert np.allclose(ds["y_discrepancy"].values, parts["discrepancy"])


def test_config_fixed_length_and_named_errors(tmp_path, driven_plugin):
    problem, _ = pdaframe.load_config(write_config(
        tmp_path, "likelihood_options = { length = 60.0, priors = { amplitude = { mean = 0.0, "
                  "std = 1.0 } } }"))
    assert problem.parameter_names == ["p0", "p1", "y:log_amplitude"]
    assert (problem.prior.mean[2], np.sqrt(problem.prior.scale[2, 2])) == (0.0, 1.0)
    with pytest.raises(pdaframe.ConfigError, match="unknown likelihood 'discrepency'.*"
                                                   "discrepancy"):
        pdaframe.load_config(_replace(write_config(tmp_path), '"discrepancy"', '"discrepency"'))
    with pytest.raises(pdaframe.DataError, match=r"\[streams.0\] \[y\].*discrepancy.*needs a "
                                                 r"diagonal observation error"):
        pdaframe.load_config(write_config(tmp_path, "correlation_length = 5.0"))
    with pytest.raises(pdaframe.ConfigError, match="cannot estimate.*'sigma'"):
        pdaframe.load_config(write_config(tmp_path, 'likelihood_options = { estimate = '
                                                    '["sigma"] }'))


def _replace(path, old, new):
    path.write_text(path.read_text().replace(old, new))
    return path
