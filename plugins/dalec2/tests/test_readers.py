"""Readers of the bundled site data: real files load right; bad files raise `DataError`."""
import csv
from dataclasses import replace
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from pdaframe import DataError
from pdaframe_dalec2.drivers import Drivers
from pdaframe_dalec2.readers import (data_path, read_de_hai, read_observations,
                                     read_us_me2)

D = np.datetime64


# --- the bundled files -----------------------------------------------------------------------
def test_bundled_files_exist_with_licences():
    for site, extra in (("US-Me2", ("LICENSE-EF_Activities", "NOTICE.md", "README.md")),
                        ("DE-Hai", ("LICENSE-CARDAMOM", "NOTICE-CARDAMOM-FLUXVAL.md",
                                    "README.md"))):
        folder = resources.files("pdaframe_dalec2") / "data" / site
        assert data_path(site).is_file()
        for name in extra:
            assert (folder / name).is_file(), f"{site}/{name}"


def test_us_me2_default_range():
    d = read_us_me2()
    assert isinstance(d, Drivers) and d.n == 1461
    assert d.time.dtype == np.dtype("datetime64[D]")
    assert d.time[0] == D("2004-01-01") and d.time[-1] == D("2007-12-31")
    np.testing.assert_array_equal(np.diff(d.time).astype(int), 1)
    np.testing.assert_array_equal(d.elapsed, np.arange(1, 1462))
    np.testing.assert_array_equal(d.dt, 1.0)
    assert d.latitude == 44.4523 and d.co2 is None and d.site == "US-Me2"
    # spot values straight from the CSV
    for date, doy, t_min, t_max, t_mean, sw in (
            ("2004-01-01", 1, -1.5, 0.7, -0.316667, 2.18268),
            ("2004-02-29", 60, -2.0, 4.0, 0.022917, 10.59318),
            ("2005-07-15", 196, 16.1, 27.7, 22.675, 30.55536),
            ("2007-12-31", 365, -9.3, -1.8, -5.327083, 7.6581)):
        i = int(np.flatnonzero(d.time == D(date))[0])
        assert (d.doy[i], d.t_min[i], d.t_max[i], d.t_mean[i], d.sw[i]) == \
            (doy, t_min, t_max, t_mean, sw), date


def test_us_me2_2002_alone_and_path_forms():
    d = read_us_me2(start="2002-01-01", end="2002-12-31")
    assert d.n == 365 and d.time[0] == D("2002-01-01")
    assert (d.t_min[0], d.t_max[0], d.t_mean[0], d.sw[0]) == (-3.9, 0.2, -2.089583, 0.6444)
    path = data_path("US-Me2")
    for form in (path, str(path), Path(str(path))):
        assert read_us_me2(form, start="2005", end="2005-02").n == 31 + 28
    assert read_us_me2(start=None, end="2002-01-10").n == 10


def test_de_hai_whole_file():
    d = read_de_hai()
    assert d.n == 192
    assert d.time[0] == D("2001-01-01") and d.time[-1] == D("2016-12-01")
    np.testing.assert_array_equal(d.dt, 30.4375)
    assert d.latitude == 51.25 and d.site == "DE-Hai"
    tmin, tmax = -0.5427085886302052, 1.8355758182303816
    assert (d.t_min[0], d.t_max[0], d.sw[0], d.co2[0], d.doy[0], d.elapsed[0]) == \
        (tmin, tmax, 2.7191246347336473, 370.59, 15.21875, 15.21875)
    assert d.t_mean[0] == 0.5 * (tmin + tmax)
    np.testing.assert_array_equal(d.t_mean, 0.5 * (d.t_min + d.t_max))
    assert (d.co2[-1], d.elapsed[-1], d.doy[-1]) == (404.45, 5828.78125, 350.03125)


def test_de_hai_range():
    d = read_de_hai(start="2003-01-01", end="2005-12-31")
    assert d.n == 36 and d.time[0] == D("2003-01-01") and d.time[-1] == D("2005-12-01")
    assert d.elapsed[0] == 745.71875 and d.t_min[0] == -1.1129507455556222
    assert read_de_hai(start="2003-01", end="2005-12").n == 36


