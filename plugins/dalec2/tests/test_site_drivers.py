"""Any site's drivers in DALEC2: a driver file (CSV, CF-NetCDF) or a FLUXNET file through a
config gives the run of a `Dalec2(Drivers(...))` built in Python, at the file's latitude
(the "Alice Holt-style check" of issue 14); bundled sites refuse another latitude."""
import math
from dataclasses import replace

import netCDF4
import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import ConfigError, DataError, read_driver_file
from pdaframe_dalec2 import Dalec2, Drivers
from pdaframe_dalec2.readers import US_ME2_LATITUDE, read_us_me2

ALICE_HOLT = 51.15          # degrees north (Alice Holt, the P16 site)
COLUMNS = ("t_min", "t_max", "t_mean", "sw")


@pytest.fixture(scope="module")
def us_me2_2004():
    return read_us_me2(start="2004-01-01", end="2004-12-31")


def write_driver_csv(path, drivers, latitude=ALICE_HOLT, site="Alice Holt (US-Me2 met)"):
    """``drivers`` as a site-agnostic driver file (floats written exactly, ``repr``)."""
    lines = [f"# site = {site}"] + ([f"# latitude = {latitude!r}"] if latitude is not None
                                    else []) + ["date," + ",".join(COLUMNS)]
    lines += [f"{d}," + ",".join(repr(float(getattr(drivers, c)[i])) for c in COLUMNS)
              for i, d in enumerate(drivers.time)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(tmp_path, options):
    (tmp_path / "nee.csv").write_text("date,nee\n2004-03-01,0.5\n2004-07-01,-2.0\n")
    text = "\n".join([
        'title = "DALEC2 at another site"', "seed = 1", "[model]", 'name = "dalec2"',
        "options = { " + ", ".join(f"{k} = {v!r}" for k, v in options.items()) + " }",
        "[prior]", 'family = "gaussian"',
        "[[streams]]", 'name = "nee"', 'variable = "nee"', 'file = "nee.csv"',
        'time_column = "date"', 'value_column = "nee"', "std = 0.71"]).replace("'", '"')
    path = tmp_path / "config.toml"
    path.write_text(text + "\n")
    return path


def test_alice_holt_style_check_config_equals_python_run(tmp_path, us_me2_2004):
    """US-Me2's 2004 meteorology at Alice Holt's latitude: `pdaframe.load_config` +
    `problem.run` gives bit for bit the run of `Dalec2(Drivers(...))` at 51.15 N, and not
    the run at US-Me2's 44.45 N."""
    write_driver_csv(tmp_path / "alice_holt.csv", us_me2_2004)
    problem, _ = pdaframe.load_config(write_config(tmp_path, {"drivers_file":
                                                              "alice_holt.csv"}))
    python = Dalec2(Drivers(time=us_me2_2004.time, doy=us_me2_2004.doy,
                            elapsed=us_me2_2004.elapsed, t_min=us_me2_2004.t_min,
                            t_max=us_me2_2004.t_max, t_mean=us_me2_2004.t_mean,
                            sw=us_me2_2004.sw, dt=us_me2_2004.dt, latitude=ALICE_HOLT))
    theta = python.defaults
    config_run = problem.run(theta)
    python_run = python.run(theta)
    for name in ("nee", "gpp", "lai", "c_woo"):
        np.testing.assert_array_equal(config_run[name], python_run[name], err_msg=name)
    np.testing.assert_array_equal(problem.model.time, us_me2_2004.time)
    at_us_me2 = Dalec2(us_me2_2004).run(theta)["nee"]
    # sum NEE 2004 (g C m-2): -527.02 at 51.15 N against -488.85 at 44.45 N, 7.8 % apart
    assert python_run["nee"].sum() == pytest.approx(-527.0231, abs=1e-3)
    assert at_us_me2.sum() == pytest.approx(-488.8492, abs=1e-3)
    assert np.max(np.abs(config_run["nee"] - at_us_me2)) > 0.1
    # the same file with the latitude as an option instead of in the file
    write_driver_csv(tmp_path / "no_lat.csv", us_me2_2004, latitude=None)
    model = pdaframe.get_model("dalec2", drivers_file=tmp_path / "no_lat.csv",
                               latitude=ALICE_HOLT)
    np.testing.assert_array_equal(model.run(theta)["nee"], python_run["nee"])


def test_netcdf_driver_file_and_window_give_the_same_run(tmp_path, us_me2_2004):
    path = tmp_path / "alice_holt.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", us_me2_2004.n)
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2004-01-01 00:00", "standard"
        t[:] = np.arange(us_me2_2004.n)
        for c in COLUMNS:
            v = ds.createVariable(c, "f8", ("time",))
            v.units = "MJ m-2 d-1" if c == "sw" else "degC"
            v[:] = getattr(us_me2_2004, c)
        ds.latitude = ALICE_HOLT
    model = pdaframe.get_model("dalec2", drivers_file=path, start="2004-02-01",
                               end="2004-11-30")
    python = Dalec2(replace(read_us_me2(start="2004-02-01", end="2004-11-30"),
                            latitude=ALICE_HOLT))
    np.testing.assert_array_equal(model.run(python.defaults)["nee"],
                                  python.run(python.defaults)["nee"])
    assert model.drivers.doy[0] == 32 and model.drivers.elapsed[0] == 1.0


