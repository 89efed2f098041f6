"""Merge a batch's per-site results into one CF-1.8 NetCDF file, and a lat/lon map when
the sites are grid cells.

``batch.nc`` (dimensions ``site``, ``parameter``)::

    site(site), parameter(parameter)     names (string coordinates)
    lat(site), lon(site)                 degrees north / east (when the table has them)
    <column>(site)                       every other column of the site table (pft, soil,
                                         covariates, truth_<param>); ``attr_<column>`` if the
                                         name is taken below
    status(site)                         "done", "failed" or "not run"
    error(site)                          the failure ("" unless failed)
    estimate(site, parameter)            the estimate (posterior mean of samplers/ensembles)
    prior_mean, truth, posterior_std,
    posterior_lower95, posterior_upper95 (site, parameter), when any site has them
    cost(site), runs(site), n_obs(site), success(site)

Failed and not-run sites stay in the file with fill values (NaN, -1) and are listed in the
global attributes ``failed_sites`` and ``missing_sites``: nothing is dropped silently. The
file holds no times, hosts or run ids, so the same results give the same bytes whatever ran
them (serially, on N ranks, as array tasks) and however often they are merged.

Grid cells: when the selected sites' ``lat`` and ``lon`` each take regularly spaced values
(at least two) and no two sites share a cell (or ``[batch] grid = true``, which makes an
irregular layout a `ConfigError`), ``batch_map.nc`` holds the per-site variables on
``(parameter,) lat, lon`` (cells without a site are NaN) and ``map_<parameter>.png`` shows
each parameter's estimate.
"""
from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

from ..errors import ConfigError, OutputError
from ..io.atomic import atomic_path
from .files import MANIFEST, SITES, SUMMARY, failed_file, read_json
from .lock import batch_lock

PER_PARAMETER = ("estimate", "prior_mean", "truth", "posterior_std", "posterior_lower95",
                 "posterior_upper95")
PER_SITE = {"cost": ("f8", np.nan, "cost function J at the estimate"),
            "runs": ("i8", -1, "model runs of the calibration"),
            "n_obs": ("i8", -1, "valid observations"),
            "success": ("i1", -1, "1: the method converged, 0: it did not, -1: no result")}
FILL = netCDF4.default_fillvals["f8"]
RTOL = 1e-6                 # relative tolerance of a regular grid spacing


def grid_axes(table_or_columns, sites, required=None):
    """``(lats, lons, i, j)``: the grid's axes and each site's cell, or None when the sites
    are not cells of a regular grid.

    ``table_or_columns``: a `SiteTable` or ``{column: values}`` of ``sites``. With
    ``required`` (the config's name), an irregular layout is a `ConfigError` instead.
    """
    columns = getattr(table_or_columns, "columns", table_or_columns)
    if "lat" not in columns or "lon" not in columns:
        if required:
            raise ConfigError(f"{required}: [batch] grid = true needs 'lat' and 'lon' columns "
                              f"in the site table")
        return None
    if hasattr(table_or_columns, "sites"):
        rows = {name: k for k, name in enumerate(table_or_columns.sites)}
        order = [rows[s] for s in sites]
    else:
        order = list(range(len(sites)))
    lat = np.asarray(columns["lat"], dtype=float)[order]
    lon = np.asarray(columns["lon"], dtype=float)[order]
    axes, why = [], None
    for name, values in (("lat", lat), ("lon", lon)):
        axis = np.unique(values)
        step = np.diff(axis)
        if axis.size < (1 if required else 2) or (step.size and not np.allclose(
                step, step[0], rtol=RTOL, atol=0)):
            why = f"the {name} values are not regularly spaced ({axis.size} values)"
        axes.append(axis)
    if why is None:
        i, j = np.searchsorted(axes[0], lat), np.searchsorted(axes[1], lon)
        if len(set(zip(i.tolist(), j.tolist()))) != len(sites):
            why = "two sites share a grid cell"
    if why is not None:
        if required:
            raise ConfigError(f"{required}: [batch] grid = true, but {why}")
        return None
    return axes[0], axes[1], i, j


