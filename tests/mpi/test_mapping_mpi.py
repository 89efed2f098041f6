"""A multi-site run through a parameter mapping (PFT groups, a scaling, per-site defaults)
under ``mpiexec -n 2`` and ``-n 3``: the sites are spread over the ranks, result.nc is the
serial one bit for bit."""
import pytest

from tests.integration.test_mapping_config import TABLE, Y, config, write_sites
from tests.mpi.test_mpi_launch import assert_run_same_on_ranks

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


@pytest.mark.parametrize("ranks", [2, 3])
def test_mapped_multisite_run_is_the_same_on_any_number_of_ranks(tmp_path, ranks):
    write_sites(tmp_path, Y, TABLE)
    (tmp_path / "map.toml").write_text(config().replace('name = "lbfgsb"',
                                                        'name = "lbfgsb"\nx0 = { a = 0.3 }'))
    assert_run_same_on_ranks(tmp_path / "map.toml", tmp_path, ranks)
