"""Variational inference (``vi``) under ``mpiexec``: the draws of each ELBO evaluation spread
over the ranks give the serial fit bit for bit (collective, see conftest.py), and a
``pdaframe run`` of the LG2 config with ``vi`` on 2 ranks writes the serial result.nc and
samples.nc bit for bit."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.parallel import MPIExecutor, SerialExecutor
from tests.models import decay_problem
from tests.mpi.test_mpi_launch import assert_run_same_on_ranks
from tests.unit.test_vi import vi_config


@pytest.mark.mpi
def test_vi_fit_is_the_same_on_any_number_of_ranks(comm):
    ex = MPIExecutor()
    options = dict(seed=3, n_draws=12, n_samples=40)
    mpi = pdaframe.minimise(decay_problem(bounds=True), "vi", executor=ex, **options)
    serial = pdaframe.minimise(decay_problem(bounds=True), "vi", executor=SerialExecutor(),
                               **options)
    assert ex.size == comm.Get_size() > 1
    for key in ("q_mean_u", "q_covariance_u", "samples", "log_prob"):
        assert np.array_equal(mpi[key], serial[key]), key
    assert np.array_equal(mpi.history["elbo"], serial.history["elbo"])
    assert mpi.elbo == serial.elbo and mpi.nfev == serial.nfev and mpi.success


@pytest.mark.slow
@pytest.mark.launches_mpiexec
def test_vi_config_run_is_the_same_on_two_ranks(tmp_path):
    config = vi_config(tmp_path, "{ n_samples = 40, seed = 2 }")
    assert_run_same_on_ranks(config, tmp_path)
    with xr.open_dataset(tmp_path / "serial" / "samples.nc", group="posterior") as a, \
            xr.open_dataset(tmp_path / "mpi" / "samples.nc", group="posterior") as b:
        assert a["theta"].shape == (4, 10, 2)
        assert np.array_equal(a["theta"].values, b["theta"].values)
