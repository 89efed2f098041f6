"""Write ``discharge.csv`` (ISO dates, l/s) from the plugin's bundled SPOTPY data.

pdaframe streams match ``YYYY-MM-DD`` dates to the model's time axis; the SPOTPY file has
``dd.mm.yyyy`` dates, so the observed discharge is copied here once::

    .venv/bin/python examples/hymod_de/make_observations.py
"""
import csv
from pathlib import Path

import numpy as np

from pdaframe_hymod import read_forcing


def main(path=Path(__file__).with_name("discharge.csv")):
    forcing = read_forcing()
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["date", "discharge_ls"])
        for day, q in zip(forcing.time, forcing.discharge_ls):
            writer.writerow([str(day), "" if np.isnan(q) else repr(float(q))])


if __name__ == "__main__":
    main()
