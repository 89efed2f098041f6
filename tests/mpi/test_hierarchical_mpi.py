"""A hierarchical multi-site run (``[parameters.hierarchical]``, spread estimated) under
``mpiexec -n 2``: the sites spread over the ranks, result.nc is the serial one bit for bit."""
import pytest

from tests.integration.test_mapping_config import TABLE, Y, config, write_sites
from tests.mpi.test_mpi_launch import assert_run_same_on_ranks

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]

HIER = ('groups = { b = "pft" }\n[parameters.hierarchical]\nparameters = ["c"]\n'
        'sigma0 = 0.4\nlog_sigma_std = 0.5\n')


def test_hierarchical_run_is_the_same_on_two_ranks(tmp_path):
    write_sites(tmp_path, Y, TABLE)
    (tmp_path / "h.toml").write_text(config(parameters=HIER))
    assert_run_same_on_ranks(tmp_path / "h.toml", tmp_path)
