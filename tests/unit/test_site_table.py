"""The site attribute table (`pdaframe.sites.read_site_table`): a good file read back with
its columns and groups, and each bad input a `DataError` naming file, line and column."""
import numpy as np
import pytest

from pdaframe.errors import DataError
from pdaframe.sites import read_site_table

GOOD = """# a comment
site,pft,soil,lat,lon,elevation
US-Me2,evergreen,loam,44.45,-121.56,1253
DE-Hai,deciduous,clay,51.08,10.45,430
FR-Pue,evergreen,sand,43.74,3.6,270
"""


def write(tmp_path, text, name="sites.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_table(tmp_path):
    table = read_site_table(write(tmp_path, GOOD))
    assert table.sites == ("US-Me2", "DE-Hai", "FR-Pue")
    assert all(type(s) is str for s in table.sites)
    np.testing.assert_array_equal(table.column("lat"), [44.45, 51.08, 43.74])
    np.testing.assert_array_equal(table.column("elevation"), [1253.0, 430.0, 270.0])
    assert table.column("elevation").dtype == float
    assert table.groups("pft") == {"evergreen": ["US-Me2", "FR-Pue"], "deciduous": ["DE-Hai"]}
    assert table.groups("soil") == {"loam": ["US-Me2"], "clay": ["DE-Hai"], "sand": ["FR-Pue"]}
    with pytest.raises(DataError, match=r"no column 'height'.*'elevation'"):
        table.column("height")


def test_site_column_only(tmp_path):
    table = read_site_table(write(tmp_path, "site\na\nb\n"))
    assert table.sites == ("a", "b") and list(table.columns) == ["site"]


@pytest.mark.parametrize("text, message", [
    ("pft,lat\nevergreen,40\n", r"no 'site' column"),
    ("site,lat,lat\na,1,2\n", r"\['lat'\] appear more than once"),
    ("site,lat\na,1\na,2\n", r"line 3, column 'site': site 'a' again \(first on line 2\)"),
    ("site,lat\na,1\n,2\n", r"line 3, column 'site': empty site name"),
    ("site,lat\na,1\nb,NaN\n", r"line 3, column 'lat': missing value \(site 'b'\)"),
    ("site,elev\na,1\nb,\n", r"line 3, column 'elev': missing value"),
    ("site,elev\na,1\nb,high\n", r"line 3, column 'elev': expected a number, got 'high'"),
    ("site,lat\na,1\nb,90.5\n", r"line 3, column 'lat': 90.5 is outside \[-90, 90\]"),
    ("site,lat\na,-90.01\n", r"line 2, column 'lat': -90.01 is outside"),
    ("site,lon\na,359\nb,360\n", r"line 3, column 'lon': 360 is outside \[-180, 360\)"),
    ("site,lon\na,-180.5\n", r"line 2, column 'lon': -180.5 is outside"),
    ("# only a comment\n", r"empty file"),
])
def test_bad_tables(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        read_site_table(path)
    assert str(path) in str(err.value)


def test_bounds_are_inclusive_where_documented(tmp_path):
    table = read_site_table(write(tmp_path, "site,lat,lon\na,-90,-180\nb,90,359.99\n"))
    np.testing.assert_array_equal(table.column("lat"), [-90.0, 90.0])


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"site table not found: .*nope\.csv"):
        read_site_table(tmp_path / "nope.csv")
