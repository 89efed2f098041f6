"""Transfer functions (`pdaframe.problem.transfer`) under ``mpiexec``: a multi-site problem's
cost, gradient (adjoint through the network) and Jacobian with the sites spread over the
ranks are bit-identical to a serial evaluation (collective, see conftest.py); and a
``pdaframe run`` of an MLP transfer config launched on 2 ranks writes the serial result.nc
bit for bit."""
import numpy as np
import pytest

from pdaframe.parallel import MPIExecutor
from tests.integration.test_transfer_config import TRANSFER, Y, TABLE, config
from tests.integration.test_mapping_config import write_sites
from tests.mpi.test_mpi_launch import assert_run_same_on_ranks
from tests.unit.test_transfer import linear_problem


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["linear", "mlp"])
def test_transfer_problem_same_bits_on_any_number_of_ranks(which, comm):
    problem, truth = linear_problem(which, n=9)
    problem.executor = MPIExecutor()
    x = truth + 0.1
    cost, grad, jac = problem.cost(x), problem.gradient(x), problem.jacobian(x)
    serial, _ = linear_problem(which, n=9)
    assert problem.executor.size == comm.Get_size() > 1
    assert cost == serial.cost(x)
    assert np.array_equal(grad, serial.gradient(x))
    assert np.array_equal(jac, serial.jacobian(x))
    assert problem.nrun == serial.nrun


@pytest.mark.slow
@pytest.mark.launches_mpiexec
def test_transfer_config_run_is_the_same_on_two_ranks(tmp_path):
    write_sites(tmp_path, Y, TABLE)
    mlp = TRANSFER + 'kind = "mlp"\nhidden = [3]\nseed = 2\n'
    (tmp_path / "tf.toml").write_text(config(mlp))
    assert_run_same_on_ranks(tmp_path / "tf.toml", tmp_path)
