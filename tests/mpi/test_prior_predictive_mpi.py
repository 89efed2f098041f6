"""``pdaframe check --prior-predictive`` under ``mpiexec -n 2`` writes the same report as
serially (members spread over the ranks, draws keyed by the seed, not the rank)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mpi.test_mpi_launch import assert_same_files

DATA = Path(__file__).parents[1] / "data"
PDAFRAME = [sys.executable, "-m", "pdaframe.cli"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_prior_predictive_under_mpiexec_matches_serial(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    args = ["check", "--prior-predictive", "--members", "300", tmp_path / "lg2.toml", "-o"]
    serial = subprocess.run([*PDAFRAME, *args, tmp_path / "serial"], capture_output=True,
                            text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = subprocess.run([str(MPIEXEC), "-n", "2", *PDAFRAME, *args, tmp_path / "mpi"],
                         capture_output=True, text=True, timeout=300)
    assert mpi.returncode == 0, mpi.stderr
    assert mpi.stdout == serial.stdout.replace("serial", "mpi")        # rank 0 prints, once
    assert (tmp_path / "serial" / "prior_predictive.csv").read_text() == \
        (tmp_path / "mpi" / "prior_predictive.csv").read_text()
    assert_same_files(tmp_path / "serial", tmp_path / "mpi")
