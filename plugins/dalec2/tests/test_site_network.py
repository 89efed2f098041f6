"""Smoke test of `pdaframe.sites.synthetic_network` with DALEC2: a 20-site network built from
US-Me2's drivers, two sites' driver files run through ``make_dalec2(drivers_file=...)``
(the config route) — each equal to DALEC2 on the network's in-memory table, and the two
sites' NEE different (other latitude, temperature offset, shortwave scaling)."""
import numpy as np

from pdaframe.models.driver_file import DriverTable
from pdaframe.sites import read_site_table, synthetic_network
from pdaframe_dalec2 import Dalec2, Drivers
from pdaframe_dalec2.plugin import make_dalec2


def test_dalec2_runs_two_network_sites(tmp_path, us_me2):
    base = DriverTable(us_me2.time, {c: getattr(us_me2, c) for c in
                                     ("t_min", "t_max", "t_mean", "sw")},
                       us_me2.latitude, -121.56, "US-Me2")
    net = synthetic_network(base, 20, 2024, tmp_path, lat_shift=(-8, 8), t_offset=(-2, 2))
    table = read_site_table(net.files["sites"])
    assert len(table.sites) == 20
    a, b = table.sites[0], table.sites[7]
    runs = {}
    for site in (a, b):
        model = make_dalec2(drivers_file=str(net.files[site]))
        theta = model.defaults
        nee = model.run(theta)["nee"]
        in_memory = Dalec2(Drivers.from_table(net.drivers[site])).run(theta)["nee"]
        np.testing.assert_array_equal(nee, in_memory)
        assert nee.shape == (us_me2.time.size,) and np.all(np.isfinite(nee))
        runs[site] = nee
    k = {s: table.sites.index(s) for s in (a, b)}
    assert abs(table.column("lat")[k[a]] - table.column("lat")[k[b]]) > 0.5
    diff = np.abs(runs[a] - runs[b])
    print(f"sites {a}, {b}: |NEE difference| max {diff.max():.3f}, mean {diff.mean():.3f}")
    assert diff.max() > 0.1, diff.max()            # gC m-2 d-1: the sites differ
    base_nee = Dalec2(us_me2).run(theta)["nee"]
    assert np.abs(runs[a] - base_nee).max() > 0.1
