"""The models of ``pdaframe new-plugin`` read a site driver file (issue 14, item 1).

For each route the scaffold is built and installed as in `tests.integration.test_scaffold`
(the compiled routes with that module's hand-written derivatives filled in), then `CHECK`
runs in a subprocess with ``PYTHONPATH=SITE``: the model from a config with ``drivers_file =
"site.csv"`` (a 730-day CSV in the documented layout, written here), the same model with
the same numbers passed directly (``drivers={"t_mean": ..., "sw": ...}``, and the reader's
`DriverTable`), the seasonal default, a window of the file, and bad files and options. The test asserts the config run is
bit for bit the direct run, equals this module's own loop of the model's equations
(`reference`) with the file's numbers, differs from the seasonal run, and that each bad input
is the named error, raised while the model is built. Then the example twin, pointed at the
file, recovers its truth. The python route also reads the same drivers as CF-NetCDF.
"""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from tests.integration.test_scaffold import (C_DERIVATIVES, FORTRAN_DERIVATIVES, TRUTH, _env,
                                             _run, run_twin, scaffold)

START, N_DAYS, LATITUDE = "2010-01-01", 730, -33.87
THETA = [TRUTH[name] for name in ("k_fast", "k_slow", "h", "q10")]
OUTPUTS = ("respiration", "c_fast", "c_slow")

CHECK = '''"""python check.py NAME DATA: runs of the scaffolded model NAME -> DATA/runs.npz, and the
errors of bad inputs -> DATA/errors.json."""
import json
import sys
from pathlib import Path

import numpy as np

import pdaframe
import pdaframe.plugin

name, data = sys.argv[1], Path(sys.argv[2])
numbers = np.load(data / "numbers.npz")
theta = numbers["theta"]
problem, _ = pdaframe.load_config(data / "drivers.toml", run_model=False)
models = {"config": problem.model,
          "direct": pdaframe.get_model(name, drivers={"t_mean": numbers["t_mean"],
                                                      "sw": numbers["sw"]}, start="2010-01-01"),
          "seasonal": pdaframe.get_model(name),
          "window": pdaframe.get_model(name, drivers_file=data / "site.csv",
                                       start="2011-03-01", end="2011-06-30")}
models["table"] = pdaframe.get_model(name, drivers=pdaframe.plugin.read_driver_file(
    data / "site.csv", required=("t_mean", "sw")))
if (data / "site.nc").exists():
    models["netcdf"] = pdaframe.get_model(name, drivers_file=data / "site.nc")
runs = {}
for key, model in models.items():
    runs.update({f"{key}:{out}": value for out, value in model.run(theta).items()})
    runs[f"{key}:time"] = np.asarray(model.time).astype("datetime64[D]").astype(str)
np.savez(data / "runs.npz", **runs)
errors = {}
bad = {"no_sw": {"drivers_file": data / "no_sw.csv"},
       "gap": {"drivers_file": data / "gap.csv"},
       "latitude": {"drivers_file": data / "site.csv", "latitude": 10.0},
       "no_latitude": {"drivers_file": data / "no_lat.csv"},
       "n_days": {"drivers_file": data / "site.csv", "n_days": 365},
       "end_alone": {"end": "2001-12-31"},
       "both": {"drivers_file": data / "site.csv", "drivers": {"t_mean": [1.0], "sw": [1.0]}},
       "drivers_lack": {"drivers": {"t_mean": [1.0, 2.0]}},
       "drivers_length": {"drivers": {"t_mean": [1.0, 2.0], "sw": [1.0]}}}
for key, options in bad.items():
    try:
        pdaframe.get_model(name, **options)
    except Exception as err:
        errors[key] = [type(err).__name__, str(err)]
try:
    pdaframe.load_config(data / "bad.toml", run_model=False)
except Exception as err:
    errors["config"] = [type(err).__name__, str(err)]
(data / "errors.json").write_text(json.dumps(errors))
'''


