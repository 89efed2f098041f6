"""A synthetic site network: N sites' daily drivers derived from one real site's, with an
attribute table and, optionally, a known truth mapping attributes -> parameters.

Site ``k`` (name ``f"{prefix}{k:04d}"``, k = 1..N) gets, drawn from the seed:

* a latitude ``base.latitude + u`` and longitude ``base.longitude + v`` (u, v uniform in
  ``lat_shift`` / ``lon_shift`` degrees; a base without longitude gives longitude 0 + v);
* a temperature offset ``t_offset`` (uniform in ``t_offset`` degC) and AR(1) noise
  ``e_t = phi e_{t-1} + sqrt(1 - phi^2) sigma z_t`` (stationary standard deviation
  ``noise_std`` = sigma, lag-one autocorrelation ``noise_phi`` = phi, ``e_0 ~ N(0,
  sigma^2)``), both added to ``t_min``, ``t_max`` and ``t_mean`` (so their order is kept);
* a shortwave scaling ``sw_scale`` (uniform in ``sw_scale``) multiplying ``sw``;
* a PFT from ``pfts`` in the ``proportions`` (counts rounded by largest remainder, then
  shuffled) and a soil class drawn uniformly from ``soils``.

Other columns (``co2``, ``precip``) are copied. ``truth(attributes)`` (attributes: the
site's row as a dict) returns ``{param: value}``, stored as ``truth_<param>`` columns.
The same seed gives bit-identical files; the draws of site k do not depend on N.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..errors import ConfigError
from ..io.atomic import atomic_path
from ..models.driver_file import DriverTable
from ..prediction.scenario import write_driver_file
from .table import SiteTable

TEMPERATURES = ("t_min", "t_max", "t_mean")
SITE_FILE = "sites.csv"
DRIVER_FOLDER = "drivers"


@dataclass(frozen=True)
class Network:
    """A synthetic network.

    Attributes
    ----------
    table : SiteTable
        The attributes (``site, pft, soil, lat, lon, t_offset, sw_scale`` and the
        ``truth_<param>`` columns).
    drivers : mapping of str to DriverTable
        Each site's daily drivers.
    noise : mapping of str to ndarray
        Each site's temperature noise (what was added besides ``t_offset``).
    files : mapping of str to Path
        Each site's driver file (empty unless written), and ``"sites"``: the table's CSV.
    """

    table: SiteTable
    drivers: MappingProxyType
    noise: MappingProxyType
    files: MappingProxyType


def synthetic_network(base: DriverTable, n_sites, seed, folder=None, *, prefix="syn",
                      lat_shift=(-10.0, 10.0), lon_shift=(-10.0, 10.0),
                      t_offset=(-3.0, 3.0), sw_scale=(0.8, 1.2), noise_std=0.5,
                      noise_phi=0.7, pfts=("evergreen", "deciduous"), proportions=None,
                      soils=("loam", "clay", "sand"), truth=None) -> Network:
    """Build a synthetic network from ``base`` (layout in the module docstring).

    Parameters
    ----------
    base : DriverTable
        The real site's drivers (e.g. `pdaframe.models.fluxnet_drivers.read_site_drivers`).
    n_sites : int
        Number of sites, >= 1.
    seed : int
        Seed of every draw.
    folder : path-like, optional
        Write ``drivers/<site>.csv`` and ``sites.csv`` there (atomically).
    lat_shift, lon_shift, t_offset, sw_scale : (float, float)
        Ranges of the uniform draws.
    noise_std, noise_phi : float
        The AR(1) noise's standard deviation (>= 0) and lag-one autocorrelation in [0, 1).
    pfts, proportions : sequence of str, sequence of float
        PFT names and their shares (None: equal; must be >= 0 and sum to 1).
    soils : sequence of str
        Soil classes.
    truth : callable, optional
        ``truth(attributes) -> {param: value}``.

    Raises
    ------
    ConfigError
        A bad ``n_sites``, ``prefix``, range, noise, PFT list or proportion, a latitude drawn outside
        [-90, 90], or a ``truth`` that does not return numbers for the same parameters.
    """
    if not isinstance(prefix, str) or not prefix.strip() or "," in prefix:
        raise ConfigError(f"synthetic_network: prefix={prefix!r}: expected a non-empty name "
                          f"without commas")
    _check(base, n_sites, lat_shift, lon_shift, t_offset, sw_scale, noise_std, noise_phi,
           pfts, soils)
    n = int(n_sites)
    share = _shares(pfts, proportions)
    root = np.random.SeedSequence(int(seed))
    attr_rng = np.random.default_rng(root.spawn(1)[0])
    counts = _counts(share, n)
    pft = attr_rng.permutation(np.repeat(np.asarray(pfts, dtype=object), counts))
    site_rngs = [np.random.default_rng(s) for s in root.spawn(n)]
    lon0 = 0.0 if base.longitude is None else float(base.longitude)
    rows, drivers, noise = [], {}, {}
    for k, rng in enumerate(site_rngs, 1):
        name = f"{prefix}{k:04d}"
        draw = rng.uniform(size=4)
        lat = base.latitude + lat_shift[0] + draw[0] * (lat_shift[1] - lat_shift[0])
        if not -90.0 <= lat <= 90.0:
            raise ConfigError(f"synthetic_network: site {name}'s latitude {lat:g} is outside "
                              f"[-90, 90]; narrow lat_shift={tuple(lat_shift)}")
        lon = (lon0 + lon_shift[0] + draw[1] * (lon_shift[1] - lon_shift[0]) + 180.0) \
            % 360.0 - 180.0
        off = t_offset[0] + draw[2] * (t_offset[1] - t_offset[0])
        scale = sw_scale[0] + draw[3] * (sw_scale[1] - sw_scale[0])
        soil = soils[int(rng.integers(len(soils)))]
        e = ar1(rng, base.n, noise_std, noise_phi)
        columns = {c: (v + off + e if c in TEMPERATURES else v * scale if c == "sw" else v)
                   for c, v in base.columns.items()}
        drivers[name] = replace(base, columns=MappingProxyType(columns), latitude=float(lat),
                                longitude=float(lon), site=name, source=name)
        noise[name] = e
        rows.append({"site": name, "pft": str(pft[k - 1]), "soil": soil, "lat": float(lat),
                     "lon": float(lon), "t_offset": float(off), "sw_scale": float(scale)})
    _add_truth(rows, truth)
    table = SiteTable(tuple(r["site"] for r in rows), MappingProxyType(
        {c: np.array([r[c] for r in rows], dtype=str if c in ("site", "pft", "soil")
                     else float) for c in rows[0]}), "synthetic network")
    files = {} if folder is None else _write(Path(folder), table, drivers, seed)
    return Network(table, MappingProxyType(drivers), MappingProxyType(noise),
                   MappingProxyType(files))


def ar1(rng, n, std, phi) -> np.ndarray:
    """``n`` values of a stationary AR(1) series (standard deviation ``std``, lag-one
    autocorrelation ``phi``) from ``rng``."""
    z = rng.standard_normal(n) * std
    e = np.empty(n)
    e[0] = z[0]
    innovation = np.sqrt(1.0 - phi * phi)
    for t in range(1, n):
        e[t] = phi * e[t - 1] + innovation * z[t]
    return e


def format_site_table(table: SiteTable) -> str:
    """``table`` as CSV text (floats with ``repr``, read back exactly by `read_site_table`)."""
    names = list(table.columns)
    lines = [",".join(names)]
    for i in range(len(table.sites)):
        lines.append(",".join(repr(float(table.columns[c][i])) if table.columns[c].dtype.kind
                              == "f" else str(table.columns[c][i]) for c in names))
    return "\n".join(lines) + "\n"


def _write(folder, table, drivers, seed) -> dict:
    files = {}
    for name, drv in drivers.items():
        files[name] = write_driver_file(folder / DRIVER_FOLDER / f"{name}.csv", drv,
                                        note=f"synthetic network site, seed {seed}")
    with atomic_path(folder / SITE_FILE) as tmp:
        Path(tmp).write_text(format_site_table(table), encoding="utf-8")
    files["sites"] = folder / SITE_FILE
    return files


def _add_truth(rows, truth) -> None:
    if truth is None:
        return
    names = None
    for row in rows:
        values = truth(dict(row))
        if not isinstance(values, dict) or (names is not None and set(values) != names):
            raise ConfigError(f"synthetic_network: truth({row['site']}) returned {values!r}; "
                              f"expected a dict {{param: number}} with the same parameters "
                              f"for every site")
        names = set(values)
        for param, value in values.items():
            if isinstance(value, bool) or not np.isfinite(np.asarray(value, dtype=float)):
                raise ConfigError(f"synthetic_network: truth({row['site']})[{param!r}] = "
                                  f"{value!r}; expected a finite number")
            row[f"truth_{param}"] = float(value)


def _shares(pfts, proportions) -> np.ndarray:
    if proportions is None:
        return np.full(len(pfts), 1.0 / len(pfts))
    share = np.asarray(proportions, dtype=float)
    if share.shape != (len(pfts),) or np.any(share < 0) or abs(share.sum() - 1.0) > 1e-9:
        raise ConfigError(f"synthetic_network: proportions={list(proportions)!r}: expected "
                          f"{len(pfts)} shares >= 0 summing to 1 (one per PFT of {list(pfts)})")
    return share


def _counts(share, n) -> np.ndarray:
    """Counts of each PFT among ``n`` sites: largest remainder rounding of ``share * n``."""
    exact = share * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:n - counts.sum()]] += 1
    return counts


def _check(base, n_sites, lat_shift, lon_shift, t_offset, sw_scale, noise_std, noise_phi,
           pfts, soils) -> None:
    if not isinstance(base, DriverTable):
        raise ConfigError(f"synthetic_network: base is {type(base).__name__}, expected a "
                          f"DriverTable (pdaframe.models.driver_file)")
    if isinstance(n_sites, bool) or not isinstance(n_sites, (int, np.integer)) or n_sites < 1:
        raise ConfigError(f"synthetic_network: n_sites={n_sites!r}: expected an integer >= 1")
    for label, rng in (("lat_shift", lat_shift), ("lon_shift", lon_shift),
                       ("t_offset", t_offset), ("sw_scale", sw_scale)):
        if len(rng) != 2 or not rng[0] <= rng[1]:
            raise ConfigError(f"synthetic_network: {label}={rng!r}: expected (low, high) "
                              f"with low <= high")
    if sw_scale[0] < 0:
        raise ConfigError(f"synthetic_network: sw_scale={sw_scale!r}: expected scalings >= 0")
    if not noise_std >= 0 or not 0 <= noise_phi < 1:
        raise ConfigError(f"synthetic_network: noise_std={noise_std!r}, noise_phi="
                          f"{noise_phi!r}: expected noise_std >= 0 and 0 <= noise_phi < 1")
    for label, names in (("pfts", pfts), ("soils", soils)):
        if not len(names) or len(set(names)) != len(names) or \
                not all(isinstance(s, str) and s.strip() and "," not in s for s in names):
            raise ConfigError(f"synthetic_network: {label}={list(names)!r}: expected distinct, "
                              f"non-empty names without commas")
