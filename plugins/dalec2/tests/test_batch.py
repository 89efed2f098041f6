"""DALEC2 batch smoke test: the example's config (examples/dalec2_batch) on a 3-site network
made by its make_network.py: three independent 4D-Var twins, merged; a site without its
driver file and a driver file of a site the table lacks are named before any run."""
import importlib.util
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from pdaframe.batch import run_batch
from pdaframe.errors import DataError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dalec2_batch"


def make_network(folder, n_sites):
    spec = importlib.util.spec_from_file_location("make_network", EXAMPLE / "make_network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_network(folder, n_sites)


@pytest.fixture
def batch_dir(tmp_path):
    make_network(tmp_path / "network", 3)
    shutil.copy(EXAMPLE / "config.toml", tmp_path)
    return tmp_path


def test_dalec2_batch_of_three_sites(batch_dir):
    run = run_batch(batch_dir / "config.toml", batch_dir / "out", progress=False)
    assert [s["status"] for s in run.statuses] == ["done"] * 3, run.summary()
    with netCDF4.Dataset(batch_dir / "out" / "batch.nc") as ds:
        names = list(ds["parameter"][:])
        est, truth, prior = (np.array(ds[v][:]) for v in ("estimate", "truth", "prior_mean"))
        assert list(ds["site"][:]) == ["syn0001", "syn0002", "syn0003"]
        assert np.all(ds["success"][:] == 1) and np.all(ds["n_obs"][:] == 411)
        assert np.all(np.isfinite(ds["posterior_std"][:]))
    k = names.index("c_eff")
    prior_err, post_err = np.abs(prior[:, k] - truth[:, k]), np.abs(est[:, k] - truth[:, k])
    print(f"c_eff truth {truth[:, k].round(2)}, estimate {est[:, k].round(2)}; |error| prior "
          f"{prior_err.round(2)}, posterior {post_err.round(2)}")
    assert post_err.mean() < 0.8 * prior_err.mean()
    assert len(set(est[:, k])) == 3                        # three different calibrations


def test_missing_and_stray_driver_files_are_named(batch_dir):
    drivers = batch_dir / "network" / "drivers"
    shutil.copy(drivers / "syn0001.csv", drivers / "syn0099.csv")
    with pytest.raises(DataError, match=r"holds files of 1 site\(s\) the site table .* does "
                                        r"not list: \['syn0099'\]"):
        run_batch(batch_dir / "config.toml", batch_dir / "out", progress=False)
    (drivers / "syn0099.csv").unlink()
    (drivers / "syn0002.csv").unlink()
    with pytest.raises(DataError, match=r"(?s)1 of 3 sites lack a file.*site syn0002: "
                                        r"'model.options.drivers_file' = .*syn0002.csv"):
        run_batch(batch_dir / "config.toml", batch_dir / "out", progress=False)
    assert not (batch_dir / "out" / "sites").exists()
