"""gzip-compressed data files (``*.csv.gz``): `pdaframe.tables.open_text` opens them for
`read_columns`, the ``fluxnet`` reader (`read_header`, its timestamps) and
`drivers_from_fluxnet`; what comes out equals the plain file's, and a damaged or truncated
gzip file is a `DataError` naming the file."""
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from pdaframe.errors import DataError
from pdaframe.models.fluxnet_drivers import drivers_from_fluxnet, is_fluxnet_file
from pdaframe.observations.readers import read_fluxnet
from pdaframe.tables import read_header
from pdaframe.tables import open_text, read_columns

HH = Path(__file__).parents[1] / "data" / "fluxnet" / "US-Me2_L4_2005_HH_in_FLUXNET_layout.csv"
OPTS = {"qc": 1, "uncertainty": "model", "error_model": {"relative": 0.2, "floor": 0.3},
        "units": "g C m-2 d-1"}


@pytest.fixture
def gz(tmp_path):
    """The HH test file gzip-compressed, under a name that does not end in .gz (the magic
    number decides, not the name) and as ``*.csv.gz``."""
    data = gzip.compress(HH.read_bytes(), mtime=0)
    named = tmp_path / (HH.name + ".gz")
    named.write_bytes(data)
    plain_name = tmp_path / "hh_compressed.csv"
    plain_name.write_bytes(data)
    return named, plain_name


def test_open_text_decompresses_by_magic_number(gz):
    for path in gz:
        with open_text(path) as fh:
            assert fh.read() == HH.read_text()
    with open_text(HH) as fh:                      # a plain file stays plain
        assert fh.readline().startswith("TIMESTAMP_START,TIMESTAMP_END,TA_F")


def test_read_columns_reader_and_drivers_equal_the_plain_files(gz):
    cols = ["TIMESTAMP_START", "NEE_VUT_REF", "NEE_VUT_REF_QC"]
    plain = read_columns(HH, cols, text=["TIMESTAMP_START"], line_numbers=True)
    want = read_fluxnet(HH, **OPTS)
    table = drivers_from_fluxnet(HH, latitude=44.4523)
    for path in gz:
        got = read_columns(path, cols, text=["TIMESTAMP_START"], line_numbers=True)
        for c in cols + ["#line"]:
            np.testing.assert_array_equal(got[c], plain[c])
        assert read_header(path) == read_header(HH) and is_fluxnet_file(path)
        r = read_fluxnet(path, **OPTS)
        np.testing.assert_array_equal(r.times, want.times)
        np.testing.assert_array_equal(r.values, want.values)
        np.testing.assert_array_equal(r.std, want.std)
        assert r.record["resolution"] == "HH" and r.record["kept"] == want.record["kept"] == 13
        assert {k: v for k, v in r.record.items() if k != "file"} == \
            {k: v for k, v in want.record.items() if k != "file"}
        t = drivers_from_fluxnet(path, latitude=44.4523)
        np.testing.assert_array_equal(t.time, table.time)
        assert set(t.columns) == set(table.columns) == {"t_min", "t_max", "t_mean", "sw"}
        for c in table.columns:
            np.testing.assert_array_equal(t.columns[c], table.columns[c])
    assert table.time.size == 14


def test_damaged_and_truncated_gzip_files_are_data_errors(gz, tmp_path):
    data = gz[0].read_bytes()
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(data[:len(data) // 2])
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:])
    for path in (truncated, damaged):
        with pytest.raises(DataError, match=rf"{path.name}: damaged gzip file"):
            read_columns(path, ["NEE_VUT_REF"])
        with pytest.raises(DataError, match=rf"{path.name}: damaged gzip file"):
            read_fluxnet(path, **OPTS)
        with pytest.raises(DataError, match=rf"{path.name}: damaged gzip file"):
            drivers_from_fluxnet(path, latitude=44.4523)
    only_magic = tmp_path / "header_damaged.csv.gz"
    only_magic.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(DataError, match="header_damaged.csv.gz: damaged gzip file"):
        read_header(only_magic)
    shutil.copy(HH, tmp_path / "plain.csv.gz")     # a plain file named .gz is read as text
    assert read_columns(tmp_path / "plain.csv.gz", ["TA_F"])["TA_F"].size == 672
