"""The SPOTPY-format reader: the bundled data, and named errors for bad files."""
import numpy as np
import pytest

from pdaframe import ConfigError, DataError
from pdaframe_hymod import Hymod, bundled_file, read_forcing

HEADER = "Date;rainfall[mm];TURC [mm d-1];Discharge[ls-1]\n"


def test_bundled_data():
    f = read_forcing()
    assert f.n == 1827
    assert f.time[0] == np.datetime64("2012-01-01") and f.time[-1] == np.datetime64("2016-12-31")
    assert f.precip[0] == pytest.approx(2.052861283) and f.pet[0] == 0.35
    assert np.isnan(f.discharge_ls[:366]).all() and np.isfinite(f.discharge_ls[366:]).all()
    assert f.discharge_ls[366] == pytest.approx(24.418331)
    assert (bundled_file().parent / "LICENSE-SPOTPY").is_file()


def write(tmp_path, text):
    path = tmp_path / "in.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("Date;rainfall[mm];Discharge[ls-1]\n01.01.2012;1;2\n",
     r"missing column\(s\) \['TURC \[mm d-1\]'\]"),
    (HEADER + "2012-01-01;1;0.5;nan\n", r"line 2, column 'Date': expected a date dd.mm.yyyy"),
    (HEADER + "01.01.2012;abc;0.5;nan\n", r"line 2, column 'rainfall\[mm\]': expected a number"),
    (HEADER + "01.01.2012;nan;0.5;nan\n", r"line 2, column 'rainfall\[mm\]': missing value"),
    (HEADER + "01.01.2012;1;0.5\n", "line 2: 3 fields, the header has 4"),
    (HEADER + "01.01.2012;1;-0.5;nan\n", r"'pet' must be finite and >= 0"),
    (HEADER, "no data rows"),
])
def test_bad_file_is_data_error(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=match) as info:
        read_forcing(path)
    assert "in.csv" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="HYMOD forcing file not found"):
        Hymod(drivers_file=tmp_path / "nope.csv")


def test_small_file_and_bad_warmup(tmp_path):
    path = write(tmp_path, HEADER + "01.01.2012;10;0.5;nan\n02.01.2012;0;0.5;3.5\n")
    model = Hymod(drivers_file=path)
    out = model.run(model.defaults)
    assert out["discharge"].shape == (2,) and out["discharge"][0] > 0
    for warmup in (2, -1, 1.5, True):
        with pytest.raises(ConfigError, match=r"warmup must be a whole number of days in \[0, 2\)"):
            Hymod(drivers_file=path, warmup=warmup)
