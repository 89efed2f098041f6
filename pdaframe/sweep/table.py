"""The sweep's tidy table (``sweep.csv``, ``sweep.nc``) and its plot (``reduction.png``).

One row per case and estimated parameter (CSV columns, in this order):

``case``, ``label``, one column per override key (the case's value, the base config's where
the case sets none; lists joined by ``+``), ``parameter``, ``truth`` (twin; else empty),
``analysis``, ``error`` (analysis − truth), ``prior_std``, ``posterior_std``, ``reduction``
(1 − σ_post/σ_prior), ``two_j_over_m`` (2J/m at the analysis), ``n_obs``, ``nfev`` (model
runs), ``seconds`` (wall time of the case's run), ``converged``, ``status`` (``ok`` or
``failed: <reason>``; a failed case has one row with empty numbers).

``sweep.nc`` holds the same numbers on the dimensions ``case`` and ``parameter`` (the union
of the cases' parameters; NaN where a case does not estimate one), the override values per
case (variables named by the key with ``.`` as ``__``, attribute ``config_key``).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..parallel import Failed
from .runner import override_values

PER_PARAMETER = ("truth", "analysis", "error", "prior_std", "posterior_std", "reduction")
PER_CASE = ("two_j_over_m", "n_obs", "nfev", "seconds", "converged")


def tidy_rows(sweep, rows) -> list[dict]:
    """The table as a list of dicts (one per case and parameter), in the CSV's column order."""
    out = []
    for case, row in zip(sweep.cases, rows):
        head = {"case": case.index, "label": case.label, **override_values(sweep, case)}
        if isinstance(row, Failed):
            out.append({**head, "parameter": "", **{k: math.nan for k in PER_PARAMETER},
                        **{k: math.nan for k in PER_CASE}, "status": f"failed: {row.error}"})
            continue
        num = row.numbers
        per_case = {"two_j_over_m": 2 * num["fun"] / num["n_obs"], "n_obs": num["n_obs"],
                    "nfev": num["nfev"], "seconds": num["seconds"],
                    "converged": num["converged"]}
        for i, name in enumerate(num["parameter"]):
            truth, x = num["truth"][i], num["analysis"][i]
            s_prior, s_post = num["prior_std"][i], num["posterior_std"][i]
            out.append({**head, "parameter": name, "truth": truth, "analysis": x,
                        "error": x - truth, "prior_std": s_prior, "posterior_std": s_post,
                        "reduction": 1 - s_post / s_prior, **per_case, "status": "ok"})
    return out


def write_csv(path, table) -> Path:
    """``sweep.csv``: the tidy rows (NaN as an empty cell), written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        for r in table:
            writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else
                             repr(v) if isinstance(v, float) else v for k, v in r.items()})
    return Path(path)


def write_netcdf(path, sweep, rows, table) -> Path:
    """``sweep.nc``: per (case, parameter) and per case, written atomically."""
    import xarray as xr
    params = list(dict.fromkeys(r["parameter"] for r in table if r["parameter"]))
    n_case = len(sweep.cases)
    grid = {k: np.full((n_case, len(params)), np.nan) for k in PER_PARAMETER}
    per_case = {k: np.full(n_case, np.nan) for k in PER_CASE}
    status = [""] * n_case
    for r in table:
        status[r["case"]] = r["status"]
        if r["parameter"]:
            for k in PER_PARAMETER:
                grid[k][r["case"], params.index(r["parameter"])] = r[k]
            for k in PER_CASE:
                per_case[k][r["case"]] = r[k]
    data = {k: (("case", "parameter"), v) for k, v in grid.items()}
    data.update({k: ("case", v) for k, v in per_case.items()})
    data["label"] = ("case", np.array([c.label for c in sweep.cases], dtype=object))
    data["status"] = ("case", np.array(status, dtype=object))
    for key in sweep.keys:
        values = [override_values(sweep, c)[key] for c in sweep.cases]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        data[key.replace(".", "__")] = ("case", np.array(values, dtype=float) if numeric
                                        else np.array([str(v) for v in values], dtype=object))
    ds = xr.Dataset(data, coords={"case": np.arange(n_case),
                                  "parameter": np.array(params, dtype=object)})
    for key in sweep.keys:
        ds[key.replace(".", "__")].attrs["config_key"] = key
    ds["reduction"].attrs["long_name"] = "uncertainty reduction 1 - posterior_std / prior_std"
    ds["error"].attrs["long_name"] = "analysis - truth (twin)"
    ds["two_j_over_m"].attrs["long_name"] = "2 J / m at the analysis"
    ds.attrs.update({"title": sweep.title, "sweep_file": str(sweep.path),
                     "base_config": str(sweep.base)})
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return Path(path)


def plot_reduction(path, sweep, table) -> Path:
    """Uncertainty reduction per parameter (columns) per case (rows), as a heat map."""
    from ..plots import _figure, _save
    params = list(dict.fromkeys(r["parameter"] for r in table if r["parameter"]))
    grid = np.full((len(sweep.cases), max(len(params), 1)), np.nan)
    for r in table:
        if r["parameter"]:
            grid[r["case"], params.index(r["parameter"])] = r["reduction"]
    label_width = 0.075 * max(len(c.label) for c in sweep.cases)        # inches
    plt, (fig, ax) = _figure(figsize=(2.0 + label_width + 0.45 * len(params),
                                      1.8 + 0.38 * len(sweep.cases)))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(params)), params, rotation=90, fontsize="small")
    ax.set_yticks(range(len(sweep.cases)), [c.label for c in sweep.cases], fontsize="small")
    if grid.size <= 400:
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if v < 0.5 else "black")
    fig.colorbar(image, ax=ax, label="1 − σ_post / σ_prior")
    ax.set_title(sweep.title or "uncertainty reduction", fontsize="medium")
    fig.tight_layout()
    return _save(plt, fig, path)


def write_table(sweep, rows) -> dict:
    """Write ``sweep.csv``, ``sweep.nc`` and ``reduction.png`` into the sweep's folder."""
    table = tidy_rows(sweep, rows)
    out = Path(sweep.output_dir)
    return {"table": write_csv(out / "sweep.csv", table),
            "netcdf": write_netcdf(out / "sweep.nc", sweep, rows, table),
            "plot": plot_reduction(out / "reduction.png", sweep, table)}
