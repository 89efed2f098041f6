"""Every kind of bad input gives a named pdaframe error that says where and what."""
import shutil
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.io.atomic import atomic_path

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def cfg(tmp_path):
    """Copy the LG2 config to tmp_path; return a function that rewrites parts of it."""
    shutil.copy(DATA / "lg2_obs.csv", tmp_path)
    text = (DATA / "lg2.toml").read_text()

    def make(old=None, new=None, obs=None):
        path = tmp_path / "c.toml"
        path.write_text(text if old is None else text.replace(old, new))
        if obs is not None:
            (tmp_path / "lg2_obs.csv").write_text(obs)
        return path
    return make


def test_fill_values_and_nan_are_masked_and_counted():
    s = pdaframe.DataStream("s", "y", [1.0, np.nan, -9999.0, 2.0], std=1.0, fill_value=-9999.0)
    assert s.n_missing == 2 and s.n_valid == 2
    np.testing.assert_array_equal(s.observed, [1.0, 2.0])


def test_times_and_values_of_different_length():
    with pytest.raises(pdaframe.DataError, match="3 values but 2 times"):
        pdaframe.DataStream("s", "y", [1.0, 2.0, 3.0], times=[0, 1], std=1.0)


@pytest.mark.parametrize("std", [0.0, -1.0, np.inf])
def test_bad_observation_std(std):
    with pytest.raises(pdaframe.DataError, match="stream 's' error.*positive"):
        pdaframe.DataStream("s", "y", [1.0, 2.0], std=[1.0, std])


def test_bad_prior_variance():
    with pytest.raises(pdaframe.ConfigError, match="'b'.*positive"):
        pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 0.0], names=["a", "b"])


def test_non_positive_definite_B_and_R():
    with pytest.raises(pdaframe.ConfigError, match="prior covariance B.*not positive definite"):
        pdaframe.GaussianPrior([0.0, 0.0], covariance=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(pdaframe.DataError, match="stream 's' error.*not positive definite"):
        pdaframe.DataStream("s", "y", [1.0, 2.0], covariance=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(pdaframe.DataError, match="not symmetric"):
        pdaframe.DataStream("s", "y", [1.0, 2.0], covariance=[[1.0, 0.1], [0.2, 1.0]])


def test_bounds_and_background():
    with pytest.raises(pdaframe.ConfigError, match="'a': lower bound 1.0 must be below upper"):
        pdaframe.GaussianPrior([1.0], std=[1.0], lower=[1.0], upper=[1.0], names=["a"])
    with pytest.raises(pdaframe.ConfigError, match="background.*'a' = 2.0 is not strictly "
                                                   "inside"):
        pdaframe.GaussianPrior([2.0], std=[1.0], lower=[0.0], upper=[1.0], names=["a"])


def test_config_background_outside_bounds(cfg):
    path = cfg("a = { mean = 1.0, std = 1.0 }", "a = { mean = 1.0, std = 1.0, upper = 0.5 }")
    with pytest.raises(pdaframe.ConfigError, match=r"c\.toml: \[prior\].*'a' = 1.0"):
        pdaframe.load_config(path)


def test_config_lower_above_upper(cfg):
    path = cfg("a = { mean = 1.0, std = 1.0 }",
               "a = { mean = 1.0, std = 1.0, lower = 3.0, upper = 2.0 }")
    with pytest.raises(pdaframe.ConfigError, match=r"\[prior\].*'a': lower bound 3.0"):
        pdaframe.load_config(path)


def test_unknown_model_and_method(cfg):
    with pytest.raises(pdaframe.PluginError, match=r"\[model\] unknown model 'lineer'; "
                                                   r"available: .*linear"):
        pdaframe.load_config(cfg('name = "linear"', 'name = "lineer"'))
    with pytest.raises(pdaframe.ConfigError, match=r"\[method\] unknown method 'bfgs'.*"
                                                   r"nelder-mead"):
        pdaframe.load_config(cfg('name = "lbfgsb"', 'name = "bfgs"'))


@pytest.mark.parametrize("method", ["lbfgsb", "nelder-mead"])
def test_misspelt_minimiser_option_is_a_config_error(method):
    model = pdaframe.LinearModel([[1.0, 0.0], [0.0, 1.0]])
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0]),
                               [pdaframe.DataStream("y", "y", [1.0, 2.0], std=0.5)])
    with pytest.raises(pdaframe.ConfigError, match=rf"method '{method}': unknown option\(s\) "
                                                   r"\['maxitre'\]; valid options: .*maxiter"):
        pdaframe.minimise(problem, method, maxitre=10)


def test_malformed_and_incomplete_toml(cfg):
    with pytest.raises(pdaframe.ConfigError, match="malformed TOML"):
        pdaframe.load_config(cfg('[method]', '[method'))
    with pytest.raises(pdaframe.ConfigError, match=r"\[streams.0\] \[y\] missing required key "
                                                   r"'variable'"):
        pdaframe.load_config(cfg('variable = "y"\n', ''))
    with pytest.raises(pdaframe.ConfigError, match=r"\[top level\] missing required table "
                                                   r"\[model\]"):
        pdaframe.load_config(cfg('[model]\nname = "linear"\noptions = { matrix = [[1.0, 1.0], '
                                 '[1.0, -1.0], [2.0, 0.0]], names = ["a", "b"] }', ''))
    with pytest.raises(pdaframe.ConfigError, match=r"unknown key\(s\) \['stdd'\]"):
        pdaframe.load_config(cfg('std_column = "sigma"', 'stdd = 1.0'))
    with pytest.raises(pdaframe.ConfigError, match="'weight' must be float"):
        pdaframe.load_config(cfg('fill_value = -9999.0', 'weight = "heavy"'))


def test_missing_config_and_data_files(cfg, tmp_path):
    with pytest.raises(pdaframe.ConfigError, match="config file not found"):
        pdaframe.load_config(tmp_path / "nope.toml")
    with pytest.raises(pdaframe.DataError, match="data file not found: .*missing.csv"):
        pdaframe.load_config(cfg('file = "lg2_obs.csv"', 'file = "missing.csv"'))


def test_bad_data_file_contents(cfg):
    with pytest.raises(pdaframe.DataError, match=r"lg2_obs.csv: missing column\(s\) \['sigma'\]"):
        pdaframe.load_config(cfg(obs="time,value\n0,1.0\n"))
    with pytest.raises(pdaframe.DataError, match=r"lg2_obs.csv, line 3, column 'value': "
                                                 r"expected a number, got 'abc'"):
        pdaframe.load_config(cfg(obs="time,value,sigma\n0,1.0,1\n1,abc,1\n"))


def test_operator_needs_output_the_model_lacks():
    model = pdaframe.LinearModel(np.eye(2))
    s = pdaframe.DataStream("s", "nee", [1.0, 2.0], std=1.0)
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0]), [s])
    with pytest.raises(pdaframe.ConfigError, match=r"stream 's' \(variable 'nee'\): its "
                       r"operator needs model output\(s\) \['nee'\], which the model does "
                       r"not produce; the model's outputs are \['y'\]"):
        problem.cost([0.0, 0.0])


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.nc"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