def _variables(output_dir, manifest):
    """Per-site status and numbers from the site folders (``summary.json``) and failure
    records."""
    sites = manifest["sites"]
    status, errors, summaries = [], [], []
    for site in sites:
        summary = read_json(Path(output_dir) / SITES / site / SUMMARY)
        failed = read_json(failed_file(output_dir, site))
        summaries.append(summary)
        if summary is not None:
            status.append("done")
            errors.append("")
        elif failed is not None:
            status.append("failed")
            errors.append(f"{failed.get('error_type', '')}: {failed.get('message', '')}")
        else:
            status.append("not run")
            errors.append("")
    names = next((s["parameter_names"] for s in summaries if s), [])
    return status, errors, summaries, names


def merge_batch(output_dir, lock=False) -> dict:
    """Write ``batch.nc`` (and, for grid cells, ``batch_map.nc`` and ``map_<p>.png``) from
    the finished sites of the batch in ``output_dir``.

    Parameters
    ----------
    output_dir : path-like
        A batch's output folder (it has ``batch.json``).
    lock : bool
        Take the ``merge`` lock (`pdaframe merge`; a run merging itself holds its own).

    Returns
    -------
    dict
        ``{"batch": Path, "map": Path, "map_<param>": Path, ...}`` and ``"counts"``
        (``{"done": n, "failed": n, "not run": n}``).

    Raises
    ------
    OutputError
        No ``batch.json`` (not a batch folder), or a run of the batch is in progress.
    """
    output_dir = Path(output_dir)
    if not (output_dir / MANIFEST).is_file():
        raise OutputError(f"{output_dir}: no {MANIFEST}; not the output folder of a batch run "
                          f"(pdaframe run CONFIG with a [batch] table)")
    if lock:
        with batch_lock(output_dir, "merge"):
            return merge_batch(output_dir)
    manifest = read_json(output_dir / MANIFEST)
    if manifest is None:
        raise OutputError(f"{output_dir}: cannot read {MANIFEST}; run the batch again to "
                          f"rewrite it")
    status, errors, summaries, names = _variables(output_dir, manifest)
    paths = {"batch": _write_batch(output_dir / "batch.nc", manifest, status, errors,
                                   summaries, names)}
    grid = None if manifest.get("grid") is False else grid_axes(
        manifest["columns"], manifest["sites"],
        required=manifest["config"] if manifest.get("grid") else None)
    if grid is not None and names:
        paths.update(_write_map(output_dir, manifest, grid, summaries, names))
    paths["counts"] = {k: status.count(k) for k in ("done", "failed", "not run")}
    return paths


def _stack(summaries, key, n, fill):
    out = np.full((len(summaries), n), fill, dtype=float)
    for k, s in enumerate(summaries):
        if s is not None and key in s and len(s[key]) == n:
            out[k] = s[key]
    return out


def _strings(ds, name, dim, values, long_name):
    var = ds.createVariable(name, str, (dim,))
    var[:] = np.array(values, dtype=object)
    var.long_name = long_name
    return var


