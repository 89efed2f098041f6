"""NSGA-II under ``mpiexec -n 2``: the toy twin config with ``nsga2`` writes the serial
result.nc bit for bit (front, ranks, crowding, hypervolume per generation)."""
import numpy as np
import pytest
import xarray as xr

from tests.mpi.test_mpi_launch import TOY, assert_run_same_on_ranks

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_nsga2_front_is_the_same_on_two_ranks(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(TOY.read_text().replace('name = "lbfgsb"', 'name = "nsga2"')
                      .replace("options = { maxiter = 500 }",
                               "options = { pop_size = 12, maxiter = 5 }")
                      .replace('directory = "../../results/toy_twin"', "plots = false"))
    assert_run_same_on_ranks(config, tmp_path)
    with xr.open_dataset(tmp_path / "serial" / "result.nc") as a, \
            xr.open_dataset(tmp_path / "mpi" / "result.nc") as b:
        for name in ("front_theta", "front_objective", "front_rank", "hypervolume"):
            assert np.array_equal(a[name].values, b[name].values, equal_nan=True), name
        assert a["front_theta"].shape == (12, 6) and a.attrs["front_size"] >= 1
        assert a["hypervolume"].shape == (6,) and a["hypervolume"].values[-1] > 0
