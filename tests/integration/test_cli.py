"""End-to-end: the pdaframe command on the LG2 config; NetCDF checked with xarray."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import LG2_COV, LG2_MEAN

DATA = Path(__file__).parents[1] / "data"


def pdaframe_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pdaframe.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def config(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    return tmp_path / "lg2.toml"


def test_run_writes_netcdf_and_plots(config, tmp_path):
    out = tmp_path / "res"
    proc = pdaframe_cli("run", config, "--output", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "analysis" in proc.stdout and "1.2144" in proc.stdout
    assert "PGTOL; gradient: adjoint\n" in proc.stdout
    assert (out / "streams.png").stat().st_size > 1000
    assert (out / "parameters.png").stat().st_size > 1000
    with xr.open_dataset(out / "result.nc") as ds:
        assert list(ds.param.values) == ["a", "b"]
        np.testing.assert_allclose(ds.analysis.values, LG2_MEAN, rtol=1e-8)
        np.testing.assert_allclose(ds.posterior_covariance.values, LG2_COV, rtol=1e-8)
        np.testing.assert_allclose(ds.prior_covariance.values, [[1.0, 0.5], [0.5, 4.0]])
        np.testing.assert_allclose(ds.y_observed.values[:3], [3.5, -0.5, 2.2])
        assert np.isnan(ds.y_observed.values[3]) and ds.y_observed.missing_values == 1
        np.testing.assert_allclose(ds.y_posterior.values[:3],
                                   np.array([[1, 1], [1, -1], [2, 0]]) @ LG2_MEAN, rtol=1e-8)
        assert ds.cost.values[0] == pytest.approx(0.54)
        assert ds.cost.values[-1] == pytest.approx(0.2399043062, rel=1e-9)
        assert "[model]" in ds.attrs["config"] and ds.attrs["seed"] == 3
        assert '"pdaframe": "0.1.0"' in ds.attrs["package_versions"]
        assert ds.attrs["git_revision"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_check_and_plugins(config):
    proc = pdaframe_cli("check", config)
    assert proc.returncode == 0, proc.stderr
    assert "stream 'y': 4 values, 1 missing" in proc.stdout
    proc = pdaframe_cli("plugins")
    assert proc.returncode == 0
    assert "pdaframe  (pdaframe 0.1.0)" in proc.stdout and "lbfgsb" in proc.stdout


def test_version_names_pdaframe_and_the_plugins():
    proc = pdaframe_cli("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "pdaframe 0.1.0"
    assert "  plugin toy: pdaframe-toy 0.1.0" in lines
    assert "  plugin dalec2: pdaframe-dalec2 0.1.0" in lines


@pytest.mark.parametrize("argv", [["plugins"], ["--version"]])
def test_output_into_a_closed_pipe_ends_quietly(argv):
    # like `pdaframe plugins | head` with head gone before pdaframe writes
    proc = subprocess.Popen([sys.executable, "-m", "pdaframe.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0 and err == ""


def test_check_does_not_run_the_model_of_a_twin(config, monkeypatch, capsys):
    import pdaframe
    from pdaframe import cli
    text = config.read_text().replace(
        'file = "lg2_obs.csv"\nvalue_column = "value"\nstd_column = "sigma"\n'
        'fill_value = -9999.0', 'times = { start = 0, stop = 3, step = 1 }\nstd = 0.5\n\n'
        '[twin]\ntruth = { a = 1.2, b = 1.9 }')
    assert "[twin]" in text
    config.write_text(text)

    def no_run(self, theta):
        raise AssertionError("pdaframe check ran the model")
    monkeypatch.setattr(pdaframe.LinearModel, "run", no_run)
    assert cli.main(["check", str(config)]) == 0
    out = capsys.readouterr().out
    assert "stream 'y': 3 values, 0 missing" in out
    assert "twin: synthetic observations are drawn at the truth by 'pdaframe run'" in out


@pytest.mark.parametrize("old, new, expected", [
    ('name = "lbfgsb"', 'name = "bfgs"', "ConfigError"),
    ('[method]', '[method', "malformed TOML"),
    ('file = "lg2_obs.csv"', 'file = "gone.csv"', "data file not found"),
])
def test_bad_config_gives_one_paragraph_and_no_output(config, tmp_path, old, new, expected):
    config.write_text(config.read_text().replace(old, new))
    out = tmp_path / "res"
    proc = pdaframe_cli("run", config, "--output", out, "-q")
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("pdaframe: error") and proc.stdout == ""
    assert not out.exists()
