"""The synthetic site network (`pdaframe.sites.synthetic_network`): deterministic files for
a seed, offsets and scalings applied exactly, the AR(1) noise's statistics, latitudes as
drawn, PFT counts, truth columns, and the written files read back equal."""
import hashlib

import numpy as np
import pytest

from pdaframe.errors import ConfigError
from pdaframe.models.driver_file import DriverTable, read_driver_file
from pdaframe.sites import read_site_table, synthetic_network
from pdaframe.sites.network import ar1

T = ("t_min", "t_max", "t_mean")


@pytest.fixture(scope="module")
def base():
    time = np.arange("2004-01-01", "2007-01-01", dtype="datetime64[D]")
    d = np.arange(time.size)
    season = 10.0 * np.sin(2 * np.pi * d / 365.25)
    return DriverTable(time, {"t_min": season + 2.0, "t_max": season + 12.0,
                              "t_mean": season + 7.0, "sw": 15.0 + 8.0 * np.cos(d / 58.1),
                              "co2": np.full(d.size, 380.0)}, 44.45, -121.56, "base")


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.csv"))}


def truth(a):
    return {"q10": 1.5 + 0.02 * a["lat"], "vcmax": 40.0 + (10.0 if a["pft"] == "evergreen"
                                                          else 0.0)}


def test_deterministic_for_a_seed(tmp_path, base):
    a = synthetic_network(base, 6, 11, tmp_path / "a", truth=truth)
    b = synthetic_network(base, 6, 11, tmp_path / "b", truth=truth)
    c = synthetic_network(base, 6, 12, tmp_path / "c", truth=truth)
    da, db, dc = digests(tmp_path / "a"), digests(tmp_path / "b"), digests(tmp_path / "c")
    assert len(da) == 7 and da == db
    assert all(da[k] != dc[k] for k in da)
    # site k's draws do not depend on the number of sites
    d = synthetic_network(base, 9, 11)
    np.testing.assert_array_equal(d.drivers["syn0004"]["t_min"], a.drivers["syn0004"]["t_min"])
    assert d.table.column("lat")[3] == a.table.column("lat")[3]


def test_offsets_scalings_and_noise(base):
    net = synthetic_network(base, 20, 5, t_offset=(-3, 3), sw_scale=(0.8, 1.2),
                            noise_std=0.5, noise_phi=0.7)
    off, scale = net.table.column("t_offset"), net.table.column("sw_scale")
    assert off.min() >= -3 and off.max() <= 3 and off.std() > 0.5
    residuals = []
    for k, site in enumerate(net.table.sites):
        drv, e = net.drivers[site], net.noise[site]
        for c in T:     # offset + the site's noise, exactly
            np.testing.assert_allclose(drv[c] - base[c], off[k] + e, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(drv["sw"], base["sw"] * scale[k])
        np.testing.assert_array_equal(drv["co2"], base["co2"])
        assert np.all(drv["t_min"] <= drv["t_mean"]) and np.all(drv["t_mean"] <= drv["t_max"])
        residuals.append(drv["t_mean"] - base["t_mean"] - off[k])
    r = np.array(residuals)                                   # 20 sites x 1096 days
    lag1 = np.mean(r[:, 1:] * r[:, :-1]) / np.mean(r * r)
    # sampling errors over 20 x 1096 AR(1) values: std ~0.006, lag-one ~0.005
    assert abs(r.std() - 0.5) < 0.03, r.std()
    assert abs(lag1 - 0.7) < 0.03, lag1
    assert abs(r.mean()) < 0.03


def test_ar1_statistics_and_zero_noise(base):
    e = ar1(np.random.default_rng(0), 200_000, 2.0, 0.3)
    assert abs(e.std() - 2.0) < 0.02 and abs(np.corrcoef(e[1:], e[:-1])[0, 1] - 0.3) < 0.01
    net = synthetic_network(base, 3, 1, noise_std=0.0)
    for k, site in enumerate(net.table.sites):
        np.testing.assert_array_equal(net.drivers[site]["t_max"],
                                      base["t_max"] + net.table.column("t_offset")[k])


def test_latitudes_pfts_and_truth(base):
    net = synthetic_network(base, 20, 8, lat_shift=(-5, 15), lon_shift=(0, 0),
                            pfts=("evergreen", "deciduous"), proportions=(0.7, 0.3),
                            truth=truth)
    lat = net.table.column("lat")
    assert lat.min() >= 44.45 - 5 and lat.max() <= 44.45 + 15 and lat.std() > 3
    for k, site in enumerate(net.table.sites):
        assert net.drivers[site].latitude == lat[k]
        assert net.drivers[site].longitude == pytest.approx(-121.56, abs=1e-12)
    groups = net.table.groups("pft")
    assert len(groups["evergreen"]) == 14 and len(groups["deciduous"]) == 6
    assert set(net.table.column("soil")) <= {"loam", "clay", "sand"}
    np.testing.assert_allclose(net.table.column("truth_q10"), 1.5 + 0.02 * lat, rtol=1e-15)
    ever = net.table.column("pft") == "evergreen"
    np.testing.assert_array_equal(net.table.column("truth_vcmax"), np.where(ever, 50.0, 40.0))


def test_files_read_back_equal(tmp_path, base):
    net = synthetic_network(base, 4, 2, tmp_path, truth=truth)
    table = read_site_table(net.files["sites"])
    assert table.sites == net.table.sites
    for name in net.table.columns:
        np.testing.assert_array_equal(table.column(name), net.table.column(name))
    for site in net.table.sites:
        back = read_driver_file(net.files[site], optional=("t_mean", "co2"))
        assert back.latitude == net.drivers[site].latitude
        assert back.longitude == net.drivers[site].longitude and back.site == site
        np.testing.assert_array_equal(back.time, base.time)
        for c in ("t_min", "t_max", "t_mean", "sw", "co2"):
            np.testing.assert_array_equal(back[c], net.drivers[site][c])
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("kwargs, message", [
    ({"n_sites": 0}, r"n_sites=0"),
    ({"prefix": "a,b"}, r"prefix='a,b'"),
    ({"lat_shift": (-60, 60)}, r"latitude .* outside \[-90, 90\]; narrow lat_shift"),
    ({"t_offset": (2, 1)}, r"t_offset=\(2, 1\)"),
    ({"sw_scale": (-1, 1)}, r"scalings >= 0"),
    ({"noise_phi": 1.0}, r"noise_phi=1.0"),
    ({"proportions": (0.5, 0.6)}, r"summing to 1"),
    ({"pfts": ("a", "a")}, r"pfts=\['a', 'a'\]"),
    ({"truth": lambda a: {"p": float("nan")}}, r"\['p'\] = nan"),
    ({"truth": lambda a: {"p" + a["site"]: 1.0}}, r"same parameters"),
])
def test_bad_options(base, kwargs, message):
    options = {"n_sites": 20, "seed": 1, **kwargs}
    with pytest.raises(ConfigError, match=message):
        synthetic_network(base, **options)
