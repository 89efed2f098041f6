"""A hierarchical multi-site run (``[parameters.hierarchical]``, spread estimated) under
``mpiexec -n 2``: the sites spread over the ranks, result.nc is the serial one bit for bit."""
import subprocess

import pytest

from tests.integration.test_mapping_config import TABLE, Y, config
from tests.mpi.test_mpi_launch import PDAFRAME, assert_same_netcdf, launch

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]

HIER = ('groups = { b = "pft" }\n[parameters.hierarchical]\nparameters = ["c"]\n'
        'sigma0 = 0.4\nlog_sigma_std = 0.5\n')


def test_hierarchical_run_is_the_same_on_two_ranks(tmp_path):
    for s, y in Y.items():
        (tmp_path / f"{s}.csv").write_text("time,y\n" + "".join(f"{i},{v}\n"
                                                                for i, v in enumerate(y)))
    (tmp_path / "sites.csv").write_text(TABLE)
    (tmp_path / "h.toml").write_text(config(parameters=HIER))
    serial = subprocess.run([*PDAFRAME, "run", tmp_path / "h.toml", "-q", "-o",
                             tmp_path / "serial"], capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(2, *PDAFRAME, "run", tmp_path / "h.toml", "-q", "-o", tmp_path / "mpi")
    assert mpi.returncode == 0, mpi.stderr
    assert "2 MPI ranks" in mpi.stdout
    assert_same_netcdf(tmp_path / "serial" / "result.nc", tmp_path / "mpi" / "result.nc")