def test_observations_us_me2():
    times, nee = read_observations(data_path("US-Me2"), "nee_gC_m2_d", "2004-01-01",
                                   "2007-12-31")
    np.testing.assert_array_equal(times, read_us_me2().time)
    assert np.isfinite(nee).sum() == 318 + 354 + 225 + 310      # per-year counts of the README
    assert nee[times == D("2004-02-29")][0] == -1.522056
    times, lai, sd = read_observations(data_path("US-Me2"), "lai_modis_m2_m2", "2004-01-01",
                                       "2007-12-31", std_column="lai_modis_sd_m2_m2")
    ok = np.isfinite(lai)
    assert ok.sum() == 125 and np.all(np.isfinite(sd[ok]))
    assert (times[ok][0], lai[ok][0], sd[ok][0]) == (D("2004-02-02"), 0.3, 0.1)


@pytest.mark.parametrize("column, n_valid, first, last", [
    ("nee_obs", 62, "2001-03-01", "2006-12-01"),
    ("gpp_obs", 62, "2001-03-01", "2006-12-01"),
    ("lai_obs", 64, "2003-02-01", "2009-11-01"),
])
def test_observations_de_hai(column, n_valid, first, last):
    times, values = read_observations(data_path("DE-Hai"), column)
    np.testing.assert_array_equal(times, read_de_hai().time)
    ok = np.isfinite(values)
    assert ok.sum() == n_valid
    assert times[ok][0] == D(first) and times[ok][-1] == D(last)


def test_observations_de_hai_first_value():
    times, nee = read_observations(data_path("DE-Hai"), "nee_obs", "2001-03", "2001-03")
    assert times.tolist() == [D("2001-03-01").item()] and nee[0] == 1.23911


# --- bad US-Me2-style files ------------------------------------------------------------------
US_COLUMNS = ["date", "year", "doy", "in_tower_file", "t_min_degC", "t_max_degC",
              "t_mean_degC", "sw_in_MJ_m2_d", "nee_gC_m2_d"]


def us_rows(start="2004-01-01", n=10):
    rows = []
    for i in range(n):
        date = D(start) + i
        doy = int((date - date.astype("datetime64[Y]").astype("datetime64[D]")).astype(int)) + 1
        rows.append({"date": str(date), "year": str(date.astype("datetime64[Y]")),
                     "doy": str(doy), "in_tower_file": "1", "t_min_degC": "-1.5",
                     "t_max_degC": str(4.0 + i), "t_mean_degC": "1.25",
                     "sw_in_MJ_m2_d": "3.5", "nee_gC_m2_d": "NaN" if i % 3 else "0.5"})
    return rows


