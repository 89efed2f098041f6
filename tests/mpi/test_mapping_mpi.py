"""A multi-site run through a parameter mapping (PFT groups, a scaling, per-site defaults)
under ``mpiexec -n 2`` and ``-n 3``: the sites are spread over the ranks, result.nc is the
serial one bit for bit."""
import subprocess

import pytest

from tests.integration.test_mapping_config import H, TABLE, Y, config
from tests.mpi.test_mpi_launch import PDAFRAME, assert_same_netcdf, launch

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


@pytest.mark.parametrize("ranks", [2, 3])
def test_mapped_multisite_run_is_the_same_on_any_number_of_ranks(tmp_path, ranks):
    for s, y in Y.items():
        (tmp_path / f"{s}.csv").write_text("time,y\n" + "".join(f"{i},{v}\n"
                                                                for i, v in enumerate(y)))
    (tmp_path / "sites.csv").write_text(TABLE)
    (tmp_path / "map.toml").write_text(config().replace('name = "lbfgsb"',
                                                        'name = "lbfgsb"\nx0 = { a = 0.3 }'))
    assert len(H) == 3
    serial = subprocess.run([*PDAFRAME, "run", tmp_path / "map.toml", "-q", "-o",
                             tmp_path / "serial"], capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(ranks, *PDAFRAME, "run", tmp_path / "map.toml", "-q", "-o", tmp_path / "mpi")
    assert mpi.returncode == 0, mpi.stderr
    assert f"{ranks} MPI ranks" in mpi.stdout
    assert_same_netcdf(tmp_path / "serial" / "result.nc", tmp_path / "mpi" / "result.nc")
