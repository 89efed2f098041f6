"""Streams with dates matched to the model's time axis, windows, and held-out scoring."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
import pdaframe.plugin
from pdaframe.analysis.scores import scores
from pdaframe.run import run_problem
from tests.models import Dated

CONFIG = """
[model]
name = "dated"

[parameters]
a = { mean = 0.0, std = 10.0 }
b = { mean = 0.0, std = 10.0 }

[[streams]]
name = "y_early"
variable = "y"
file = "obs.csv"
time_column = "date"
value_column = "y"
std = 0.1
end = "2004-01-14"

[[evaluate]]
name = "y_late"
variable = "y"
file = "obs.csv"
time_column = "date"
value_column = "y"
start = "2004-01-15"
"""


@pytest.fixture
def dated_plugin(monkeypatch):
    """Register the Dated model as if a plugin did it."""
    pdaframe.plugin.reset_plugins()
    reg = pdaframe.plugins.registry("model")
    reg.add("dated", Dated)
    yield
    pdaframe.plugin.reset_plugins()


def write_obs(tmp_path):
    dates = np.datetime64("2003-12-30") + np.arange(26)      # 2 days before, 4 after the run
    y = 1.0 + 0.5 * (dates - np.datetime64("2004-01-01")).astype(float)
    y[5] = np.nan
    rows = "\n".join(f"{d},{v}" for d, v in zip(dates, y))
    (tmp_path / "obs.csv").write_text("date,y\n" + rows + "\n")
    (tmp_path / "c.toml").write_text(CONFIG)


def test_dates_windows_and_evaluation(tmp_path, dated_plugin):
    write_obs(tmp_path)
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    (s,) = problem.streams
    np.testing.assert_array_equal(s.times, np.arange(14))    # 2004-01-01 .. 2004-01-14
    assert s.n_outside == 12 and s.n_missing == 1
    (e,) = settings.evaluate
    np.testing.assert_array_equal(e.times, np.arange(14, 20))
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    np.testing.assert_allclose(result.x, [1.0, 0.5], atol=1e-4)   # prior pulls a little
    post = result.evaluation["y_late"]["posterior"]
    assert post["n"] == 6 and post["rmse"] < 1e-3 and post["correlation"] == pytest.approx(1.0)
    prior = result.evaluation["y_late"]["prior"]
    assert prior["bias"] == pytest.approx(-np.mean(1.0 + 0.5 * np.arange(14, 20)))
    with xr.open_dataset(paths["netcdf"]) as ds:
        np.testing.assert_allclose(ds.y_late_posterior.values, 1.0 + 0.5 * np.arange(14, 20),
                                   atol=1e-3)
        assert ds.y_late_prior.attrs["rmse"] == pytest.approx(prior["rmse"])


def test_dates_need_a_time_axis(tmp_path, dated_plugin):
    write_obs(tmp_path)
    text = (tmp_path / "c.toml").read_text().replace('name = "dated"', 'name = "linear"\n'
                                                     'options = { matrix = [[1.0, 0.0]] }')
    text = text.replace("a = {", "theta_0 = {").replace("b = {", "theta_1 = {")
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(pdaframe.ConfigError, match="holds dates but the model has no time axis"):
        pdaframe.load_config(tmp_path / "c.toml")


def test_date_not_on_model_steps_and_empty_window(tmp_path, dated_plugin):
    write_obs(tmp_path)
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.replace('end = "2004-01-14"', 'end = "2003-01-14"'))
    with pytest.raises(pdaframe.DataError, match="no row of column 'date' falls in the run"):
        pdaframe.load_config(path)


def test_scores_reference_values():
    s = scores([1.0, 2.0, np.nan, 4.0], [2.0, 2.0, 5.0, 6.0])
    assert s["n"] == 3
    assert s["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert s["bias"] == pytest.approx(1.0)
    assert s["correlation"] == pytest.approx(np.corrcoef([1, 2, 4], [2, 2, 6])[0, 1])


AGGREGATED = CONFIG.replace('std = 0.1\nend = "2004-01-14"', 'std = 0.1\n{aggregate}')


@pytest.mark.parametrize("spec, kept, n_valid", [
    ("aggregate = { windows = [0, 5, 10, 15, 20] }", [1, 1, 1, 1], [4, 5, 5, 5]),
    ("aggregate = { windows = [0, 5, 10, 15, 20], min_fraction = 1.0 }", [0, 1, 1, 1],
     [4, 5, 5, 5]),
    ('aggregate = { period = "monthly" }', [1], [19]),
])
def test_aggregate_builds_window_observations_from_daily_values(tmp_path, dated_plugin, spec,
                                                                kept, n_valid):
    write_obs(tmp_path)
    (tmp_path / "c.toml").write_text(AGGREGATED.replace("{aggregate}", spec))
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    (s,) = problem.streams
    y = 1.0 + 0.5 * np.arange(20.0)
    y[3] = np.nan                                  # 2004-01-04 is missing in the file
    edges = s.operator.edges
    want = [np.nanmean(y[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_array_equal(s.mask, np.array(kept, bool))
    np.testing.assert_allclose(s.values[s.mask], np.array(want)[s.mask], rtol=1e-12)
    np.testing.assert_allclose(s.error.std.reshape(-1),            # valid windows' errors
                               (0.1 / np.sqrt(n_valid))[s.mask], rtol=1e-12)
    np.testing.assert_array_equal(s.times, edges[:-1])
    # the model's equivalent averages the same valid days: exact at the truth a=1, b=0.5
    np.testing.assert_allclose(problem.equivalents([1.0, 0.5])["y_early"][s.mask],
                               s.values[s.mask], rtol=1e-12)
    result, _ = run_problem(problem, settings, tmp_path / "out", progress=False, write=False)
    if sum(kept) >= 2:
        np.testing.assert_allclose(result.x, [1.0, 0.5], atol=1e-3)


@pytest.mark.parametrize("spec, match", [
    ("aggregate = { period = \"weekly\" }", "period 'weekly'"),
    ("aggregate = { windows = [0, 5, 10, 15, 20], span = 3 }", r"unknown key\(s\) \['span'\]"),
    ("aggregate = { windows = [0, 5, 10, 15, 20] }\noperator = \"select\"",
     r"remove \['operator'\]"),
    ("aggregate = { windows = [0, 5, 10] }", "windows must tile the period"),
    ("aggregate = 3", "'aggregate' must be a table"),
])
def test_aggregate_errors_name_the_stream(tmp_path, dated_plugin, spec, match):
    write_obs(tmp_path)
    (tmp_path / "c.toml").write_text(AGGREGATED.replace("{aggregate}", spec))
    with pytest.raises(pdaframe.ConfigError, match=match):
        pdaframe.load_config(tmp_path / "c.toml")
