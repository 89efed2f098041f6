"""Write ``US-Me2_MOD15A2_2005H1_subset.csv``: the real values of the ORNL ASCII subset
``US-Me2_MOD15A2_2005.asc`` (composites of 2005-01-01 .. 2005-06-26) in the ORNL DAAC MODIS
subset CSV layout (one row per band, date and pixel; ``scale`` 0.1 for LAI and its standard
deviation, "Not Scaled" for the QC band). Values are copied unchanged.

Usage: python make_csv_layout.py
"""
import csv
import datetime as dt

UNITS = {"Lai_1km": "m^2/m^2", "LaiStdDev_1km": "m^2/m^2", "FparLai_QC": "Class flag"}
SCALE = {"Lai_1km": "0.1", "LaiStdDev_1km": "0.1", "FparLai_QC": "Not Scaled"}


def main():
    rows = list(csv.reader(open("US-Me2_MOD15A2_2005.asc")))
    with open("US-Me2_MOD15A2_2005H1_subset.csv", "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["site", "product", "band", "units", "scale", "latitude", "longitude",
                    "modis_date", "calendar_date", "tile", "proc_date", "pixel", "value"])
        for r in rows:
            band = r[0].rsplit(".", 1)[-1]
            day = dt.date(int(r[2][1:5]), 1, 1) + dt.timedelta(int(r[2][5:]) - 1)
            if day.month > 6:
                continue
            for k, v in enumerate(r[5:]):
                w.writerow(["US-Me2", r[1], band, UNITS[band], SCALE[band], "44.4523",
                            "-121.5574", r[2], day.isoformat(), r[0].split(".")[2], r[4],
                            k + 1, v])


if __name__ == "__main__":
    main()
