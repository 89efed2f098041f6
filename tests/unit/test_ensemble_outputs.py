"""What ``pdaframe run`` writes for importance sampling, GLUE, ES-MDA, EnKF, the particle
filter and CES: ``ensemble.nc`` (weighted samples, ensembles) and ``samples.nc`` (CES chain),
with the numbers of the `Result` (`pdaframe.io.ensembles`, `pdaframe.io.samples`)."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pdaframe import load_config
from pdaframe.io.ensembles import write_ensemble
from pdaframe.io.samples import samples_to_inference_data
from pdaframe.result import EnsembleResult, SampleResult
from pdaframe.run import run_problem

TOY = Path(__file__).parents[2] / "examples" / "toy_twin" / "config.toml"


def toy_config(tmp_path, method, options, thin_nee=False):
    """The toy twin with another method (and, for CES, NEE every 30 days: 33 outputs)."""
    text = (TOY.read_text().replace('name = "lbfgsb"', f'name = "{method}"')
            .replace("options = { maxiter = 500 }", f"options = {options}"))
    if thin_nee:
        text = text.replace("stop = 730, step = 1 }", "stop = 730, step = 30 }")
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def run(tmp_path, method, options, **kw):
    problem, settings = load_config(toy_config(tmp_path, method, options, **kw))
    result, paths = run_problem(problem, settings, output_dir=tmp_path / "out", progress=False)
    assert not list((tmp_path / "out").glob(".*.tmp"))          # atomic: no leftovers
    return problem, result, paths


def test_importance_sampling_writes_weighted_sample_not_a_chain(tmp_path):
    _, res, paths = run(tmp_path, "importance", "{ n_members = 48 }")
    assert "samples" not in paths and not (tmp_path / "out" / "samples.nc").exists()
    with xr.open_dataset(paths["ensemble"]) as ds:
        assert ds.attrs["method"] == "importance" and ds.attrs["kind"] == "weighted sample"
        assert "weight" in ds.attrs["weights"] and "not an MCMC chain" in ds.attrs["weights"]
        assert ds.theta.dims == ("member", "param") and ds.theta.shape == (48, 6)
        assert list(ds.param.values) == res["parameter_names"]
        np.testing.assert_array_equal(ds.theta.values, res["samples"])
        np.testing.assert_array_equal(ds.weight.values, res["weights"])
        assert ds.weight.values.sum() == pytest.approx(1.0, abs=1e-12)
        assert float(ds.ess) == res["ess"] and float(ds.ess_fraction) == res["ess_fraction"]
        assert float(ds.ess) == pytest.approx(1.0 / np.sum(ds.weight.values ** 2))
        np.testing.assert_array_equal(ds.log_weight.values, res["log_weights"])
        np.testing.assert_allclose(ds.weighted_mean.values, res["x"], rtol=1e-12)
        np.testing.assert_allclose(ds.weighted_std.values, res["posterior_std"], rtol=1e-12)
        assert ds.attrs["seed"] == 20261126 and ds.attrs["n_failed"] == res["n_failed"]


def test_glue_writes_behavioural_set_likelihood_threshold_and_bounds(tmp_path):
    problem, res, paths = run(tmp_path, "glue",
                              "{ n_members = 48, threshold = 0.0, quantiles = [0.1, 0.5, 0.9] }")
    with xr.open_dataset(paths["ensemble"]) as ds:
        assert ds.attrs["likelihood"] == "nse" and ds.attrs["likelihood_shape"] == 1.0
        assert ds.attrs["threshold"] == 0.0 and np.isnan(ds.attrs["top_fraction"])
        assert ds.attrs["n_behavioural"] == res["n_behavioural"] > 0
        np.testing.assert_array_equal(ds.behavioural.values.astype(bool), res["behavioural"])
        np.testing.assert_array_equal(ds.weight.values, res["weights"])
        assert ds.weight.values.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(ds.weight.values[~res["behavioural"]] == 0)
        assert float(ds.ess) == res["ess"]
        np.testing.assert_array_equal(ds.log_likelihood.values, res["log_likelihood"])
        assert list(ds.stream.values) == ["nee", "c_slow"]
        np.testing.assert_array_equal(ds.nse.values, res["nse"])
        np.testing.assert_array_equal(ds["quantile"].values, [0.1, 0.5, 0.9])
        for s in problem.streams:
            b = ds[f"{s.name}_bounds"]
            assert b.dims == ("quantile", f"{s.name}_obs") and b.shape == (3, s.values.size)
            np.testing.assert_array_equal(b.values, res["prediction_bounds"][s.name])
            np.testing.assert_array_equal(ds[f"{s.name}_time"].values, s.times)
            assert b.attrs["units"] == s.units
            assert np.all(np.diff(b.values, axis=0) >= 0)         # quantiles ordered


@pytest.mark.parametrize("method, options, cycles", [
    ("es-mda", "{ n_members = 16, alphas = 2 }", 2),
    ("enkf", "{ n_members = 16, n_cycles = 3, inflation = 1.05 }", 3),
    ("particle-filter", "{ n_members = 24, n_cycles = 4 }", 4),
])
def test_member_ensembles_prior_posterior_and_cycles(tmp_path, method, options, cycles):
    problem, res, paths = run(tmp_path, method, options)
    n = res["n_members"]
    with xr.open_dataset(paths["ensemble"]) as ds:
        assert ds.attrs["method"] == method and ds.attrs["kind"] == "ensemble"
        assert ds.theta.shape == ds.prior_theta.shape == (n, 6)
        assert ds.prior_theta.dims == ("prior_member", "param")
        np.testing.assert_array_equal(ds.theta.values, res["posterior_ensemble"])
        np.testing.assert_array_equal(ds.prior_theta.values, res["ensemble"])
        np.testing.assert_array_equal(ds.weight.values, res["weights"])
        assert ds.weight.values.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(ds.weighted_std.values, res["posterior_std"], rtol=1e-12)
        assert ds.sizes["cycle"] == cycles == res["nit"]
        np.testing.assert_array_equal(ds.cycle_cost.values, res["history"]["cost"])
        np.testing.assert_array_equal(ds.cycle_spread.values, res["history"]["spread"])
        if method == "particle-filter":
            assert float(ds.ess) == res["ess"] and ds.attrs["n_resampled"] == res["n_resampled"]
            np.testing.assert_array_equal(ds.cycle_ess.values, res["history"]["ess"])
        mean = ds.trajectory_mean
        assert mean.dims == ("cycle", "param") and mean.shape == (cycles, 6)
        np.testing.assert_allclose(mean.values[-1], res["weights"] @ res["posterior_ensemble"],
                                   rtol=1e-12)
        q = ds.trajectory_quantiles
        assert q.dims == ("cycle", "trajectory_quantile", "param")
        assert np.all(np.diff(q.values, axis=1) >= 0)
        last = max(float(s.times[s.mask].max()) for s in problem.streams)
        if method == "es-mda":       # every iteration assimilates all data, up to the last time
            np.testing.assert_array_equal(ds.cycle_time.values, np.full(cycles, last))
        else:                        # batches of later and later observation times
            assert np.all(np.diff(ds.cycle_time.values) > 0)
            assert ds.cycle_time.values[-1] == last


def test_ces_writes_its_emulated_chains_to_samples_nc(tmp_path):
    import arviz as az
    _, res, paths = run(tmp_path, "ces", "{ n_design = 24, n_steps = 300, n_check = 3 }",
                        thin_nee=True)
    assert "ensemble" not in paths
    idata = az.from_netcdf(paths["samples"])
    post = idata.posterior
    flat, chains = res["samples"], res["n_chains"]     # flat draws, step by step
    assert post.theta.shape == (chains, len(flat) // chains, 6)
    np.testing.assert_array_equal(post.theta.values.transpose(1, 0, 2).reshape(-1, 6), flat)
    np.testing.assert_array_equal(
        idata.sample_stats.lp.values.T.reshape(-1), np.ravel(res["log_posterior"]))
    assert post.attrs["emulated"] == 1 and post.attrs["n_design"] == res["n_design"]
    np.testing.assert_array_equal(post.attrs["emulator_check_real_cost"],
                                  res["check"]["real_cost"])
    assert post.attrs["emulator_check_coverage"] == res["check"]["coverage"]
    assert post.attrs["emulator_max_extrapolation"] == res["max_extrapolation"] >= 0.0
    assert post.attrs["emulator_extrapolated_fraction"] == res["extrapolated_fraction"]
    assert az.summary(idata, var_names=["theta"]).shape[0] == 6


def test_trajectory_and_weights_written_from_a_constructed_result(tmp_path):
    rng = np.random.default_rng(1)
    theta = rng.standard_normal((5, 2))
    w = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    tq = np.sort(rng.standard_normal((3, 3, 2)), axis=1)
    res = EnsembleResult(method="particle-filter", parameter_names=["a", "b"], x=w @ theta,
                         posterior_ensemble=theta, ensemble=theta + 1, weights=w,
                         ess=1 / (w @ w), trajectory_quantiles=np.array([0.05, 0.5, 0.95]),
                         history={"cost": np.ones(3), "spread": np.ones(3),
                                  "ess": np.ones(3), "time": np.array([10.0, 20.0, 30.0]),
                                  "theta_mean": tq[:, 1], "theta_quantiles": tq})
    path = write_ensemble(tmp_path / "e" / "ensemble.nc", res, seed=3)
    with xr.open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.trajectory_quantiles.values, tq)
        np.testing.assert_array_equal(ds.trajectory_quantile.values, [0.05, 0.5, 0.95])
        np.testing.assert_array_equal(ds.cycle_time.values, [10, 20, 30])
        np.testing.assert_array_equal(ds.trajectory_mean.values, tq[:, 1])
        assert float(ds.ess) == pytest.approx(1 / 0.3) and ds.attrs["seed"] == 3


def test_weighted_sample_is_refused_as_an_arviz_chain():
    res = EnsembleResult(method="importance", parameter_names=["a"], x=np.zeros(1),
                         samples=np.zeros((4, 1)), weights=np.full(4, 0.25))
    with pytest.raises(ValueError, match="not an MCMC chain"):
        samples_to_inference_data(res)


def test_4denvar_posterior_ensemble_goes_to_ensemble_nc(tmp_path):
    _, res, paths = run(tmp_path, "4denvar", "{ n_members = 13, outer_loops = 1 }")
    with xr.open_dataset(paths["ensemble"]) as ds:
        np.testing.assert_array_equal(ds.theta.values, res["posterior_ensemble"])
        np.testing.assert_array_equal(ds.prior_theta.values, res["ensemble"])
        assert ds.weight.values.sum() == pytest.approx(1.0) and "cycle" not in ds.dims


def test_every_netcdf_file_records_python_and_dependency_versions(tmp_path):
    import json
    import platform
    import arviz as az
    import netCDF4
    import scipy
    from pdaframe.io.samples import write_samples
    res = SampleResult(method="adaptive-metropolis", parameter_names=["a"], x=np.zeros(1),
                       fun=0.0, samples=np.zeros((2, 3, 1)), history={"cost": np.zeros(1)})
    res.to_netcdf(tmp_path / "result.nc")
    write_samples(tmp_path / "samples.nc", res)
    write_ensemble(tmp_path / "ensemble.nc",
                   EnsembleResult(method="importance", parameter_names=["a"], x=np.zeros(1),
                                  samples=np.zeros((4, 1)), weights=np.full(4, 0.25)))
    with xr.open_dataset(tmp_path / "result.nc") as ds:
        in_result = json.loads(ds.attrs["dependency_versions"])
    with xr.open_dataset(tmp_path / "ensemble.nc") as ds:
        in_ensemble = json.loads(ds.attrs["dependency_versions"])
    in_samples = json.loads(az.from_netcdf(tmp_path / "samples.nc")
                            .posterior.attrs["dependency_versions"])
    assert in_result == in_ensemble == in_samples
    assert in_result["python"] == platform.python_version()
    assert in_result["numpy"] == np.__version__ and in_result["scipy"] == scipy.__version__
    assert in_result["netCDF4"] == netCDF4.__version__ and in_result["pdaframe"] == "0.1.0"
    # every requirement of pdaframe and of the plugins' distributions
    assert {"tqdm", "pluggy", "emcee", "SALib", "arviz", "scikit-learn", "matplotlib",
            "pdaframe-toy", "cffi"} <= set(in_result)
