"""The real-data DALEC2 examples run end to end and do what they claim."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.run import run_problem

EXAMPLES = Path(__file__).parents[3] / "examples"


def load(name, tmp_path):
    text = (EXAMPLES / name / "config.toml").read_text()
    (tmp_path / "c.toml").write_text(text.replace("../../", str(EXAMPLES.parent) + "/"))
    return pdaframe.load_config(tmp_path / "c.toml")


def test_us_me2_posterior_beats_prior_on_held_out_2007(tmp_path):
    problem = load("dalec2_us-me2", tmp_path)
    nee = problem.streams[0]
    assert problem.model.time[nee.times].max() <= np.datetime64("2006-12-31")
    (held_out,) = problem.config.evaluate
    assert problem.model.time[held_out.times].min() >= np.datetime64("2007-01-01")
    assert {"d_onset", "c_ronset", "d_fall", "c_rfall"}.isdisjoint(problem.parameter_names)
    assert problem.model.fixed["c_rfall"] == 145.0
    result, paths = run_problem(problem, tmp_path / "out", progress=False)
    prior, post = (result.evaluation["nee_2007"][k] for k in ("prior", "posterior"))
    assert prior["n"] == post["n"] == held_out.n_valid > 250
    assert post["rmse"] < 0.6 * prior["rmse"]
    assert abs(post["bias"]) < abs(prior["bias"])
    assert post["correlation"] > prior["correlation"]
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds.nee_2007_posterior.attrs["rmse"] == pytest.approx(post["rmse"])


def test_de_hai_monthly_smoke(tmp_path):
    problem = load("dalec2_de-hai", tmp_path)
    assert problem.model.variant == "CARDAMOM"
    assert np.allclose(problem.model.drivers.dt, 30.4375)
    assert [s.n_valid for s in problem.streams] == [62, 64]
    result, paths = run_problem(problem, tmp_path / "out", progress=False)
    assert result.fun < 0.5 * result.history["cost"][0]
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds.nee_observed.size == 192 and int(ds.nee_observed.count()) == 62
