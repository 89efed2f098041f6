"""Write US-Me2 files in the FLUXNET/ONEFlux layout from the AmeriFlux L4 files.

The test files (from the L4 file of 2005, in this folder):

- ``US-Me2_L4_2005_HH_in_FLUXNET_layout.csv``: the real half-hours of 2005-01-31 ..
  2005-02-13 with the L4 columns renamed (values copied as text, unchanged).
- ``US-Me2_L4_2005_DD_in_FLUXNET_layout.csv``: every day of 2005, aggregated like ONEFlux DD
  files: the day's mean of the 48 half-hours (carbon fluxes x 12.011e-6 x 86400 to
  g C m-2 d-1; SW_IN_F and LE_F_MDS in W m-2; TA_F in deg C), ``-9999`` if a half-hour is
  missing, and ``<VAR>_QC`` = the fraction of the day's half-hours that are measured or
  good-quality gap-filled (L4 flag 0 or 1).

The L4 file stamps the end of each half-hour (Month, Day, Hour); the FLUXNET layout has
``TIMESTAMP_START``/``TIMESTAMP_END`` (HH) and ``TIMESTAMP`` (DD).

The site file of ``examples/fluxnet_site`` (``--example OUT.csv.gz`` and the L4 files of
consecutive years): every half-hour of those years in the HH layout with only the columns the
example reads (``EXAMPLE_COLUMNS``), values copied as text, unchanged, gzip-compressed
reproducibly (no name, time stamp 0, level 9).

Usage::

    python make_us_me2_fluxnet_layout.py /path/to/AMF_USMe2_2005_L4_h_V002.txt.gz
    python make_us_me2_fluxnet_layout.py --example OUT.csv.gz AMF_USMe2_2005_L4_h_V002.txt.gz \
        AMF_USMe2_2006_L4_h_V002.txt.gz
"""
import csv
import datetime as dt
import gzip
import io
import sys

COLUMNS = {"TA_F": "Ta_f", "SW_IN_F": "Rg_f", "LE_F_MDS": "LE_f", "LE_F_MDS_QC": "LE_fqc",
           "NEE_VUT_REF": "NEE_st_fMDS", "NEE_VUT_REF_QC": "NEE_st_fMDSqc",
           "GPP_NT_VUT_REF": "GPP_st_MDS", "RECO_NT_VUT_REF": "Reco_st"}
EXAMPLE_COLUMNS = ("TA_F", "SW_IN_F", "NEE_VUT_REF", "NEE_VUT_REF_QC")
CARBON = {"NEE_VUT_REF", "GPP_NT_VUT_REF", "RECO_NT_VUT_REF"}
FIRST, DAYS = dt.date(2005, 1, 31), 14


def stamp(t):
    return t.strftime("%Y%m%d%H%M")


def write_hh(rows):
    first = (FIRST - dt.date(2005, 1, 1)).days * 48
    start = dt.datetime.combine(FIRST, dt.time())
    with open("US-Me2_L4_2005_HH_in_FLUXNET_layout.csv", "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["TIMESTAMP_START", "TIMESTAMP_END", *COLUMNS])
        for k in range(DAYS * 48):
            t0 = start + dt.timedelta(minutes=30 * k)
            w.writerow([stamp(t0), stamp(t0 + dt.timedelta(minutes=30)),
                        *(rows[first + k][c] for c in COLUMNS.values())])


def day_value(name, hh):
    values = [float(r[COLUMNS[name]]) for r in hh]
    if name.endswith("_QC"):
        return f"{sum(v in (0.0, 1.0) for v in values) / len(values):.6f}"
    if any(v == -9999 for v in values):
        return "-9999"
    mean = sum(values) / len(values)
    return f"{mean * 12.011e-6 * 86400 if name in CARBON else mean:.6f}"


def write_dd(rows):
    with open("US-Me2_L4_2005_DD_in_FLUXNET_layout.csv", "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["TIMESTAMP", *COLUMNS])
        for d in range(len(rows) // 48):
            day = dt.date(2005, 1, 1) + dt.timedelta(d)
            hh = rows[d * 48:(d + 1) * 48]
            w.writerow([day.strftime("%Y%m%d"), *(day_value(c, hh) for c in COLUMNS)])


def read_year(source):
    """The rows of one L4 file, checked to be the half-hours of one whole year, and the year
    (from the file name ``AMF_USMe2_<YEAR>_L4_...``)."""
    year = int(str(source).rsplit("AMF_USMe2_", 1)[1][:4])
    with gzip.open(source, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    start = dt.datetime(year, 1, 1)
    assert len(rows) == ((dt.datetime(year + 1, 1, 1) - start).days * 48), source
    for i, row in enumerate(rows):           # row i = the half-hour ending at start + (i+1)/2 h
        end = start + dt.timedelta(minutes=30 * (i + 1))
        assert (int(row["Month"]), int(row["Day"])) == (end.month, end.day), i
        assert abs(float(row["Hour"]) - (end.hour + end.minute / 60)) < 1e-6, i
    return year, rows


def write_example(out, sources):
    """The example's site file: all half-hours of ``sources`` (consecutive years), HH layout,
    ``EXAMPLE_COLUMNS`` only, gzip-compressed reproducibly."""
    years = [read_year(s) for s in sources]
    assert [y for y, _ in years] == list(range(years[0][0], years[0][0] + len(years)))
    with open(out, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            io.TextIOWrapper(gz, encoding="ascii", newline="") as text:
        w = csv.writer(text, lineterminator="\n")
        w.writerow(["TIMESTAMP_START", "TIMESTAMP_END", *EXAMPLE_COLUMNS])
        for year, rows in years:
            start = dt.datetime(year, 1, 1)
            for k, row in enumerate(rows):
                t0 = start + dt.timedelta(minutes=30 * k)
                w.writerow([stamp(t0), stamp(t0 + dt.timedelta(minutes=30)),
                            *(row[COLUMNS[c]] for c in EXAMPLE_COLUMNS)])


def main(source):
    year, rows = read_year(source)
    assert year == 2005
    write_hh(rows)
    write_dd(rows)


if __name__ == "__main__":
    if sys.argv[1] == "--example":
        write_example(sys.argv[2], sys.argv[3:])
    else:
        main(sys.argv[1])
