"""`pdaframe predict` on a linear-Gaussian twin: the 90 % predictive band covers 90 ± 3 % of
fresh synthetic observations at new inputs (and the credible band, without the observation
noise, does not); files read back give the same prediction as the run's own; bad input is a
named error with nothing written."""
import shutil

import netCDF4
import numpy as np
import pytest

import pdaframe
from pdaframe.cli import main
from pdaframe.errors import ConfigError, DataError
from pdaframe.prediction.runner import run_predictions
from pdaframe.prediction.scenario import parse_cli_scenario, parse_scenario

NEW_ROWS = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [-1.0, 1.5], [0.0, 1.0],
                     [3.0, 0.0], [1.0, -2.0], [0.3, 0.7], [-2.0, -1.0], [1.5, 1.5]])
STD = 0.5

CONFIG = """title = "linear twin"
seed = 5
[model]
name = "linear"
options = {{ matrix = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]], names = ["a", "b"] }}
[parameters]
a = {{ mean = 0.0, std = 1.0 }}
b = {{ mean = 0.0, std = 2.0 }}
[prior]
family = "gaussian"
[[streams]]
name = "first"
variable = "y"
times = [0, 1, 2, 3]
std = {std}
[twin]
truth = {{ a = 0.5, b = -1.0 }}
seed = 1
[method]
name = "{method}"
{options}
[output]
directory = "out"
[predict]
members = 200
[predict.model]
matrix = {rows}
"""


def write_config(folder, method="lbfgsb", options="", extra=""):
    rows = "[" + ", ".join(f"[{float(a)!r}, {float(b)!r}]" for a, b in NEW_ROWS) + "]"
    path = folder / "lin.toml"
    path.write_text(CONFIG.format(std=STD, method=method, options=options, rows=rows) + extra)
    return path


def coverage(folder, level_noise=True, replicates=200, members=1000):
    """Fraction of fresh observations (truth drawn from the prior, new inputs) inside the
    posterior 90 % predictive (or credible) band, over ``replicates`` twins."""
    problem, settings = pdaframe.load_config(write_config(folder), run_model=False)
    rng = np.random.default_rng(20261205)
    inside = []
    for r in range(replicates):
        truth = problem.prior.sample(1, rng)[0]
        twin = problem.synthetic(truth, seed=1000 + r)
        result = pdaframe.minimise(twin, "lbfgsb")
        pred = run_predictions(twin, settings.predict, result, members=members, seed=r,
                               prior=False, quantiles=[0.05, 0.95], progress=False)
        fresh = NEW_ROWS @ truth + STD * rng.standard_normal(len(NEW_ROWS))
        sp = pred.scenarios[0]
        band = (sp.predictive if level_noise else sp.credible)["posterior"]["y"]
        inside.append((fresh >= band[0]) & (fresh <= band[1]))
    return float(np.mean(inside))


def test_predictive_band_covers_90_percent_of_fresh_observations(tmp_path):
    cov = coverage(tmp_path)
    assert abs(cov - 0.90) <= 0.03, cov


def test_band_without_observation_noise_fails_the_coverage(tmp_path):
    cov = coverage(tmp_path, level_noise=False, replicates=30)
    assert cov < 0.80, cov          # the credible band is for G(θ), not for observations


@pytest.fixture
def run_folder(tmp_path):
    config = write_config(tmp_path)
    assert main(["run", str(config), "-q"]) == 0
    return tmp_path


