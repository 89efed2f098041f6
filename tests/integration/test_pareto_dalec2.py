"""The DALEC2 Pareto example (examples/dalec2_pareto: NSGA-II, NEE against LAI on the US-Me2
twin data) run through ``pdaframe run`` with a smaller budget: it prints the front size,
hypervolume and knee, and writes the front to result.nc and front.png."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pdaframe.methods.search import pareto

pytest.importorskip("pdaframe_dalec2")
pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).parents[2] / "examples" / "dalec2_pareto" / "config.toml"


def test_dalec2_nee_vs_lai_front(tmp_path):
    config = tmp_path / "config.toml"
    text = EXAMPLE.read_text()
    assert "pop_size = 100, maxiter = 100" in text
    config.write_text(text.replace("pop_size = 100, maxiter = 100", "pop_size = 24, maxiter = 8")
                      .replace("../../plugins", str(EXAMPLE.parents[2] / "plugins")))
    proc = subprocess.run([sys.executable, "-m", "pdaframe.cli", "run", config, "-o",
                           tmp_path / "out"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Pareto front: " in out and "non-dominated over objectives nee, lai" in out
    assert "knee (analysis, closest to the ideal point in normalised objectives): nee = " in out
    assert (tmp_path / "out" / "front.png").stat().st_size > 10_000
    with xr.open_dataset(tmp_path / "out" / "result.nc") as ds:
        assert ds.attrs["method"] == "nsga2" and ds.attrs["nfev"] <= 24 * 9
        assert list(ds["objective"].values) == ["nee", "lai"]
        assert list(ds["objective_terms"].values) == ["prior, nee", "prior, lai"]
        f, rank = ds["front_objective"].values, ds["front_rank"].values
        assert f.shape == (24, 2) and ds["front_theta"].shape == (24, 23)
        front = f[rank == 0]
        assert ds.attrs["front_size"] == len(front) >= 2
        assert np.all(pareto.non_dominated_sort(f) == rank)
        k = ds.attrs["knee_member"]
        assert np.array_equal(ds["front_theta"].values[k], ds["analysis"].values)
        ref = ds["reference_point"].values
        hv = ds["hypervolume"].values
        assert ds.attrs["hypervolume"] == hv[-1] == pytest.approx(pareto.hypervolume(front, ref))
        assert len(hv) == 9 and hv[-1] > 0.0 and np.all(hv[:-1] <= hv[-1])   # elitist
        assert f"{ds.attrs['front_size']} of 24 members non-dominated" in out
        assert f"hypervolume {hv[-1]:.6g}" in out
