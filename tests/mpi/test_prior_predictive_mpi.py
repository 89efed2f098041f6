"""``pdaframe check --prior-predictive`` under ``mpiexec -n 2`` writes the same report as
serially (members spread over the ranks, draws keyed by the seed, not the rank)."""
import shutil
from pathlib import Path

import pytest

from tests.mpi.test_mpi_launch import assert_same_files, serial_and_mpi

DATA = Path(__file__).parents[1] / "data"
pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_prior_predictive_under_mpiexec_matches_serial(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    serial_and_mpi(["check", "--prior-predictive", "--members", "300",
                    tmp_path / "lg2.toml", "-o"], tmp_path)
    assert (tmp_path / "serial" / "prior_predictive.csv").read_text() == \
        (tmp_path / "mpi" / "prior_predictive.csv").read_text()
    assert_same_files(tmp_path / "serial", tmp_path / "mpi")
