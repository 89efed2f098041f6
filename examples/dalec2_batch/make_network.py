"""Make the synthetic site network of the batch example (and of benchmarks/batch_sites.py).

N sites derived from US-Me2's real 2005 daily drivers by `pdaframe.sites.synthetic_network`
(shifted latitude and longitude, a temperature offset plus AR(1) noise, a shortwave scaling,
a PFT and a soil class each), written as ``network/sites.csv`` and
``network/drivers/<site>.csv``, with a known truth per site (the twin's)::

    f_auto = 0.45 + 0.01 (lat - 44.45)                     fraction of GPP respired
    c_eff  = 45 (evergreen) or 35 (deciduous) + 2 t_offset   canopy efficiency

Usage: ``python make_network.py [N_SITES] [FOLDER]`` (default 8 sites into ./network). The
same seed gives the same files, bit for bit; site k does not depend on N.
"""
from __future__ import annotations

import sys
from pathlib import Path

from pdaframe.models.driver_file import DriverTable
from pdaframe.sites import synthetic_network

HERE = Path(__file__).resolve().parent
SEED = 2026
US_ME2_LONGITUDE = -121.5574           # degrees east (AmeriFlux site page)


def truth(site) -> dict:
    """The twin's truth of one site, from its attributes."""
    return {"f_auto": 0.45 + 0.01 * (site["lat"] - 44.45),
            "c_eff": (45.0 if site["pft"] == "evergreen" else 35.0) + 2.0 * site["t_offset"]}


def make_network(folder=HERE / "network", n_sites=8, seed=SEED):
    """Write the network into ``folder``; returns the `pdaframe.sites.Network`."""
    from pdaframe_dalec2.readers import read_us_me2

    us_me2 = read_us_me2(start="2005-01-01", end="2005-12-31")
    base = DriverTable(us_me2.time, {c: getattr(us_me2, c) for c in
                                     ("t_min", "t_max", "t_mean", "sw")},
                       us_me2.latitude, US_ME2_LONGITUDE, "US-Me2")
    return synthetic_network(base, n_sites, seed, folder, lat_shift=(-5.0, 5.0),
                             lon_shift=(-5.0, 5.0), truth=truth)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "network"
    net = make_network(out, n)
    print(f"wrote {len(net.table.sites)} sites to {out}")
