"""``pdaframe predict`` under ``mpiexec -n 2`` writes the same files as serially (members
spread over the ranks, draws and noise keyed by the seed, not the rank)."""
import subprocess
import sys
from pathlib import Path

import pytest

from pdaframe.cli import main
from tests.mpi.test_mpi_launch import assert_same_files
from tests.unit.test_predict import write_config

PDAFRAME = [sys.executable, "-m", "pdaframe.cli"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_predict_under_mpiexec_matches_serial(tmp_path):
    config = write_config(tmp_path)
    assert main(["run", str(config), "-q"]) == 0
    args = ["predict", tmp_path / "out", "--members", "300", "-q", "-o"]
    serial = subprocess.run([*PDAFRAME, *args, tmp_path / "serial"], capture_output=True,
                            text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = subprocess.run([str(MPIEXEC), "-n", "2", *PDAFRAME, *args, tmp_path / "mpi"],
                         capture_output=True, text=True, timeout=300)
    assert mpi.returncode == 0, mpi.stderr
    assert mpi.stdout == serial.stdout.replace("serial", "mpi")        # rank 0 prints, once
    assert_same_files(tmp_path / "serial", tmp_path / "mpi")
    assert (tmp_path / "mpi" / "predict_baseline.png").is_file()