def write_csv(path, rows, columns=None):
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def raises(match_all, func, *args, **kwargs):
    """Call ``func``; it must raise DataError whose message contains every string given."""
    with pytest.raises(DataError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    for text in match_all:
        assert text in message, f"{text!r} not in: {message}"
    return message


def test_small_good_file(tmp_path):
    path = write_csv(tmp_path / "good.csv", us_rows())
    d = read_us_me2(path, start="2004-01-02", end="2004-01-10")
    assert d.n == 9 and d.t_max[0] == 5.0 and d.doy[0] == 2 and d.elapsed[0] == 1
    assert d.source == str(path)
    times, nee = read_observations(path, "nee_gC_m2_d")
    assert times.size == 10 and np.isnan(nee[1]) and nee[3] == 0.5


def test_missing_file(tmp_path):
    raises(["not found", "nope.csv"], read_us_me2, tmp_path / "nope.csv")


def test_missing_column(tmp_path):
    rows = us_rows()
    path = write_csv(tmp_path / "bad.csv", rows, [c for c in US_COLUMNS if c != "t_max_degC"])
    raises(["bad.csv", "missing column", "t_max_degC"], read_us_me2, path, "2004-01-01",
           "2004-01-10")


@pytest.mark.parametrize("old, new, unit", [("t_min_degC", "t_min_degF", "degF"),
                                            ("t_mean_degC", "t_mean_K", "K"),
                                            ("sw_in_MJ_m2_d", "sw_in_W_m2", "W_m2")])
def test_wrong_unit_suffix(tmp_path, old, new, unit):
    rows = [{(new if k == old else k): v for k, v in r.items()} for r in us_rows()]
    path = write_csv(tmp_path / "units.csv", rows)
    raises(["units.csv", new, repr(unit), old], read_us_me2, path, "2004-01-01", "2004-01-10")


@pytest.mark.parametrize("column, cell", [("t_max_degC", "NaN"), ("t_min_degC", ""),
                                          ("sw_in_MJ_m2_d", "abc"), ("t_mean_degC", "inf")])
def test_missing_or_non_numeric_driver(tmp_path, column, cell):
    rows = us_rows()
    rows[4][column] = cell
    path = write_csv(tmp_path / "nan.csv", rows)
    words = ["nan.csv", repr(column), "2004-01-05"] + (["expected a number, got 'abc'"]
                                                        if cell == "abc" else ["missing"])
    raises(words, read_us_me2, path, "2004-01-01", "2004-01-10")
    # outside the requested range a missing value does not matter ("abc" always does)
    if cell != "abc":
        assert read_us_me2(path, "2004-01-06", "2004-01-10").n == 5


def test_implausible_drivers(tmp_path):
    rows = us_rows()
    rows[2]["t_min_degC"] = "30"
    raises(["t_min_degC", "2004-01-03"], read_us_me2, write_csv(tmp_path / "a.csv", rows),
           "2004-01-01", "2004-01-10")
    rows = us_rows()
    rows[6]["sw_in_MJ_m2_d"] = "-1"
    raises(["sw_in_MJ_m2_d", "negative", "2004-01-07"], read_us_me2,
           write_csv(tmp_path / "b.csv", rows), "2004-01-01", "2004-01-10")


@pytest.mark.parametrize("change, kind, dates", [
    (lambda rows: rows[:4] + rows[5:], "gap of 1 day", ["2004-01-06", "2004-01-04"]),
    (lambda rows: rows[:5] + [rows[4]] + rows[5:], "duplicate", ["2004-01-05"]),
    (lambda rows: rows[:3] + [rows[4], rows[3]] + rows[5:], "out of order",
     ["2004-01-04", "2004-01-05"]),
])
def test_non_consecutive_dates(tmp_path, change, kind, dates):
    path = write_csv(tmp_path / "dates.csv", change(us_rows()))
    raises(["dates.csv", "'date'", kind] + dates, read_us_me2, path, "2004-01-01",
           "2004-01-09")
    raises(["dates.csv", kind], read_observations, path, "nee_gC_m2_d")


def test_bad_date_cell_and_doy(tmp_path):
    rows = us_rows()
    rows[2]["date"] = "2004/01/03"
    raises(["baddate.csv", "'date'", "2004/01/03"], read_us_me2,
           write_csv(tmp_path / "baddate.csv", rows), "2004-01-01", "2004-01-10")
    rows = us_rows()
    rows[2]["doy"] = "4"
    raises(["doy.csv", "'doy'", "2004-01-03"], read_us_me2,
           write_csv(tmp_path / "doy.csv", rows), "2004-01-01", "2004-01-10")


def test_hole_in_small_file(tmp_path):
    rows = us_rows()
    for r in rows[3:5]:
        r.update(in_tower_file="0", t_min_degC="NaN")
    path = write_csv(tmp_path / "hole.csv", rows)
    raises(["hole.csv", "no tower data", "2004-01-04 .. 2004-01-05", "2 requested day"],
           read_us_me2, path, "2004-01-01", "2004-01-10")
    assert read_us_me2(path, "2004-01-06", "2004-01-10").n == 5


@pytest.mark.parametrize("start, end", [("2002-06-01", "2004-06-01"),
                                        ("2003-03-01", "2003-03-31"),
                                        ("2002-12-31", "2004-01-01")])
def test_2003_hole_real_file(start, end):
    message = raises(["US-Me2_daily.csv", "no tower data", "2002", "2004"],
                     read_us_me2, start=start, end=end)
    assert re.search(r"2003-\d\d-\d\d \.\. 2003-\d\d-\d\d", message)


@pytest.mark.parametrize("start, end, words", [
    ("2004-01-08", "2004-01-03", ["start 2004-01-08 is after end 2004-01-03"]),
    ("2003-12-31", "2004-01-05", ["outside the file", "2004-01-01 .. 2004-01-10"]),
    ("2004-01-01", "2004-01-11", ["outside the file"]),
    ("2004-13-01", "2004-12-31", ["start", "'2004-13-01'", "not a date"]),
    ("2004-01-01", "soon", ["end", "'soon'", "not a date"]),
])
def test_bad_ranges(tmp_path, start, end, words):
    path = write_csv(tmp_path / "range.csv", us_rows())
    raises(["range.csv"] + words, read_us_me2, path, start, end)
    raises(["range.csv"] + words, read_observations, path, "nee_gC_m2_d", start, end)


def test_range_outside_real_file():
    raises(["outside the file", "2002-01-01 .. 2007-12-31"], read_us_me2,
           start="2001-12-31", end="2002-12-31")
    raises(["outside the file"], read_us_me2, start="2007-01-01", end="2008-01-01")


# --- bad DE-Hai-style files ------------------------------------------------------------------
def de_rows(n=4):
    rows = []
    for i in range(n):
        projday = 15.21875 + 30.4375 * i
        rows.append({"step": str(i + 1), "year": "2001", "month": str(i + 1),
                     "projday": repr(projday), "tmin": "1.0", "tmax": "6.0", "ssrd": "5.0",
                     "co2": "370.5", "doy": repr(projday % 365.25), "nee_obs": "nan"})
    return rows


def test_de_hai_small_good_file(tmp_path):
    d = read_de_hai(write_csv(tmp_path / "hai.csv", de_rows()), start="2001-02", end="2001-03")
    assert d.n == 2 and d.time[0] == D("2001-02-01") and d.elapsed[0] == 45.65625
    assert d.t_mean[0] == 3.5 and d.dt[0] == 30.4375


def test_de_hai_missing_column(tmp_path):
    rows = de_rows()
    path = write_csv(tmp_path / "hai.csv", rows, [c for c in rows[0] if c != "co2"])
    raises(["hai.csv", "missing column", "co2"], read_de_hai, path)


@pytest.mark.parametrize("column, cell", [("tmin", "nan"), ("ssrd", "x"), ("co2", "-1")])
def test_de_hai_bad_value(tmp_path, column, cell):
    rows = de_rows()
    rows[2][column] = cell
    raises(["hai.csv", column, "2001-03-01"], read_de_hai, write_csv(tmp_path / "hai.csv", rows))


def test_de_hai_months_and_projday(tmp_path):
    rows = de_rows()
    raises(["hai.csv", "year/month", "gap of 1 month", "2001-04", "2001-02"], read_de_hai,
           write_csv(tmp_path / "hai.csv", rows[:2] + rows[3:]))
    raises(["dup.csv", "year/month", "duplicate", "2001-02"], read_de_hai,
           write_csv(tmp_path / "dup.csv", rows[:2] + rows[1:]))
    rows = de_rows()
    rows[3]["projday"] = "100"
    raises(["step.csv", "projday", "2001-03-01"], read_de_hai,
           write_csv(tmp_path / "step.csv", rows))
    rows = de_rows()
    rows[1]["month"] = "1.5"
    raises(["frac.csv", "month"], read_de_hai, write_csv(tmp_path / "frac.csv", rows))


def test_de_hai_ranges(tmp_path):
    path = write_csv(tmp_path / "hai.csv", de_rows())
    raises(["after"], read_de_hai, path, start="2001-03", end="2001-02")
    raises(["outside the file", "2001-01-01 .. 2001-04-30"], read_de_hai, path,
           start="2001-01", end="2001-05-01")
    assert read_de_hai(path, end="2001-04-30").n == 4


def test_observations_errors(tmp_path):
    path = write_csv(tmp_path / "obs.csv", us_rows())
    raises(["obs.csv", "missing column", "lai"], read_observations, path, "lai")
    path = write_csv(tmp_path / "notime.csv", [{"a": "1", "b": "2"}])
    raises(["notime.csv", "no time column"], read_observations, path, "a")


def test_drivers_of_wrong_length_or_nan():
    good = read_us_me2(start="2005-01-01", end="2005-01-10")
    with pytest.raises(DataError, match=r"driver 't_max' has shape \(9,\), expected \(10,\)"):
        replace(good, t_max=good.t_max[:-1])
    t_min = good.t_min.copy()
    t_min[3] = np.nan
    with pytest.raises(DataError, match="driver 't_min' is missing or not finite on 2005-01-04"):
        replace(good, t_min=t_min)
