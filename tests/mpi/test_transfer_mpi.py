"""A multi-site problem through a transfer function (`pdaframe.problem.transfer`) under
``mpiexec``: cost, gradient (adjoint through the network) and Jacobian with the sites spread
over the ranks are bit-identical to a serial evaluation. Collective (see conftest.py)."""
import numpy as np
import pytest

from pdaframe.parallel import MPIExecutor
from tests.unit.test_transfer import linear_problem

pytestmark = pytest.mark.mpi


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
