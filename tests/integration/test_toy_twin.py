"""The main example: a twin experiment through the installed pdaframe-toy plugin."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.run import run_problem
from tests.integration.test_cli import pdaframe_cli

CONFIG = Path(__file__).parents[2] / "examples" / "toy_twin" / "config.toml"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_twin_recovers_truth(tmp_path, seed):
    text = CONFIG.read_text().replace("seed = 20261126", f"seed = {seed}")
    (tmp_path / "c.toml").write_text(text)
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    result, _ = run_problem(problem, settings, tmp_path / "out", progress=False)
    truth, xb = settings.truth, result.x0
    sigma = result.posterior_std
    assert np.all(np.abs(result.x - truth) < 3 * sigma), (result.x - truth) / sigma
    constrained = np.abs(truth - xb) > 3 * sigma
    assert constrained.sum() >= 4
    assert np.all(np.abs(result.x - truth)[constrained] < np.abs(xb - truth)[constrained])
    assert np.all(sigma < problem.prior.std)
    m = problem.n_obs                      # chi-square check of 2 J_min
    assert abs(2 * result.fun - m) < 4 * np.sqrt(2 * m)


def test_main_job_cli(tmp_path):
    proc = pdaframe_cli("run", CONFIG, "-o", tmp_path, "-q")
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header == ["parameter", "truth", "background", "analysis", "post.", "σ"]
    with xr.open_dataset(tmp_path / "result.nc") as ds:
        assert list(ds.param.values) == ["eps", "k_fast", "k_slow", "h", "q10", "c_fast0"]
        assert ds.param_units.values[0] == "g MJ-1"
        assert ds.nee_observed.size == 730 and ds.c_slow_observed.size == 8
        np.testing.assert_allclose(ds.truth.values[:2], [1.45, 0.026])
        assert '"toy": "0.1.0"' in ds.attrs["package_versions"]
        # 95 % Laplace interval: around the analysis, inside the bounds, about 1.96 sigma
        lo, hi, x = ds.posterior_lower95.values, ds.posterior_upper95.values, ds.analysis.values
        assert np.all((ds.lower_bound.fillna(-np.inf).values <= lo) & (lo < x) & (x < hi))
        # the transforms make the ends asymmetric but keep the width within 0.5 % here;
        # 1 % tells a 95 % interval from a 90 % (16 % narrower) or a 99 % one (31 % wider)
        np.testing.assert_allclose(hi - lo, 2 * 1.96 * ds.posterior_std.values, rtol=0.01)


def test_default_prior_from_model_table():
    model = pdaframe.get_model("toy-carbon", n_days=10)
    prior = pdaframe.GaussianPrior.from_model(model, ["q10", "eps"])
    np.testing.assert_allclose(prior.mean, [2.0, 1.2])
    np.testing.assert_allclose(prior.std, [0.4, 0.3])
    np.testing.assert_allclose(prior.lower, [1.0, 0.0])
    np.testing.assert_allclose(model.defaults[:2], [1.2, 0.02])
