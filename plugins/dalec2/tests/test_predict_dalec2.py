"""`pdaframe predict` with DALEC2 (issue 14 item 4): a twin calibrated on the US-Me2 drivers
of 2004-2006 predicts 2004-2007 (2007 held out) from a driver file, and a +2 K scenario.
The scenario's kept driver file differs from the base file by exactly +2 K in the three
temperature columns (the others equal), and the run used it: the warm estimate run and each
warm posterior trajectory equal a direct run of DALEC2 on that file, and differ from the
baseline. A driver file with a gap is a named error and nothing is written."""
import json

import netCDF4
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.cli import main
from pdaframe.plugin import DataError, read_driver_file
from pdaframe.problem.fixed import FixedParameters
from pdaframe_dalec2.plugin import make_dalec2
from pdaframe_dalec2.readers import US_ME2_LATITUDE, read_us_me2

COLUMNS = ("t_min", "t_max", "t_mean", "sw")
CONFIG = """title = "DALEC2 twin for predict"
seed = 3
[model]
name = "dalec2"
options = { drivers_file = "drivers.csv", end = "2006-12-31" }
[parameters]
estimate = ["theta_min", "f_auto", "c_eff", "theta_som"]
[prior]
family = "gaussian"
[[streams]]
name = "nee"
variable = "nee"
times = { start = 0, stop = 1096, step = 3 }
std = 0.71
[[streams]]
name = "lai"
variable = "lai"
times = { start = 0, stop = 1096, step = 8 }
std = 0.3
[twin]
truth = { theta_min = 0.0008, f_auto = 0.45, c_eff = 60.0, theta_som = 1.2e-4 }
seed = 2
[method]
name = "lbfgsb"
options = { maxiter = 30 }
[output]
directory = "out"
[predict]
members = 40
outputs = ["nee", "gpp", "lai"]
[predict.scenarios.warm]
t_min = "+2"
t_max = "+2"
t_mean = "+2"
"""


def write_drivers(path, start="2004-01-01", end="2007-12-31", drop=None):
    d = read_us_me2(start=start, end=end)
    lines = ["# site = US-Me2", f"# latitude = {US_ME2_LATITUDE!r}", "date," + ",".join(COLUMNS)]
    lines += [f"{t}," + ",".join(repr(float(getattr(d, c)[i])) for c in COLUMNS)
              for i, t in enumerate(d.time) if i != drop]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict_dalec2")
    write_drivers(folder / "drivers.csv")
    (folder / "config.toml").write_text(CONFIG)
    assert main(["run", str(folder / "config.toml"), "-q"]) == 0
    assert main(["predict", str(folder / "out"), "--drivers", str(folder / "drivers.csv"),
                 "-q", "-o", str(folder / "pred")]) == 0
    return folder


def test_held_out_year_and_warm_scenario_files(predicted):
    pred = predicted / "pred"
    names = sorted(p.name for p in pred.iterdir() if not p.name.startswith("."))
    assert names == ["drivers_warm.csv", "predict_baseline.nc", "predict_baseline.png",
                     "predict_warm.nc", "predict_warm.png"]
    ds = xr.open_dataset(pred / "predict_baseline.nc")
    assert str(ds.time.values[0])[:10] == "2004-01-01"
    assert str(ds.time.values[-1])[:10] == "2007-12-31"             # 2007: held out
    assert ds["nee_posterior"].shape == (40, 1461)
    assert ds["nee_posterior_predictive"].attrs["observation_error_std"] == 0.71
    assert "gpp_posterior_predictive" not in ds                        # no stream observes it
    assert json.loads(ds.attrs["data_files"])["config.toml"]


def test_run_predicts_its_config_period_with_the_config_drivers(predicted):
    out = predicted / "out"            # pdaframe run: [predict] after the calibration
    for name in ("predict_baseline.nc", "predict_warm.nc", "predict_warm.png",
                 "drivers_warm.csv"):
        assert (out / name).is_file(), name
    ds = xr.open_dataset(out / "predict_warm.nc")
    assert str(ds.time.values[-1])[:10] == "2006-12-31"             # the config's end
    base = read_driver_file(predicted / "drivers.csv", optional=COLUMNS)
    warm = read_driver_file(out / "drivers_warm.csv", optional=COLUMNS)
    assert np.array_equal(warm["t_max"], base["t_max"] + 2.0)
    with netCDF4.Dataset(out / "result.nc") as r:
        assert ds.attrs["source_run_id"] == ds.attrs["run_id"] == r.run_id


def test_warm_driver_file_differs_by_exactly_two_kelvin(predicted):
    base = read_driver_file(predicted / "drivers.csv", optional=COLUMNS)
    warm = read_driver_file(predicted / "pred" / "drivers_warm.csv", optional=COLUMNS)
    assert np.array_equal(warm.time, base.time) and warm.latitude == base.latitude
    for c in ("t_min", "t_max", "t_mean"):
        assert np.array_equal(warm[c], base[c] + 2.0), c
        assert np.allclose(warm[c] - base[c], 2.0, rtol=0, atol=1e-12)
    assert np.array_equal(warm["sw"], base["sw"])


def test_warm_run_used_the_scenario_drivers(predicted):
    problem, _ = pdaframe.load_config(predicted / "config.toml", run_model=False)

    def direct(drivers, theta):
        model = FixedParameters(make_dalec2(drivers_file=str(drivers)),
                                problem.model.parameter_names, problem.model.values)
        return model.run(theta)

    with netCDF4.Dataset(predicted / "pred" / "predict_warm.nc") as w, \
            netCDF4.Dataset(predicted / "pred" / "predict_baseline.nc") as b, \
            netCDF4.Dataset(predicted / "out" / "result.nc") as r:
        x = np.asarray(r["analysis"][:])
        run = direct(predicted / "pred" / "drivers_warm.csv", x)
        for o in ("nee", "gpp"):
            assert np.array_equal(np.asarray(w[f"{o}_estimate"][:]), run[o]), o
            assert np.max(np.abs(np.asarray(w[f"{o}_estimate"][:]) -
                                 np.asarray(b[f"{o}_estimate"][:]))) > 0.05, o
        theta = np.asarray(w["theta_posterior"][:])
        assert np.array_equal(theta, np.asarray(b["theta_posterior"][:]))   # same draws
        for k in (0, 17):
            assert np.array_equal(np.asarray(w["nee_posterior"][k]),
                                  direct(predicted / "pred" / "drivers_warm.csv", theta[k])["nee"])
        base_run = direct(predicted / "drivers.csv", x)
        assert np.array_equal(np.asarray(b["nee_estimate"][:]), base_run["nee"])
        med_w = np.median(np.asarray(w["gpp_posterior"][:]), axis=0)
        med_b = np.median(np.asarray(b["gpp_posterior"][:]), axis=0)
        assert np.mean(np.abs(med_w - med_b)) > 0.01


def test_driver_file_with_a_gap_is_named_and_nothing_written(predicted, tmp_path):
    gap = write_drivers(tmp_path / "gappy.csv", drop=400)
    with pytest.raises(DataError, match=r"gappy\.csv: a gap of 1 day"):
        pdaframe.predict(predicted / "out", drivers=gap, output=tmp_path / "pred")
    assert not (tmp_path / "pred").exists() or not list((tmp_path / "pred").glob("predict_*"))
