"""``pdaframe predict`` under ``mpiexec -n 2`` writes the same files as serially (members
spread over the ranks, draws and noise keyed by the seed, not the rank)."""
import pytest

from pdaframe.cli import main
from tests.mpi.test_mpi_launch import assert_same_files, serial_and_mpi
from tests.unit.test_predict import write_config

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_predict_under_mpiexec_matches_serial(tmp_path):
    config = write_config(tmp_path)
    assert main(["run", str(config), "-q"]) == 0
    serial_and_mpi(["predict", tmp_path / "out", "--members", "300", "-q", "-o"], tmp_path)
    assert_same_files(tmp_path / "serial", tmp_path / "mpi")
    assert (tmp_path / "mpi" / "predict_baseline.png").is_file()
