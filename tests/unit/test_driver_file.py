"""Site-agnostic driver files (CSV, CF-NetCDF) and FLUXNET meteorology -> daily drivers
(`pdaframe.models.driver_file`, `pdaframe.models.fluxnet_drivers`), with every named error."""
import re
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from pdaframe.plugin import (ConfigError, DataError, DriverTable, drivers_from_fluxnet,
                             read_driver_file)

D = np.datetime64
# three days of drivers: date, t_min, t_max, t_mean, sw, co2
ROWS = [("1999-12-31", -2.5, 3.25, 0.5, 2.125, 366.5),
        ("2000-01-01", -1.0, 4.0, 1.75, 3.0, 367.0),
        ("2000-01-02", 0.5, 6.5, 3.0, 4.5, 367.25)]
HEADER = "date,t_min,t_max,t_mean,sw,co2"


def csv_text(meta=("site = Alice Holt", "latitude = 51.15", "longitude = -0.85"),
             header=HEADER, rows=None):
    rows = ROWS if rows is None else rows
    lines = ["# Alice Holt drivers, test copy"] + [f"# {m}" for m in meta] + [header]
    lines += [",".join(str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def write(tmp_path, text, name="drivers.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def write_netcdf(path, latitude=51.15, units="days since 1999-12-31 12:00",
                 calendar="standard", times=(0.0, 1.0, 2.0), sw_units="MJ m-2 d-1",
                 fill_sw=False, lat_as_variable=False, drop=()):
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", len(times))
        if "time" not in drop:
            t = ds.createVariable("time", "f8", ("time",))
            t.units, t.calendar = units, calendar
            t[:] = times
        for j, name in enumerate(("t_min", "t_max", "t_mean", "sw", "co2"), 1):
            if name in drop:
                continue
            v = ds.createVariable(name, "f8", ("time",), fill_value=-9999.0)
            v.units = {"sw": sw_units, "co2": "ppm"}.get(name, "degC")
            v[:] = [row[j] for row in ROWS][:len(times)]
            if name == "sw" and fill_sw:
                v[1] = np.ma.masked
        if latitude is not None:
            if lat_as_variable:
                ds.createVariable("lat", "f8", ())[...] = latitude
            else:
                ds.latitude = latitude
        ds.site = "Alice Holt"
    return path


# --- reading good files --------------------------------------------------------------------
def test_csv_driver_file_reads_dates_columns_and_metadata(tmp_path):
    table = read_driver_file(write(tmp_path, csv_text()))
    assert isinstance(table, DriverTable) and table.n == 3 and table.step == "1D"
    assert table.time.dtype == np.dtype("datetime64[D]")
    assert table.time.tolist() == [D("1999-12-31").item(), D("2000-01-01").item(),
                                   D("2000-01-02").item()]
    assert (table.latitude, table.longitude, table.site) == (51.15, -0.85, "Alice Holt")
    for j, name in enumerate(("t_min", "t_max", "t_mean", "sw", "co2"), 1):
        np.testing.assert_array_equal(table[name], [row[j] for row in ROWS])
    assert sorted(table.columns) == ["co2", "sw", "t_max", "t_mean", "t_min"]
    # only what is asked for; optional columns only when present
    small = read_driver_file(write(tmp_path, csv_text(header="date,t_min,t_max,sw,co2,x",
                                                      rows=[r[:3] + r[4:] + (9,)
                                                            for r in ROWS]), "b.csv"),
                             optional=("t_mean",))
    assert sorted(small.columns) == ["sw", "t_max", "t_min"]


def test_window_selects_days_and_months(tmp_path):
    table = read_driver_file(write(tmp_path, csv_text()))
    w = table.window("2000-01-01")
    assert w.n == 2 and w.time[0] == D("2000-01-01") and w["sw"].tolist() == [3.0, 4.5]
    assert table.window(end="1999-12").n == 1 and table.window("2000", "2000-01-02").n == 2
    assert w.latitude == 51.15 and w.site == "Alice Holt"
    with pytest.raises(DataError, match=r"outside the file, which covers 1999-12-31 \.\. "
                                        r"2000-01-02"):
        table.window("2000-01-01", "2000-01-05")
    with pytest.raises(DataError, match="start 2000-01-02 is after end 2000-01-01"):
        table.window("2000-01-02", "2000-01-01")
    with pytest.raises(DataError, match="start 'soon' is not a date"):
        table.window("soon")


def test_netcdf_driver_file_equals_the_csv(tmp_path):
    csv_table = read_driver_file(write(tmp_path, csv_text()))
    for lat_as_variable in (False, True):
        nc = write_netcdf(tmp_path / f"d{lat_as_variable}.nc", lat_as_variable=lat_as_variable)
        table = read_driver_file(nc)
        np.testing.assert_array_equal(table.time, csv_table.time)   # 12:00 -> its date
        for name in csv_table.columns:
            np.testing.assert_array_equal(table[name], csv_table[name])
        assert (table.latitude, table.site) == (51.15, "Alice Holt")


def test_latitude_from_the_option_or_agreeing_with_the_file(tmp_path):
    no_lat = write(tmp_path, csv_text(meta=("site = X",)))
    assert read_driver_file(no_lat, latitude=-33.5).latitude == -33.5
    assert read_driver_file(write(tmp_path, csv_text(), "b.csv"), latitude=51.15).latitude \
        == 51.15


def test_the_readme_example_driver_file_reads(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("## Your own site's drivers")[1].split("```text\n")[1].split("```")[0]
    table = read_driver_file(write(tmp_path, block))
    assert (table.n, table.latitude, table.longitude, table.site) == \
        (3, 51.15, -0.85, "Alice Holt")
    assert table["sw"].tolist() == [2.18, 3.02, 1.75] and table["co2"][2] == 366.8


# --- FLUXNET meteorology -> daily drivers --------------------------------------------------
def fluxnet_text(per_day=48, days=("20000101", "20000102"), co2=True, daily=False,
                 edit=None):
    """A FLUXNET file: TA_F = a day's ramp, SW_IN_F = 100 W m-2 by day, 0 by night."""
    if daily:
        lines = ["TIMESTAMP,TA_F,TA_F_QC,SW_IN_F" + (",CO2_F_MDS" if co2 else "")]
        lines += [f"{d},{2.0 + k},0,{150.0 + 10 * k}" + (f",{380 + k}" if co2 else "")
                  for k, d in enumerate(days)]
    else:
        lines = ["TIMESTAMP_START,TIMESTAMP_END,TA_F,SW_IN_F" + (",CO2_F_MDS" if co2 else "")]
        step = 1440 // per_day
        for k, day in enumerate(days):
            for r in range(per_day):
                start = np.datetime64(f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00") + \
                        np.timedelta64(r * step, "m")
                stamp = lambda t: str(t).replace("-", "").replace("T", "").replace(":", "")
                ta = -5.0 + 10.0 * r / (per_day - 1) + k
                sw = 100.0 if per_day // 4 <= r < 3 * per_day // 4 else 0.0
                lines.append(f"{stamp(start)},{stamp(start + np.timedelta64(step, 'm'))},"
                             f"{ta!r},{sw}" + (f",{400.0 + r % 2}" if co2 else ""))
    if edit:
        lines = edit(lines)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("per_day", [48, 24])
def test_fluxnet_half_hourly_and_hourly_to_daily(tmp_path, per_day):
    name = f"FLX_DE-Hai_FLUXNET2015_FULLSET_{'HH' if per_day == 48 else 'HR'}_2000-2000_1-4.csv"
    table = drivers_from_fluxnet(write(tmp_path, fluxnet_text(per_day), name), latitude=51.08)
    assert table.time.tolist() == [D("2000-01-01").item(), D("2000-01-02").item()]
    np.testing.assert_array_equal(table["t_min"], [-5.0, -4.0])
    np.testing.assert_array_equal(table["t_max"], [5.0, 6.0])
    np.testing.assert_allclose(table["t_mean"], [0.0, 1.0], atol=1e-14)
    # half the day at 100 W m-2: mean 50 W m-2 = 50 * 86400 / 1e6 = 4.32 MJ m-2 d-1
    np.testing.assert_allclose(table["sw"], [4.32, 4.32], rtol=1e-15)
    np.testing.assert_allclose(table["co2"], [400.5, 400.5], rtol=1e-15)
    assert (table.site, table.latitude, table.longitude) == ("DE-Hai", 51.08, None)
    assert table.metadata["resolution"] == f"{1440 // per_day} min"


def test_fluxnet_daily_file_as_it_is_and_ameriflux_name(tmp_path):
    path = write(tmp_path, fluxnet_text(daily=True, days=("20000101", "20000102", "20000103")),
                 "AMF_US-Me2_FLUXNET_FULLSET_DD_2000-2000_3-5.csv")
    table = drivers_from_fluxnet(path, latitude=44.4523)
    assert table.site == "US-Me2" and table.n == 3 and "t_min" not in table
    np.testing.assert_array_equal(table["t_mean"], [2.0, 3.0, 4.0])
    np.testing.assert_allclose(table["sw"], [12.96, 13.824, 14.688], rtol=1e-15)
    np.testing.assert_array_equal(table["co2"], [380.0, 381.0, 382.0])
    # CO2 left out on request or when absent; another site name on request
    other = drivers_from_fluxnet(path, latitude=44.4523, site="mine", co2=False)
    assert "co2" not in other and other.site == "mine"


# --- every named error ----------------------------------------------------------------------
def _csv(**kw):
    return lambda tmp: write(tmp, csv_text(**kw))


def _rows(*edits):
    rows = [list(r) for r in ROWS]
    for i, j, value in edits:
        rows[i][j] = value
    return _csv(rows=rows)


def _flx(name="FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2000-2000_1-4.csv", **kw):
    return lambda tmp: write(tmp, fluxnet_text(**kw), name)


def _set(line, column, value):
    def edit(lines):
        cells = lines[line].split(",")
        cells[column] = value
        lines[line] = ",".join(cells)
        return lines
    return edit


BAD = [   # (case, writer, read options, error, message pattern)
    ("no file", lambda tmp: tmp / "none.csv", {}, DataError, r"driver file not found"),
    ("missing column", _csv(header="date,t_min,t_mean,sw,co2,x"), {}, DataError,
     r"missing column\(s\) 't_max' \(degC\); the file has"),
    ("missing date column", _csv(header="day,t_min,t_max,t_mean,sw,co2"), {}, DataError,
     r"missing column\(s\) 'date'"),
    ("non-numeric value", _rows((1, 4, "abc")), {}, DataError,
     r"line 7, column 'sw': expected a number, got 'abc'"),
    ("missing value", _rows((2, 1, "")), {}, DataError,
     r"line 8, column 't_min': missing value on 2000-01-02 \(expected a number in degC"),
    ("NA value", _rows((0, 5, "NA")), {}, DataError,
     r"line 6, column 'co2': missing value on 1999-12-31 \(expected a number in ppm"),
    ("infinite value", _rows((1, 2, "inf")), {}, DataError,
     r"line 7, column 't_max': infinite value"),
    ("bad date", _rows((1, 0, "2000/01/01")), {}, DataError,
     r"line 7, column 'date': expected a date YYYY-MM-DD, got '2000/01/01'"),
    ("date gap", _rows((2, 0, "2000-01-03")), {}, DataError,
     r"a gap of 1 day\(s\): 2000-01-03 \(line 8\) follows 2000-01-01 \(line 7\)"),
    ("duplicate date", _rows((2, 0, "2000-01-01")), {}, DataError,
     r"a duplicate date: 2000-01-01 \(line 8\) follows 2000-01-01 \(line 7\)"),
    ("dates not increasing", _rows((2, 0, "1999-12-30")), {}, DataError,
     r"dates not increasing: 1999-12-30 \(line 8\) follows 2000-01-01"),
    ("latitude outside [-90, 90]", _csv(meta=("latitude = 95",)), {}, DataError,
     r"latitude 95 is not in \[-90, 90\]"),
    ("latitude not a number", _csv(meta=("latitude = north",)), {}, DataError,
     r"line 2: latitude 'north' is not a number"),
    ("latitude option disagrees", _csv(), {"latitude": 44.4523}, DataError,
     r"the latitude option 44.4523 disagrees with the file's latitude 51.15"),
    ("no latitude", _csv(meta=("site = X",)), {}, DataError,
     r"no latitude: give it in the file .* or as the latitude option"),
    ("latitude option outside [-90, 90]", _csv(meta=()), {"latitude": -91.0}, ConfigError,
     r"latitude=-91.0: expected a number of degrees north in \[-90, 90\]"),
    # CF-NetCDF
    ("NetCDF missing variable", lambda tmp: write_netcdf(tmp / "d.nc", drop=("t_max",)), {},
     DataError, r"missing column\(s\) 't_max' \(degC\)"),
    ("NetCDF fill value", lambda tmp: write_netcdf(tmp / "d.nc", fill_sw=True), {}, DataError,
     r"variable 'sw', time index 1 \(2000-01-01\): missing or not finite"),
    ("NetCDF wrong units", lambda tmp: write_netcdf(tmp / "d.nc", sw_units="W m-2"), {},
     DataError, r"variable 'sw': units 'W m-2', expected 'MJ m-2 d-1'"),
    ("NetCDF no time", lambda tmp: write_netcdf(tmp / "d.nc", drop=("time",)), {}, DataError,
     r"no 'time' variable"),
    ("NetCDF time units", lambda tmp: write_netcdf(tmp / "d.nc", units="days"), {},
     DataError, r"variable 'time': units 'days' are not CF time units"),
    ("NetCDF calendar", lambda tmp: write_netcdf(tmp / "d.nc", calendar="360_day"), {},
     DataError, r"calendar '360_day' has no real dates"),
    ("NetCDF time gap", lambda tmp: write_netcdf(tmp / "d.nc", times=(0.0, 1.0, 3.0)), {},
     DataError, r"a gap of 1 day\(s\): 2000-01-03 \(time index 2\) follows 2000-01-01"),
    ("NetCDF latitude", lambda tmp: write_netcdf(tmp / "d.nc", latitude=-120.0), {},
     DataError, r"latitude -120 is not in \[-90, 90\]"),
    ("NetCDF no latitude", lambda tmp: write_netcdf(tmp / "d.nc", latitude=None), {},
     DataError, r"no latitude"),
    ("not NetCDF", lambda tmp: write(tmp, "date,t_min\n", "d.nc"), {}, DataError,
     r"cannot read it as NetCDF"),
]
BAD_FLUXNET = [
    ("FLUXNET missing column", _flx(edit=lambda ls: [l.replace("TA_F", "TA") for l in ls]),
     {"latitude": 51.0}, DataError,
     r"missing FLUXNET column\(s\) 'TA_F' \(air temperature, gap-filled, degC\)"),
    ("FLUXNET no timestamp", _flx(edit=lambda ls: [ls[0].replace("TIMESTAMP_START", "T")]
                                  + ls[1:]),
     {"latitude": 51.0}, DataError, r"not a FLUXNET file: no 'TIMESTAMP_START'"),
    ("FLUXNET -9999", _flx(edit=_set(60, 3, "-9999")), {"latitude": 51.0}, DataError,
     r"line 61, column 'SW_IN_F': missing value \(-9999 or empty\) on day 2000-01-02"),
    ("FLUXNET -9999 CO2", _flx(edit=_set(2, 4, "-9999")), {"latitude": 51.0}, DataError,
     r"line 3, column 'CO2_F_MDS': missing value .* on day 2000-01-01"),
    ("FLUXNET incomplete day", _flx(edit=lambda ls: ls[:-1]), {"latitude": 51.0}, DataError,
     r"day 2000-01-02 has 47 of its 48 records \(line 96\)"),
    ("FLUXNET missing record", _flx(edit=lambda ls: ls[:10] + ls[11:]), {"latitude": 51.0},
     DataError, r"TIMESTAMP_START 2000-01-01T05:00 \(line 11\) follows 2000-01-01T04:00 "
                r"\(line 10\): a gap of 30 minutes"),
    ("FLUXNET duplicate record", _flx(edit=lambda ls: ls[:10] + ls[9:]), {"latitude": 51.0},
     DataError, r"\(line 10\): a duplicate"),
    ("FLUXNET bad timestamp", _flx(edit=_set(3, 0, "2000-01-01 01:00")), {"latitude": 51.0},
     DataError, r"line 4, column 'TIMESTAMP_START': expected a timestamp YYYYMMDDHHMM"),
    ("FLUXNET 15-minute step", _flx(per_day=96), {"latitude": 51.0}, DataError,
     r"the first step is 15 minutes .* expected 30 \(HH\) or 60 \(HR\)"),
    ("FLUXNET daily gap", _flx(daily=True, days=("20000101", "20000103")), {"latitude": 51.0},
     DataError, r"a gap of 1 day\(s\): 2000-01-03 \(line 3\) follows 2000-01-01 \(line 2\)"),
    ("FLUXNET no latitude", _flx(), {}, DataError, r"no latitude"),
    ("FLUXNET latitude outside [-90, 90]", _flx(), {"latitude": 100.0}, ConfigError,
     r"latitude=100.0: expected a number of degrees north in \[-90, 90\]"),
    ("FLUXNET no file", lambda tmp: tmp / "FLX_none.csv", {"latitude": 1.0}, DataError,
     r"FLUXNET file not found"),
]


@pytest.mark.parametrize("case, writer, options, error, pattern",
                         BAD + BAD_FLUXNET, ids=[c[0] for c in BAD + BAD_FLUXNET])
def test_bad_input_is_a_named_error(tmp_path, case, writer, options, error, pattern):
    path = writer(tmp_path)
    read = drivers_from_fluxnet if case.startswith("FLUXNET") else read_driver_file
    with pytest.raises(error, match=pattern) as caught:
        read(path, **options)
    if error is DataError:                       # names the file
        assert str(path) in str(caught.value)


def test_the_good_versions_of_the_bad_cases_read(tmp_path):
    """The writers above make good files when nothing is broken: the errors come from the
    one broken thing."""
    assert read_driver_file(_csv()(tmp_path)).n == 3
    assert read_driver_file(write_netcdf(tmp_path / "d.nc")).n == 3
    assert drivers_from_fluxnet(_flx()(tmp_path), latitude=51.0).n == 2
    assert re.search(r"line 7", str(pytest.raises(DataError, read_driver_file,
                                                  _rows((1, 4, "x"))(tmp_path)).value))