def test_predict_from_folder_equals_the_runs_own_prediction(run_folder):
    out = run_folder / "out"
    assert (out / "predict_baseline.nc").is_file() and (out / "predict_baseline.png").is_file()
    assert main(["predict", str(out), "-q", "-o", str(run_folder / "again")]) == 0
    with netCDF4.Dataset(out / "predict_baseline.nc") as a, \
            netCDF4.Dataset(run_folder / "again" / "predict_baseline.nc") as b:
        assert a.source_run_id == a.run_id != b.run_id and b.source_run_id == a.run_id
        for name in ("theta_posterior", "theta_prior", "y_posterior", "y_posterior_credible",
                     "y_posterior_predictive", "y_prior_predictive", "y_estimate"):
            assert np.array_equal(a[name][:], b[name][:]), name
        assert a["y_posterior"].shape == (200, len(NEW_ROWS))
        assert a["y_posterior_predictive"].observation_error_std == STD
        theta = np.asarray(a["theta_posterior"][:])
        assert np.allclose(a["y_posterior"][:], theta @ NEW_ROWS.T, rtol=0, atol=1e-12)
        import json
        assert "lin.toml" in json.loads(b.data_files)


def test_laplace_draws_from_the_file_respect_the_bounds_as_in_memory(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        "a = { mean = 0.0, std = 1.0 }", "a = { mean = 0.55, std = 1.0, lower = 0.3, "
        "upper = 0.8 }"))                                      # truth a = 0.5 inside
    assert main(["run", str(config), "-q"]) == 0               # [predict]: in memory
    pred = pdaframe.predict(tmp_path / "out", write=False)     # read back from result.nc
    with netCDF4.Dataset(tmp_path / "out" / "predict_baseline.nc") as ds:
        assert np.array_equal(np.asarray(ds["theta_posterior"][:]), pred.thetas["posterior"])
    a = pred.thetas["posterior"][:, 0]
    assert a.min() > 0.3 and a.max() < 0.8 and a.std() > 0.01


def test_predictive_band_is_wider_than_credible_by_the_noise(run_folder):
    pred = pdaframe.predict(run_folder / "out", members=4000, write=False, seed=3)
    sp = pred.scenarios[0]
    cred, predictive = sp.credible["posterior"]["y"], sp.predictive["posterior"]["y"]
    runs = sp.runs["posterior"]["y"]
    # Gaussian: the 5-95 % half-width is 1.645 sqrt(var_θ + σ²)
    expected = 1.6449 * np.sqrt(runs.var(axis=0) + STD ** 2)
    assert np.allclose((predictive[2] - predictive[0]) / 2, expected, rtol=0.06)
    assert np.all(predictive[2] - predictive[0] > cred[2] - cred[0])


def test_samples_and_ensembles_are_read_back(tmp_path):
    config = write_config(tmp_path, "importance", "options = { n_members = 300 }")
    assert main(["run", str(config), "-q"]) == 0
    out = tmp_path / "out"
    with netCDF4.Dataset(out / "ensemble.nc") as ds:
        members, w = ds["theta"][:], ds["weight"][:]
    pred = pdaframe.predict(out, members=400, write=False)      # 300 members: all, weighted
    assert np.array_equal(pred.thetas["posterior"], members)
    assert np.array_equal(pred.weights["posterior"], w)


def test_sampler_chains_are_read_back(tmp_path):
    config = write_config(tmp_path, "adaptive-metropolis",
                          "options = { n_samples = 200, burn_in = 200, n_chains = 2 }")
    assert main(["run", str(config), "-q"]) == 0
    with netCDF4.Dataset(tmp_path / "out" / "samples.nc") as ds:
        chains = np.asarray(ds["posterior"]["theta"][:])          # (chain, draw, param)
    pred = pdaframe.predict(tmp_path / "out", members=50, write=False)
    flat = chains.reshape(-1, 2)
    pick = np.unique(np.linspace(0, len(flat) - 1, 50).round().astype(int))
    assert np.array_equal(pred.thetas["posterior"], flat[pick])
    assert pred.weights["posterior"] is None


def assert_nothing_written(folder):
    assert not list(folder.glob("predict_*")) and not list(folder.glob("drivers_*"))


