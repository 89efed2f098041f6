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
    problem, settings = load("dalec2_us-me2", tmp_path)
    nee = problem.streams[0]
    assert problem.model.time[nee.times].max() <= np.datetime64("2006-12-31")
    (held_out,) = settings.evaluate
    assert problem.model.time[held_out.times].min() >= np.datetime64("2007-01-01")
    assert {"d_onset", "c_ronset", "d_fall", "c_rfall"}.isdisjoint(problem.parameter_names)
    assert problem.model.fixed["c_rfall"] == 145.0
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    prior, post = (result.evaluation["nee_2007"][k] for k in ("prior", "posterior"))
    assert prior["n"] == post["n"] == held_out.n_valid > 250
    assert post["rmse"] < 0.6 * prior["rmse"]
    assert abs(post["bias"]) < abs(prior["bias"])
    assert post["correlation"] > prior["correlation"]
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds.nee_2007_posterior.attrs["rmse"] == pytest.approx(post["rmse"])


def test_de_hai_monthly_smoke(tmp_path):
    problem, settings = load("dalec2_de-hai", tmp_path)
    assert problem.model.variant == "CARDAMOM"
    assert np.allclose(problem.model.drivers.dt, 30.4375)
    assert [s.n_valid for s in problem.streams] == [62, 64]
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    assert result.fun < 0.5 * result.history["cost"][0]
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds.nee_observed.size == 192 and int(ds.nee_observed.count()) == 62


def test_sensitivity_then_calibration_of_the_shortlist(tmp_path):
    """examples/dalec2_sensitivity: Morris screening writes a shortlist that the 4D-Var
    config estimates through estimate_from (fewer trajectories here)."""
    src = EXAMPLES / "dalec2_sensitivity"
    root = str(EXAMPLES.parent) + "/"
    morris = tmp_path / "morris.toml"
    morris.write_text((src / "morris.toml").read_text().replace("../../", root)
                      .replace("n = 40,", "n = 8,"))
    result, paths = run_problem(*pdaframe.load_config(morris), tmp_path / "sa", progress=False)
    short = result["shortlist"]
    mu = result.indices["mu_star"]
    assert 0 < len(short) < 23 and result.nfev == 8 * 24
    assert all(mu[result.parameter_names.index(n)] >= 0.1 * mu.max() for n in short)
    calibrate = tmp_path / "calibrate.toml"
    calibrate.write_text((src / "calibrate.toml").read_text()
                         .replace("../../results/dalec2_sensitivity/shortlist.toml",
                                  str(paths["shortlist"])).replace("../../", root))
    problem, settings = pdaframe.load_config(calibrate)
    assert list(problem.parameter_names) == short
    result, _ = run_problem(problem, settings, tmp_path / "cal", progress=False, write=False)
    prior, post = (result.evaluation["nee_2006"][k] for k in ("prior", "posterior"))
    assert post["rmse"] < 0.5 * prior["rmse"]
