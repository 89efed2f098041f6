"""Tempered SMC on the toy twin: ``pdaframe run`` under ``mpiexec -n 2`` and ``-n 3`` writes
the serial run's result.nc (log evidence and its SE among the attributes) and samples.nc
(particles, stage statistics) bit for bit: particles are executor members, their random
draws come from streams keyed by (seed, stage, particle), never by rank."""
import netCDF4
import numpy as np
import pytest

from tests.mpi.test_mpi_launch import PDAFRAME, assert_same_files, launch, run_toy_serially

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_smc_same_bits_serial_and_mpiexec(tmp_path):
    config = run_toy_serially(tmp_path, "smc", "{ n_particles = 31, n_moves = 2 }")
    with netCDF4.Dataset(tmp_path / "serial" / "result.nc") as ds:
        assert ds.method == "smc" and ds.success == 1 and "log Z" in ds.message
        assert np.isfinite(ds.log_evidence) and ds.log_evidence_se >= 0
    for n in (2, 3):                         # 31 particles split unevenly
        mpi = launch(n, *PDAFRAME, "run", config, "-o", tmp_path / f"mpi{n}", "-q")
        assert mpi.returncode == 0, mpi.stderr
        assert f"{n} MPI ranks" in mpi.stdout
        assert assert_same_files(tmp_path / "serial", tmp_path / f"mpi{n}") == [
            "result.nc", "samples.nc"]