def test_bad_input_is_named_and_writes_nothing(run_folder, tmp_path_factory):
    out = run_folder / "out"
    for f in out.glob("predict_*"):
        f.unlink()
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataError, match=r"no result\.nc there"):
        pdaframe.predict(empty)
    # parameter mismatch: the result's names are not the config's
    other = tmp_path_factory.mktemp("other")
    shutil.copy(run_folder / "lin.toml", other)
    shutil.copytree(out, other / "out")
    with netCDF4.Dataset(other / "out" / "result.nc", "a") as ds:
        ds["param"][1] = "c"
    with pytest.raises(ConfigError, match="parameters don't match"):
        pdaframe.predict(other / "out")
    assert_nothing_written(other / "out")
    # a scenario for a model without a drivers_file option
    with pytest.raises(ConfigError, match="'linear' has no drivers_file option"):
        pdaframe.predict(out, scenarios=["warm:t_min=+2"])
    with pytest.raises(ConfigError, match="unknown driver column 'tmin'"):
        pdaframe.predict(out, scenarios=["warm:tmin=+2"])
    assert_nothing_written(out)
    # the config changed since the run
    config = run_folder / "lin.toml"
    config.write_text(config.read_text().replace("members = 200", "members = 100"))
    with pytest.raises(ConfigError, match="the config changed since the run"):
        pdaframe.predict(out)
    assert main(["predict", str(out), "-q"]) == 2
    assert_nothing_written(out)


def test_result_without_posterior_says_how_to_get_one(tmp_path, caplog):
    config = write_config(tmp_path, "de", "options = { maxiter = 3, popsize = 5 }")
    config.write_text(config.read_text().replace("std = 1.0 }", "std = 1.0, lower = -5.0, "
                                                 "upper = 5.0 }").replace(
        "std = 2.0 }", "std = 2.0, lower = -9.0, upper = 9.0 }"))
    assert main(["run", str(config), "-q"]) == 0          # the calibration's files stay
    assert (tmp_path / "out" / "result.nc").is_file()
    assert "[predict] skipped: the result of de has no posterior" in caplog.text
    with pytest.raises(ConfigError, match="posterior = true"):
        pdaframe.predict(tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


def test_config_predict_table_is_checked_at_load(tmp_path):
    def load(extra):
        return pdaframe.load_config(write_config(tmp_path, extra=extra), run_model=False)
    _, settings = load("[predict.scenarios.warm]\nt_min = \"+2\"\nco2 = \"*2\"\n")
    assert settings.predict.scenarios["warm"].changes == (("t_min", "+", 2.0),
                                                          ("co2", "*", 2.0))
    with pytest.raises(ConfigError, match=r"lin\.toml: \[predict\.scenarios\]\.warm: unknown "
                                          r"driver column 't_minimum'"):
        load("[predict.scenarios.warm]\nt_minimum = \"+2\"\n")
    with pytest.raises(ConfigError, match=r"warm\.t_min = 2\.0: expected a string"):
        load("[predict.scenarios.warm]\nt_min = 2.0\n")
    text = (tmp_path / "lin.toml").read_text().replace("members = 200", "member = 200")
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"\[predict\] unknown key\(s\) \['member'\]"):
        pdaframe.load_config(tmp_path / "bad.toml", run_model=False)
    (tmp_path / "bad.toml").write_text(text.replace("member = 200", "members = 5"))
    with pytest.raises(ConfigError, match=r"'members' = 5: expected an integer >= 10"):
        pdaframe.load_config(tmp_path / "bad.toml", run_model=False)


def test_scenario_expressions():
    s = parse_scenario("hot", {"t_min": "+2", "sw": "*0.9", "co2": "/2", "t_max": "-1.5"}, "x")
    assert s.describe() == "t_min +2, sw *0.9, co2 /2, t_max -1.5"
    for bad in ("2", "+", "/0", "+2K", "x2", "+-2"):
        with pytest.raises(ConfigError, match="expected a string"):
            parse_scenario("hot", {"t_min": bad}, "x")
    with pytest.raises(ConfigError, match="not a scenario of the config"):
        parse_cli_scenario("hot", {})
    assert parse_cli_scenario("hot:t_min=+2,t_max=+2", {}).changes == (
        ("t_min", "+", 2.0), ("t_max", "+", 2.0))
