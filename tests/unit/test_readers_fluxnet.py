"""The ``fluxnet`` reader on real tower data: US-Me2 2005 (AmeriFlux L4) in the FLUXNET DD and
HH layouts (tests/data/fluxnet/README.md), checked against the independent daily aggregation
of the DALEC2 plugin's ``US-Me2_daily.csv``; plus small files written in the documented
layout for the uncertainty columns the L4 source lacks, and, when present, a FLUXNET2015
FULLSET file as released (US-Wi7; see the README for why it is not in git)."""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.readers import UMOL_TO_GC_DAY, read_fluxnet

DATA = Path(__file__).parents[1] / "data" / "fluxnet"
DD = DATA / "US-Me2_L4_2005_DD_in_FLUXNET_layout.csv"
HH = DATA / "US-Me2_L4_2005_HH_in_FLUXNET_layout.csv"
WI7 = DATA / "FLX_US-Wi7_FLUXNET2015_FULLSET_DD_2005-2005_1-4.csv"
US_ME2_DAILY = (Path(__file__).parents[2] / "plugins" / "dalec2" / "pdaframe_dalec2" / "data"
                / "US-Me2" / "US-Me2_daily.csv")
MODEL = {"relative": 0.2, "floor": 0.3}


def columns(path):
    """The file's cells as floats (NaN for -9999), read with the csv module alone."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([np.nan if float(r[k]) == -9999 else float(r[k]) for r in rows])
            if k != "TIMESTAMP" else np.array([r[k] for r in rows]) for k in rows[0]}


def daily(column):
    """``{date: value}`` of a column of US-Me2_daily.csv for 2005 (NaN kept)."""
    with open(US_ME2_DAILY, newline="") as fh:
        return {np.datetime64(r["date"]): float(r[column]) for r in csv.DictReader(fh)
                if r["year"] == "2005"}


def test_factor():
    assert UMOL_TO_GC_DAY == pytest.approx(1.0377504, abs=1e-12)


def test_dd_qc_fraction_gives_the_daily_files_nee_mask():
    """QC = fraction of good half-hours; QC >= 39/48 keeps exactly the days that the
    independent aggregation kept (fewer than 10 poor half-hours), with the same values."""
    nee, n_poor = daily("nee_gC_m2_d"), daily("nee_n_poor")
    r = read_fluxnet(DD, qc=39 / 48, uncertainty="model", error_model=MODEL)
    kept = sorted(d for d, v in nee.items() if np.isfinite(v))
    np.testing.assert_array_equal(r.times, kept)
    assert len(kept) == 354 and sum(n_poor[d] == 9 for d in kept) == 1   # the edge passes
    np.testing.assert_allclose(r.values, [nee[d] for d in kept], atol=1e-6)
    np.testing.assert_allclose(r.std, 0.3 + 0.2 * np.abs(r.values), rtol=1e-15)
    c = columns(DD)
    np.testing.assert_allclose(c["NEE_VUT_REF_QC"], [(48 - n_poor[d]) / 48 for d in
                                                      sorted(n_poor)], atol=5e-7)
    rec = r.record
    assert rec["resolution"] == "DD" and rec["rows_read"] == 365 and rec["kept"] == 354
    assert rec["rejected"] == {"NEE_VUT_REF_QC < 0.8125": 11}
    assert rec["qc_rule"] == "NEE_VUT_REF_QC >= 0.8125"
    assert rec["error_model"] == "sigma = 0.3 + 0.2 * |value|"
    assert r.units == "g C m-2 d-1"


def test_dd_units_and_partitioned_fluxes():
    c = columns(DD)
    r = read_fluxnet(DD, uncertainty="none", units="µmol CO2 m-2 s-1")
    np.testing.assert_allclose(r.values, c["NEE_VUT_REF"] / 1.0377504, rtol=1e-15)
    assert r.units == "umol m-2 s-1" and r.record["unit_factor"] == pytest.approx(1 / 1.0377504)
    gpp = daily("gpp_gC_m2_d")                         # masked by NEE's QC, like the reader
    g = read_fluxnet(DD, variable="GPP_NT_VUT_REF", qc=39 / 48, uncertainty="none")
    assert g.record["qc_column"] == "NEE_VUT_REF_QC"
    np.testing.assert_allclose(g.values, [gpp[d] for d in g.times], atol=1e-6)
    le = read_fluxnet(DD, variable="LE_F_MDS", qc=1.0, uncertainty="none")
    good = c["LE_F_MDS_QC"] == 1.0                     # the threshold itself passes
    np.testing.assert_array_equal(le.values, c["LE_F_MDS"][good])
    assert le.units == "W m-2" and good.sum() == le.values.size > 300


def write_dd(path, unc_missing=(1, 3)):
    """A DD file in the FLUXNET2015 layout with uncertainty columns (written here)."""
    v = np.array([-1.5, 0.25, -2.0, 1.0, -0.5])
    qc = np.array([1.0, 0.9, 0.4, 0.85, 0.95])
    joint = np.array([0.6, 0.5, 0.7, 0.4, 0.3])
    rand = np.array([0.4, 0.3, 0.5, 0.2, 0.1])
    joint[list(unc_missing)] = -9999
    rows = [f"200507{d:02d},{a},{b},{c},{e}" for d, a, b, c, e in
            zip(range(1, 6), v, qc, rand, joint)]
    path.write_text("TIMESTAMP,NEE_VUT_REF,NEE_VUT_REF_QC,NEE_VUT_REF_RANDUNC,"
                    "NEE_VUT_REF_JOINTUNC\n" + "\n".join(rows) + "\n")
    return v, qc, rand, joint


def test_uncertainty_columns_as_sigma(tmp_path):
    path = tmp_path / "FLX_XX-Abc_FLUXNET2015_FULLSET_DD_2005-2005_1-4.csv"
    v, qc, rand, joint = write_dd(path)
    r = read_fluxnet(path, qc=0.8)                    # rows 1 and 3 lack JOINTUNC, 2 fails QC
    np.testing.assert_array_equal(r.values, v[[0, 4]])
    np.testing.assert_array_equal(r.std, joint[[0, 4]])
    assert r.record["rejected"] == {"NEE_VUT_REF_QC < 0.8": 1, "no NEE_VUT_REF_JOINTUNC": 2}
    m = read_fluxnet(path, qc=0.8, error_model=MODEL)
    np.testing.assert_array_equal(m.values, v[[0, 1, 3, 4]])
    np.testing.assert_allclose(m.std, [0.6, 0.3 + 0.2 * 0.25, 0.3 + 0.2 * 1.0, 0.3],
                               rtol=1e-15)
    rnd = read_fluxnet(path, uncertainty="RANDUNC", units="umol m-2 s-1")
    np.testing.assert_allclose(rnd.std, rand / 1.0377504, rtol=1e-15)


@pytest.mark.skipif(not WI7.exists(), reason="the FLUXNET2015 US-Wi7 file is not in git "
                                             "(tests/data/fluxnet/README.md)")
def test_fluxnet2015_release_file():
    c = columns(WI7)
    r = read_fluxnet(WI7, qc=0.5)
    keep = (c["NEE_VUT_REF_QC"] >= 0.5) & np.isfinite(c["NEE_VUT_REF_JOINTUNC"])
    assert keep.sum() == 169 and r.record["site"] == "US-Wi7"
    np.testing.assert_array_equal(r.values, c["NEE_VUT_REF"][keep])
    np.testing.assert_array_equal(r.std, c["NEE_VUT_REF_JOINTUNC"][keep])


def test_hh_days_match_an_independent_aggregation():
    """Daily means of the real half-hours x 1.0377504 = the sums of aggregate_daily.py."""
    with open(US_ME2_DAILY, newline="") as fh:
        daily = {r["date"]: r for r in csv.DictReader(fh)}
    r = read_fluxnet(HH, uncertainty="none", units="g C m-2 d-1")
    assert r.record["resolution"] == "HH"               # from the timestamps: 30 min steps
    assert r.record["steps_read"] == 672 and r.values.size == 14
    expected = [float(daily[str(d)]["nee_filled_gC_m2_d"]) for d in r.times]
    np.testing.assert_allclose(r.values, expected, atol=5e-7)     # the CSV has 6 decimals
    assert r.values[0] == pytest.approx(-0.68716372, abs=1e-8)
    # QC flag <= 1 with >= 39 of 48 half-hours kept = the daily file's NEE mask (n_poor < 10)
    q = read_fluxnet(HH, uncertainty="none", units="g C m-2 d-1", qc=1, min_fraction=39 / 48)
    observed = [d for d in r.times if np.isfinite(float(daily[str(d)]["nee_gC_m2_d"]))]
    np.testing.assert_array_equal(q.times, np.array(observed))
    assert np.datetime64("2005-02-11") not in q.times
    assert q.record["rejected"] == {"NEE_VUT_REF_QC > 1 (HH steps)": 21,
                                    "day with < 0.8125 of its steps kept": 1}


def write_hh(path, days=2, unc=2.0, qc=None):
    t0 = np.datetime64("2005-07-01T00:00") + np.arange(48 * days) * np.timedelta64(30, "m")
    stamp = [str(t).replace("-", "").replace("T", "").replace(":", "") for t in t0]
    end = [str(t).replace("-", "").replace("T", "").replace(":", "")
           for t in t0 + np.timedelta64(30, "m")]
    v = np.sin(np.arange(t0.size) / 7.0)
    q = np.zeros(t0.size, dtype=int) if qc is None else qc
    rows = [f"{a},{b},{float(x)!r},{f},{unc}" for a, b, x, f in zip(stamp, end, v, q)]
    path.write_text("TIMESTAMP_START,TIMESTAMP_END,NEE_VUT_REF,NEE_VUT_REF_QC,"
                    "NEE_VUT_REF_RANDUNC\n" + "\n".join(rows) + "\n")
    return v


def test_hh_daily_error_is_root_sum_square(tmp_path):
    path = tmp_path / "AMF_US-Xyz_FLUXNET_FULLSET_HH_2005-2005_3-5.csv"
    qc = np.zeros(96, dtype=int)
    qc[50:55] = 2                                     # day 2: 5 half-hours rejected
    v = write_hh(path, qc=qc)
    r = read_fluxnet(path, uncertainty="RANDUNC", qc=1)
    assert r.record["resolution"] == "HH" and r.record["site"] == "US-Xyz"
    np.testing.assert_allclose(r.values, [v[:48].mean(), np.r_[v[48:50], v[55:]].mean()],
                               rtol=1e-14)
    np.testing.assert_allclose(r.std, [2.0 / np.sqrt(48), 2.0 / np.sqrt(43)], rtol=1e-14)
    strict = read_fluxnet(path, uncertainty="RANDUNC", qc=1, min_fraction=0.95)
    np.testing.assert_array_equal(strict.times, [np.datetime64("2005-07-01")])


# --- bad input: each a named error naming file, line or column, and the option ----------


def test_missing_or_renamed_column(tmp_path):
    bad = tmp_path / DD.name
    bad.write_text(DD.read_text().replace("NEE_VUT_REF,", "NEE_VUT_REFX,", 1))
    with pytest.raises(DataError, match=r"no column 'NEE_VUT_REF' \(reader_options.variable\)"
                                        r"; similar columns: \['NEE_VUT_REFX'"):
        read_fluxnet(bad)
    with pytest.raises(DataError, match="no column 'GPP_NT_VUT_REF_JOINTUNC'"):
        read_fluxnet(DD, variable="GPP_NT_VUT_REF")
    with pytest.raises(DataError, match="data file not found"):
        read_fluxnet(tmp_path / "none.csv")


def test_qc_column_of_the_wrong_length(tmp_path):
    lines = DD.read_text().splitlines()
    lines[30] = lines[30].rsplit(",", 1)[0]          # a row one cell short
    bad = tmp_path / DD.name
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 31: 8 fields, the header has 9"):
        read_fluxnet(bad, qc=0.5, uncertainty="none")


def test_qc_values_and_rules_checked(tmp_path):
    lines = DD.read_text().splitlines()
    cells = lines[5].split(",")
    cells[6] = "7"                                   # NEE_VUT_REF_QC is a fraction
    lines[5] = ",".join(cells)
    bad = tmp_path / DD.name
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 6, column 'NEE_VUT_REF_QC': QC 7, expected a "
                                        r"fraction in \[0, 1\]"):
        read_fluxnet(bad, qc=0.5, uncertainty="none")
    with pytest.raises(ConfigError, match=r"qc = 2; a DD file needs a fraction in \[0, 1\]"):
        read_fluxnet(DD, qc=2)
    with pytest.raises(ConfigError, match=r"qc = 0.5; a HH file needs a flag 0, 1, 2 or 3"):
        read_fluxnet(HH, qc=0.5, uncertainty="none")
    with pytest.raises(ConfigError, match="uncertainty = 'JOINT'"):
        read_fluxnet(DD, uncertainty="JOINT")
    with pytest.raises(ConfigError, match="'model' needs error_model"):
        read_fluxnet(DD, uncertainty="model")
    with pytest.raises(ConfigError, match="error_model with uncertainty = 'none'"):
        read_fluxnet(DD, uncertainty="none", error_model=MODEL)
    with pytest.raises(ConfigError, match="qc = 'high'; a DD file needs a fraction"):
        read_fluxnet(DD, qc="high", uncertainty="none")
    with pytest.raises(ConfigError, match="error_model = {'relative': 0.2}"):
        read_fluxnet(DD, uncertainty="model", error_model={"relative": 0.2})


def test_all_rows_rejected_by_qc(tmp_path):
    lines = DD.read_text().splitlines()
    poor = [x for x in lines[1:] if x[:8] in ("20050116", "20050117", "20050211")]
    bad = tmp_path / DD.name
    bad.write_text("\n".join([lines[0], *poor]) + "\n")
    with pytest.raises(DataError, match=r"all 3 rows of 'NEE_VUT_REF' rejected "
                                        r"\(NEE_VUT_REF_QC < 0.8125: 3\); loosen "
                                        r"reader_options.qc"):
        read_fluxnet(bad, qc=39 / 48, uncertainty="none")


def test_units_not_convertible(tmp_path):
    with pytest.raises(ConfigError, match=r"reader_options.units: cannot convert 'W m-2' to "
                                          r"'g C m-2 d-1'"):
        read_fluxnet(DD, variable="LE_F_MDS", uncertainty="none", units="g C m-2 d-1")
    odd = tmp_path / DD.name
    odd.write_text(DD.read_text().replace("TA_F,", "T_SONIC,", 1))
    with pytest.raises(ConfigError, match="units of 'T_SONIC' not known; give "
                                          "reader_options.file_units"):
        read_fluxnet(odd, variable="T_SONIC", uncertainty="none", units="K")
    assert read_fluxnet(odd, variable="T_SONIC", uncertainty="none", units="K",
                        file_units="K").values[0] == -2.30625


def test_resolution_needed_when_name_and_stamps_do_not_tell(tmp_path):
    odd = tmp_path / "fluxes.csv"
    odd.write_text("TIME,NEE_VUT_REF\n2005,1.0\n")
    with pytest.raises(DataError, match="resolution not found"):
        read_fluxnet(odd)
    dd = tmp_path / "site_daily.csv"                 # no FLUXNET name: TIMESTAMP decides
    shutil.copy(DD, dd)
    assert read_fluxnet(dd, qc=0.5, uncertainty="none").record["resolution"] == "DD"


@pytest.mark.parametrize("res, stamps, first", [
    ("MM", ["200501", "200502", "200503"], ["2005-01-01", "2005-02-01", "2005-03-01"]),
    ("YY", ["2004", "2005", "2006"], ["2004-01-01", "2005-01-01", "2006-01-01"]),
])
def test_monthly_and_yearly_files(tmp_path, res, stamps, first):
    path = tmp_path / f"FLX_XX-Abc_FLUXNET2015_FULLSET_{res}_2004-2006_1-4.csv"
    rows = [f"{t},{0.5 * k - 1},{0.9 - 0.3 * k},0.25" for k, t in enumerate(stamps)]
    path.write_text("TIMESTAMP,NEE_VUT_REF,NEE_VUT_REF_QC,NEE_VUT_REF_JOINTUNC\n"
                    + "\n".join(rows) + "\n")
    r = read_fluxnet(path, qc=0.5)                   # QC 0.9, 0.6 pass, 0.3 does not
    np.testing.assert_array_equal(r.times, np.array(first[:2], dtype="datetime64[D]"))
    np.testing.assert_array_equal(r.values, [-1.0, -0.5])
    assert r.units == ("g C m-2 y-1" if res == "YY" else "g C m-2 d-1")


def test_weekly_file_dated_by_its_first_day(tmp_path):
    path = tmp_path / "AMF_US-Abc_FLUXNET_FULLSET_WW_2005-2005_3-5.csv"
    path.write_text("TIMESTAMP_START,TIMESTAMP_END,NEE_VUT_REF,NEE_VUT_REF_JOINTUNC\n"
                    "20050101,20050107,-0.5,0.2\n20050108,20050114,-9999,0.2\n"
                    "20050115,20050121,0.25,0.3\n")
    r = read_fluxnet(path)
    np.testing.assert_array_equal(r.times, np.array(["2005-01-01", "2005-01-15"],
                                                    dtype="datetime64[D]"))
    np.testing.assert_array_equal(r.std, [0.2, 0.3])
    assert r.record["rejected"] == {"missing value": 1}
    with pytest.raises(DataError, match=r"lines 3 and 4, column 'TIMESTAMP_START': 2005-01-08 "
                                        r"does not follow 2005-01-15"):
        path.write_text("TIMESTAMP_START,TIMESTAMP_END,NEE_VUT_REF,NEE_VUT_REF_JOINTUNC\n"
                        "20050101,20050107,-0.5,0.2\n20050115,20050121,0.25,0.3\n"
                        "20050108,20050114,1.0,0.2\n")
        read_fluxnet(path)