def _write_batch(path, manifest, status, errors, summaries, names) -> Path:
    sites = manifest["sites"]
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.title = manifest.get("title") or "pdaframe batch"
            ds.source = "pdaframe batch inversions: one calibration per site"
            ds.batch_config = manifest["config_text"]
            ds.site_table = manifest.get("site_table", "")
            for key in ("failed", "not run"):
                ds.setncattr(f"{key.replace(' ', '_').replace('not_run', 'missing')}_sites",
                             ",".join(s for s, st in zip(sites, status) if st == key))
            ds.n_sites, ds.n_done = len(sites), status.count("done")
            ds.createDimension("site", len(sites))
            ds.createDimension("parameter", len(names))
            _strings(ds, "site", "site", sites, "site name")
            _strings(ds, "parameter", "parameter", names, "parameter name")
            _strings(ds, "status", "site", status, "done, failed or not run")
            _strings(ds, "error", "site", errors, "error of a failed site")
            coords = []
            for col, values in manifest["columns"].items():
                taken = col in PER_PARAMETER or col in PER_SITE or col in (
                    "site", "parameter", "status", "error")
                name = f"attr_{col}" if taken else col
                if values and isinstance(values[0], str):
                    _strings(ds, name, "site", values, f"site attribute {col}")
                    continue
                var = ds.createVariable(name, "f8", ("site",))
                var[:] = np.asarray(values, dtype=float)
                if col == "lat":
                    var.setncatts({"standard_name": "latitude", "units": "degrees_north"})
                    coords.append(name)
                elif col == "lon":
                    var.setncatts({"standard_name": "longitude", "units": "degrees_east"})
                    coords.append(name)
                else:
                    var.long_name = f"site attribute {col}"
            for key in PER_PARAMETER:
                if not any(s is not None and key in s for s in summaries):
                    continue
                var = ds.createVariable(key, "f8", ("site", "parameter"), fill_value=FILL)
                var[:] = np.ma.masked_invalid(_stack(summaries, key, len(names), np.nan))
                var.long_name = key.replace("_", " ")
                if coords:
                    var.coordinates = " ".join(coords)
            for key, (dtype, fill, long_name) in PER_SITE.items():
                values = np.array([fill if s is None else s[key] for s in summaries],
                                  dtype=float)
                var = ds.createVariable(key, dtype, ("site",), fill_value=
                                        FILL if dtype == "f8" else fill)
                var[:] = np.ma.masked_invalid(values) if dtype == "f8" else \
                    values.astype(dtype)
                var.long_name = long_name
    return Path(path)


def _write_map(output_dir, manifest, grid, summaries, names) -> dict:
    lats, lons, i, j = grid
    paths = {}
    with atomic_path(output_dir / "batch_map.nc") as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.title = (manifest.get("title") or "pdaframe batch") + ": map"
            ds.createDimension("lat", lats.size)
            ds.createDimension("lon", lons.size)
            ds.createDimension("parameter", len(names))
            for name, axis, std, units in (("lat", lats, "latitude", "degrees_north"),
                                           ("lon", lons, "longitude", "degrees_east")):
                var = ds.createVariable(name, "f8", (name,))
                var[:] = axis
                var.setncatts({"standard_name": std, "units": units})
            _strings(ds, "parameter", "parameter", names, "parameter name")
            maps = {}
            for key in PER_PARAMETER:
                if not any(s is not None and key in s for s in summaries):
                    continue
                grid_values = np.full((len(names), lats.size, lons.size), np.nan)
                grid_values[:, i, j] = _stack(summaries, key, len(names), np.nan).T
                var = ds.createVariable(key, "f8", ("parameter", "lat", "lon"),
                                        fill_value=FILL)
                var[:] = np.ma.masked_invalid(grid_values)
                maps[key] = grid_values
            cost = np.full((lats.size, lons.size), np.nan)
            cost[i, j] = [np.nan if s is None else s["cost"] for s in summaries]
            var = ds.createVariable("cost", "f8", ("lat", "lon"), fill_value=FILL)
            var[:] = np.ma.masked_invalid(cost)
    paths["map"] = output_dir / "batch_map.nc"
    for p, name in enumerate(names):
        paths[f"map_{name}"] = _plot_map(output_dir / f"map_{_safe(name)}.png", lats, lons,
                                         maps["estimate"][p], name)
    return paths


def _safe(name) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _plot_map(path, lats, lons, values, name) -> Path:
    from ..plots import _figure, _save
    plt, (fig, ax) = _figure(figsize=(6.0, 4.0))
    image = ax.pcolormesh(lons, lats, np.ma.masked_invalid(values), shading="nearest",
                          cmap="viridis")
    fig.colorbar(image, ax=ax, label=name)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_title(f"estimate of {name}", fontsize="medium")
    fig.tight_layout()
    return _save(plt, fig, path)

