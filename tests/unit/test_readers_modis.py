"""The ``modis`` reader on the real MOD15A2 LAI subset of US-Me2 (2005), in the ORNL ASCII
subset layout and in the ORNL DAAC subset CSV layout (tests/data/modis/README.md)."""
import csv
from pathlib import Path

import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.readers import read_modis
from pdaframe.observations.readers.modis import decode_qc

DATA = Path(__file__).parents[1] / "data" / "modis"
ASC = DATA / "US-Me2_MOD15A2_2005.asc"
CSV = DATA / "US-Me2_MOD15A2_2005H1_subset.csv"
US_ME2_DAILY = (Path(__file__).parents[2] / "plugins" / "dalec2" / "pdaframe_dalec2" / "data"
                / "US-Me2" / "US-Me2_daily.csv")


def ascii_band(band):
    """``{date: raw pixel values}`` of ``band`` in the ASCII file, read with csv alone."""
    out = {}
    for r in csv.reader(open(ASC)):
        if r[0].endswith("." + band):
            day = np.datetime64(r[2][1:5] + "-01-01") + np.timedelta64(int(r[2][5:]) - 1, "D")
            out[day] = np.array(r[5:], dtype=float)
    return out


def test_decode_qc_bits():
    f = decode_qc([0, 8, 32, 73, 97])
    np.testing.assert_array_equal(f["modland"], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(f["cloud"], [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(f["scf_qc"], [0, 0, 1, 2, 3])


def test_ascii_subset_needs_the_scale_factor():
    with pytest.raises(DataError, match=r"US-Me2_MOD15A2_2005.asc: scale factor of band "
                                        r"'Lai_1km' missing .*give reader_options.scale"):
        read_modis(ASC)


def test_centre_pixel_good_quality_matches_an_independent_reading():
    """QC == 0 composites of the centre pixel x 0.1 = lai_modis_m2_m2 of US-Me2_daily.csv."""
    with open(US_ME2_DAILY, newline="") as fh:
        daily = {r["date"]: float(r["lai_modis_m2_m2"]) for r in csv.DictReader(fh)
                 if r["year"] == "2005"}
    r = read_modis(ASC, scale=0.1, scf_qc=[0], clear_sky=True)
    good = {np.datetime64(d): v for d, v in daily.items() if np.isfinite(v)}
    np.testing.assert_array_equal(r.times, sorted(good))
    np.testing.assert_allclose(r.values, [good[d] for d in sorted(good)], rtol=1e-15)
    assert r.values.size == 35 and r.units == "m2 m-2"
    assert r.record["rows_read"] == 46 and r.record["rejected"] == {"QC": 11}
    assert r.record["layout"] == "ascii" and r.record["scale"] == 0.1


def test_default_qc_keeps_main_algorithm_with_saturation():
    lai, qc = ascii_band("Lai_1km"), ascii_band("FparLai_QC")
    r = read_modis(ASC, scale=0.1)                    # SCF_QC 0 or 1, MODLAND good
    f = {d: decode_qc(q[4]) for d, q in qc.items()}
    expected = sorted(d for d in lai if f[d]["modland"] == 0 and f[d]["scf_qc"] <= 1
                      and lai[d][4] <= 100)
    np.testing.assert_array_equal(r.times, expected)
    np.testing.assert_allclose(r.values, [lai[d][4] * 0.1 for d in expected], rtol=1e-15)
    assert r.values.size == 37


def test_mean_of_good_pixels_and_one_pixel():
    lai, qc = ascii_band("Lai_1km"), ascii_band("FparLai_QC")
    day = np.datetime64("2005-01-25")                 # pixels 6-8 cloudy (QC 8)
    m = read_modis(ASC, scale=0.1, pixel="mean", clear_sky=True)
    good = decode_qc(qc[day])["cloud"] == 0
    assert good.sum() == 6
    assert m.values[list(m.times).index(day)] == pytest.approx(lai[day][good].mean() * 0.1,
                                                               rel=1e-15)
    p1 = read_modis(ASC, scale=0.1, pixel=1)
    assert p1.values[0] == pytest.approx(lai[p1.times[0]][0] * 0.1, rel=1e-15)


def test_csv_layout_gives_the_same_composites_with_std():
    a = read_modis(ASC, scale=0.1, scf_qc=[0])
    c = read_modis(CSV, scf_qc=[0], std_band="LaiStdDev_1km", std_floor=0.1)
    half = a.times <= np.datetime64("2005-06-30")
    np.testing.assert_array_equal(c.times, a.times[half])
    np.testing.assert_array_equal(c.values, a.values[half])
    sd = ascii_band("LaiStdDev_1km")
    np.testing.assert_allclose(c.std, [max(sd[d][4] * 0.1, 0.1) for d in c.times], rtol=1e-15)
    assert c.record["layout"] == "csv" and c.record["scale"] == 0.1
    with pytest.raises(DataError, match=r"band 'LaiStdDev_1km' gives sigma 0 on 2005-04-15; "
                                        r"give reader_options.std_floor"):
        read_modis(CSV, scf_qc=[0], std_band="LaiStdDev_1km")


# --- bad input --------------------------------------------------------------------------


def test_csv_scale_missing(tmp_path):
    text = CSV.read_text()
    bad = tmp_path / "noscale.csv"
    bad.write_text(text.replace("m^2/m^2,0.1,", "m^2/m^2,,"))
    with pytest.raises(DataError, match=r"noscale.csv: scale factor of band 'Lai_1km' missing "
                                        r"\(line \d+, column 'scale' is ''\)"):
        read_modis(bad)
    assert read_modis(bad, scale=0.1, scf_qc=[0]).values.size == 19


def test_bands_columns_and_options_checked(tmp_path):
    with pytest.raises(DataError, match=r"no band 'Lai_500m' \(reader_options.band\); bands "
                                        r"in the file: \['FparLai_QC', 'LaiStdDev_1km', "
                                        r"'Lai_1km'\]"):
        read_modis(CSV, band="Lai_500m")
    with pytest.raises(ConfigError, match="pixel = 10, the file has 9 pixels"):
        read_modis(CSV, pixel=10)
    with pytest.raises(ConfigError, match="pixel = 'corner'"):
        read_modis(CSV, pixel="corner")
    bad = tmp_path / "nodate.csv"
    bad.write_text(CSV.read_text().replace("calendar_date", "day").replace("modis_date", "d2"))
    with pytest.raises(DataError, match="no column 'calendar_date' or 'modis_date'"):
        read_modis(bad)
    text = tmp_path / "text.txt"
    text.write_text("hello,world\n1,2\n")
    with pytest.raises(DataError, match="not a MODIS subset"):
        read_modis(text)


def test_all_composites_rejected(tmp_path):
    winter = tmp_path / "winter.asc"
    winter.write_text("".join(line for line in open(ASC) if ",A2005001," in line))
    with pytest.raises(DataError, match=r"all 1 composites of 'Lai_1km' rejected \(QC: 1\)"):
        read_modis(winter, scale=0.1)
