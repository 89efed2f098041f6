"""NUTS and HMC on the toy twin (adjoint gradients): ``pdaframe run`` under ``mpiexec -n 2``
and ``-n 3`` writes the serial run's result.nc and samples.nc bit for bit (chains are
executor members with their own random streams; 3 chains over 2 ranks split unevenly)."""
import pytest

from tests.mpi.test_mpi_launch import PDAFRAME, assert_same_files, launch, run_toy_serially

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


@pytest.mark.parametrize("method, options, ranks", [
    ("nuts", "{ n_samples = 30, burn_in = 40, n_chains = 3, steps_per_round = 25 }", (2, 3)),
    ("hmc", "{ n_samples = 20, burn_in = 30, n_chains = 2, n_steps = 4 }", (2,)),
])
def test_nuts_same_bits_serial_and_mpiexec(tmp_path, method, options, ranks):
    config = run_toy_serially(tmp_path, method, options)
    for n in ranks:
        mpi = launch(n, *PDAFRAME, "run", config, "-o", tmp_path / f"mpi{n}", "-q")
        assert mpi.returncode == 0, mpi.stderr
        assert f"{n} MPI ranks" in mpi.stdout
        assert assert_same_files(tmp_path / "serial", tmp_path / f"mpi{n}") == [
            "result.nc", "samples.nc"]