def test_fluxnet_file_drives_dalec2(tmp_path):
    """Two HH days -> daily drivers -> the same run as Drivers built by hand."""
    lines = ["TIMESTAMP_START,TIMESTAMP_END,TA_F,SW_IN_F,CO2_F_MDS"]
    start = np.datetime64("2004-06-01T00:00")
    for r in range(96):
        t0 = start + np.timedelta64(30 * r, "m")
        stamp = lambda t: str(t).replace("-", "").replace("T", "").replace(":", "")
        ta = 10.0 + 8.0 * math.sin(2 * math.pi * (r % 48) / 48) + r // 48
        sw = max(0.0, 600.0 * math.sin(math.pi * ((r % 48) - 12) / 24))
        lines.append(f"{stamp(t0)},{stamp(t0 + np.timedelta64(30, 'm'))},{ta!r},{sw!r},395")
    path = tmp_path / "FLX_GB-Ah0_FLUXNET2015_FULLSET_HH_2004-2004_1-4.csv"
    path.write_text("\n".join(lines) + "\n")
    model = pdaframe.get_model("dalec2", drivers_file=path, latitude=ALICE_HOLT,
                               co2="driver")
    ta = np.array([float(l.split(",")[2]) for l in lines[1:]]).reshape(2, 48)
    sw = np.array([float(l.split(",")[3]) for l in lines[1:]]).reshape(2, 48)
    drivers = Drivers(time=np.array(["2004-06-01", "2004-06-02"], dtype="datetime64[D]"),
                      doy=np.array([153.0, 154.0]), elapsed=np.array([1.0, 2.0]),
                      t_min=ta.min(1), t_max=ta.max(1), t_mean=ta.mean(1),
                      sw=sw.mean(1) * 0.0864, dt=np.ones(2), latitude=ALICE_HOLT,
                      co2=np.full(2, 395.0))
    assert model.drivers.site == "GB-Ah0"
    np.testing.assert_array_equal(model.drivers.sw, drivers.sw)
    expected = Dalec2(drivers, co2="driver").run(model.defaults)["nee"]
    np.testing.assert_array_equal(model.run(model.defaults)["nee"], expected)
    # the same file named as FLUXNET explicitly; as a driver table it lacks 'date'
    assert pdaframe.get_model("dalec2", drivers_file=path, latitude=ALICE_HOLT,
                              format="fluxnet").n == 2
    with pytest.raises(DataError, match=r"missing column\(s\) 'date'"):
        pdaframe.get_model("dalec2", drivers_file=path, latitude=ALICE_HOLT, format="table")


def test_fluxnet_co2_is_read_only_for_the_co2_driver_switch(tmp_path):
    """P16 runs at a constant 390 ppm: a FLUXNET file's CO2 gaps do not stop it; the
    CARDAMOM variant reads CO2 from the drivers, so they are a named error there."""
    lines = ["TIMESTAMP_START,TIMESTAMP_END,TA_F,SW_IN_F,CO2_F_MDS"]
    for r in range(24):
        stamp = f"20040601{r:02d}00"
        end = f"20040601{r + 1:02d}00" if r < 23 else "200406020000"
        lines.append(f"{stamp},{end},{10.0 + r / 4},{max(0.0, 50.0 * (r - 6))},"
                     f"{-9999 if r == 5 else 395}")
    path = tmp_path / "FLX_GB-Ah0_FLUXNET2015_FULLSET_HR_2004-2004_1-4.csv"
    path.write_text("\n".join(lines) + "\n")
    model = pdaframe.get_model("dalec2", drivers_file=path, latitude=ALICE_HOLT)
    assert model.drivers.co2 is None and model.drivers.t_max.tolist() == [15.75]
    with pytest.raises(DataError, match=r"line 7, column 'CO2_F_MDS': missing value .* on "
                                        r"day 2004-06-01"):
        pdaframe.get_model("dalec2", drivers_file=path, latitude=ALICE_HOLT,
                           variant="CARDAMOM")