def site_drivers() -> dict[str, np.ndarray]:
    """730 days of a southern-hemisphere site (warm in January), two decimals as in a real
    file: ``t_mean`` (degC) and ``sw`` (MJ m-2 d-1), with day-to-day weather."""
    day = np.arange(N_DAYS)
    season = np.cos(2.0 * np.pi * (day - 15.0) / 365.25)
    t_mean = np.round(16.0 + 5.0 * season + 2.0 * np.sin(0.7 * day), 2)
    sw = np.round(np.maximum(1.5, 18.0 + 8.0 * season + 4.0 * np.sin(1.3 * day + 0.4)), 2)
    return {"t_mean": t_mean, "sw": sw}


def dates(n=N_DAYS):
    return np.datetime64(START) + np.arange(n)


def write_csv(path, columns, days=None, latitude=LATITUDE):
    """A driver file in the documented CSV layout (extra columns ``t_min``, ``co2``: ignored)."""
    days = dates() if days is None else days
    head = ["# site = Test site", f"# latitude = {latitude}"] if latitude is not None else []
    names = list(columns)
    lines = head + [",".join(["date", "t_min", *names, "co2"])]
    for i, day in enumerate(days):
        values = [f"{columns[c][i]:.2f}" for c in names]
        lines.append(",".join([str(day), "-1.0", *values, "390.1"]))
    path.write_text("\n".join(lines) + "\n")


def write_netcdf(path, columns):
    """The same drivers as CF-NetCDF: ``time`` in days since START, latitude attribute."""
    import netCDF4
    with netCDF4.Dataset(path, "w") as ds:
        ds.site, ds.latitude = "Test site", LATITUDE
        ds.createDimension("time", N_DAYS)
        time = ds.createVariable("time", "f8", ("time",))
        time.units, time.calendar = f"days since {START}", "standard"
        time[:] = np.arange(N_DAYS)
        for name, units in (("t_mean", "degC"), ("sw", "MJ m-2 d-1")):
            var = ds.createVariable(name, "f8", ("time",))
            var.units = units
            var[:] = columns[name]


def reference(theta, t_mean, sw) -> dict[str, np.ndarray]:
    """The scaffold's model, written here from its docstring: litter input 0.2 sw."""
    k_fast, k_slow, h, q10 = theta
    f, s = 150.0, 900.0
    out = {name: np.empty(t_mean.size) for name in OUTPUTS}
    for t in range(t_mean.size):
        tf = q10 ** ((t_mean[t] - 10.0) / 10.0)
        a, b = k_fast * tf, k_slow * tf
        out["respiration"][t] = (1.0 - h) * a * f + b * s
        f, s = f - a * f + 0.2 * sw[t], s + h * a * f - b * s
        out["c_fast"][t], out["c_slow"][t] = f, s
    return out


def write_inputs(plugin, data, netcdf):
    """The driver files, configs and numbers CHECK reads; the twin config's path."""
    data.mkdir()
    columns = site_drivers()
    write_csv(data / "site.csv", columns)
    write_csv(data / "no_sw.csv", {"t_mean": columns["t_mean"]})
    write_csv(data / "no_lat.csv", columns, latitude=None)
    write_csv(data / "gap.csv", columns, np.delete(dates(N_DAYS + 1), 100))
    if netcdf:
        write_netcdf(data / "site.nc", columns)
    twin = (plugin / "examples" / "twin.toml").read_text()
    assert "options = { n_days = 730 }\n" in twin
    (data / "drivers.toml").write_text(twin.replace(
        "options = { n_days = 730 }\n", 'options = { drivers_file = "site.csv" }\n'))
    (data / "bad.toml").write_text(twin.replace(
        "options = { n_days = 730 }\n", 'options = { drivers_file = "no_sw.csv" }\n'))
    np.savez(data / "numbers.npz", theta=np.array(THETA), **columns)
    (data / "check.py").write_text(CHECK)
    return columns


def check_route(lang, tmp_path, name, fill=None, netcdf=False, gradient="adjoint"):
    plugin, site = scaffold(lang, tmp_path, name, fill)
    data = tmp_path / "data"
    columns = write_inputs(plugin, data, netcdf)
    _run([sys.executable, data / "check.py", name, data], tmp_path, _env(site))
    runs = dict(np.load(data / "runs.npz"))
    expected = reference(THETA, columns["t_mean"], columns["sw"])
    assert list(runs["config:time"]) == list(dates().astype(str)) == list(runs["table:time"])
    for out in OUTPUTS:
        config, direct = runs[f"config:{out}"], runs[f"direct:{out}"]
        assert config.shape == (N_DAYS,)
        np.testing.assert_array_equal(config, direct, err_msg=out)       # bit for bit
        np.testing.assert_array_equal(runs[f"table:{out}"], config, err_msg=out)
        np.testing.assert_allclose(config, expected[out], rtol=1e-12, err_msg=out)
        assert np.max(np.abs(config - runs[f"seasonal:{out}"])) > 0.05 * np.max(config), out
        if netcdf:
            np.testing.assert_array_equal(runs[f"netcdf:{out}"], config, err_msg=out)
    # a window of the file: its days and drivers (the run starts from the initial pools)
    window = slice(424, 546)                                 # 2011-03-01 .. 2011-06-30
    assert runs["window:time"][[0, -1]].tolist() == ["2011-03-01", "2011-06-30"]
    part = reference(THETA, columns["t_mean"][window], columns["sw"][window])
    np.testing.assert_allclose(runs["window:respiration"], part["respiration"], rtol=1e-12)
    check_errors(json.loads((data / "errors.json").read_text()), data)
    run_twin(plugin, site, tmp_path, gradient, config=data / "drivers.toml")


def check_errors(errors, data):
    """Each bad input is the named error naming the file, column or option."""
    expected = {
        "no_sw": ("DataError", f"{data / 'no_sw.csv'}: missing column(s) 'sw' (MJ m-2 d-1)"),
        "gap": ("DataError", f"{data / 'gap.csv'}: a gap of 1 day(s): 2010-04-12 (line 104) "
                             f"follows 2010-04-10 (line 103)"),
        "latitude": ("DataError", "the latitude option 10 disagrees with the file's latitude "
                                  "-33.87"),
        "no_latitude": ("DataError", f"{data / 'no_lat.csv'}: no latitude"),
        "n_days": ("ConfigError", "n_days goes with the seasonal forcing"),
        "end_alone": ("ConfigError", "latitude and end go with drivers_file"),
        "both": ("ConfigError", "give drivers_file or drivers, not both"),
        "drivers_lack": ("DataError", "drivers lack ['sw']; expected ['t_mean', 'sw']"),
        "drivers_length": ("DataError", "drivers['sw'] must be a 1-D array of finite numbers, "
                                        "one per day, as long as drivers['t_mean'] (2,); got "
                                        "shape (1,)"),
        "config": ("DataError", f"{data / 'bad.toml'}: [model] {data / 'no_sw.csv'}: missing "
                                f"column(s) 'sw'"),
    }
    assert sorted(errors) == sorted(expected)
    for key, (kind, text) in expected.items():
        assert errors[key][0] == kind and text in errors[key][1], (key, errors[key])


def test_python_site_drivers(tmp_path):
    check_route("python", tmp_path, "soilsite", netcdf=True)


def test_jax_site_drivers(tmp_path):
    pytest.importorskip("jax")
    check_route("jax", tmp_path, "soilsitejax")


@pytest.mark.slow        # a build, the checks and a twin: 10-30 s by load
def test_fortran_site_drivers(tmp_path):
    if shutil.which("gfortran") is None:
        pytest.skip("needs gfortran")
    name = "soilsitef"
    check_route("fortran", tmp_path, name,
                {f"native/{name}_derivatives.f90": FORTRAN_DERIVATIVES.replace("NAME", name)})


@pytest.mark.slow        # a build, the checks and a twin: 10-30 s by load
def test_c_site_drivers(tmp_path):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("needs a C compiler")
    name = "soilsitec"
    check_route("c", tmp_path, name, {f"native/{name}_derivatives.c": C_DERIVATIVES.replace(
        "NAME_OK", f"{name.upper()}_OK").replace("NAME", name)})