def test_fluxnet_daily_file_cannot_drive_dalec2(tmp_path):
    """FLUXNET DD files have no daily minimum or maximum temperature."""
    path = tmp_path / "FLX_US-Xx1_FLUXNET2015_FULLSET_DD_2005-2005_1-4.csv"
    path.write_text("TIMESTAMP,TA_F,TA_F_QC,SW_IN_F,SW_IN_F_QC\n"
                    "20050101,-13.113,0.5,20.553,1\n20050102,-10.883,0.6,58.749,1\n")
    with pytest.raises(DataError, match=r"US-Xx1.*DALEC2 needs the driver column\(s\) "
                                        r"\['t_min', 't_max'\]"):
        pdaframe.get_model("dalec2", drivers_file=path, latitude=46.6491)


def test_drivers_from_table_days_of_year_across_a_leap_day(tmp_path, us_me2_2004):
    table = read_driver_file(write_driver_csv(tmp_path / "d.csv", us_me2_2004))
    d = Drivers.from_table(table.window("2004-12-30", "2004-12-31"))
    assert d.doy.tolist() == [365.0, 366.0] and d.elapsed.tolist() == [1.0, 2.0]
    assert d.latitude == ALICE_HOLT and d.co2 is None and d.site.startswith("Alice Holt")
    np.testing.assert_array_equal(d.t_mean, us_me2_2004.t_mean[-2:])
    # without t_mean: the mean of t_min and t_max
    (tmp_path / "m.csv").write_text("# latitude = 10\ndate,t_min,t_max,sw\n"
                                    "2005-01-01,1.0,4.0,2.0\n")
    assert Drivers.from_table(read_driver_file(tmp_path / "m.csv")).t_mean.tolist() == [2.5]


def test_bundled_site_refuses_another_latitude(us_me2_2004):
    with pytest.raises(ConfigError, match=r"latitude=51.15 disagrees with the bundled site "
                                          r"US-Me2's latitude 44.4523"):
        pdaframe.get_model("dalec2", site="US-Me2", latitude=ALICE_HOLT)
    with pytest.raises(ConfigError, match=r"bundled site DE-Hai's latitude 51.25"):
        pdaframe.get_model("dalec2", site="DE-Hai", latitude=ALICE_HOLT)
    same = pdaframe.get_model("dalec2", site="US-Me2", latitude=US_ME2_LATITUDE,
                              start="2004-01-01", end="2004-12-31")
    assert same.drivers.latitude == US_ME2_LATITUDE and same.n == 366


@pytest.mark.parametrize("options, error, pattern", [
    ({}, ConfigError, r"give one of drivers .*, site .* or drivers_file"),
    ({"site": "US-Me2", "format": "table"}, ConfigError, r"format goes with drivers_file"),
    ({"drivers_file": "{d}", "format": "csv"}, ConfigError,
     r"format='csv': expected one of \['table', 'fluxnet'\]"),
    ({"drivers_file": "{d}", "latitude": 44.0}, DataError,
     r"the latitude option 44 disagrees with the file's latitude 51.15"),
    ({"drivers_file": "{nolat}"}, DataError, r"no latitude"),
    ({"drivers_file": "{d}", "start": "2003-01-01"}, DataError,
     r"2003-01-01 \.\. 2004-12-31 is outside the file, which covers 2004-01-01"),
    ({"drivers_file": "{swapped}"}, DataError, r"'t_min' \(0.7\) exceeds 't_max' \(-1.5\) "
                                               r"on 2004-01-01"),
    ({"drivers_file": "{dd}", "latitude": 51.0}, DataError,
     r"DALEC2 needs the driver column\(s\) \['t_min', 't_max'\]"),
])
def test_bad_driver_options_are_named_errors(tmp_path, us_me2_2004, options, error, pattern):
    files = {"d": write_driver_csv(tmp_path / "d.csv", us_me2_2004),
             "nolat": write_driver_csv(tmp_path / "nolat.csv", us_me2_2004, latitude=None)}
    files["swapped"] = write_driver_csv(tmp_path / "swapped.csv", replace(
        us_me2_2004, t_min=us_me2_2004.t_max, t_max=us_me2_2004.t_min))
    files["dd"] = tmp_path / "FLX_XX-Xxx_FLUXNET2015_FULLSET_DD_2004-2004_1-4.csv"
    files["dd"].write_text("TIMESTAMP,TA_F,SW_IN_F\n20040101,1.0,50.0\n20040102,2.0,60.0\n")
    options = {k: (str(files[v[1:-1]]) if isinstance(v, str) and v.startswith("{") else v)
               for k, v in options.items()}
    with pytest.raises(error, match=pattern):
        pdaframe.get_model("dalec2", **options)
