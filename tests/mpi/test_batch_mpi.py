"""A batch under ``mpiexec -n 2`` (launched here; part of the plain run): the sites are
shared out dynamically, both ranks run sites, and the merged files equal a serial run's and
a job array's, byte for byte."""
import re
import subprocess

import pytest

from tests.integration.test_batch import toy_batch
from tests.mpi.test_mpi_launch import PDAFRAME, launch

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


def test_batch_under_mpiexec_equals_serial_and_tasks(tmp_path):
    config = toy_batch(tmp_path)
    serial = subprocess.run([*PDAFRAME, "run", config, "-o", tmp_path / "serial", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(2, *PDAFRAME, "run", config, "-o", tmp_path / "mpi")
    assert mpi.returncode == 0, mpi.stderr
    ranks = [int(n) for n in re.search(r"sites per rank: \[(\d+), (\d+)\]",
                                       mpi.stdout).groups()]
    assert sum(ranks) == 10 and min(ranks) >= 1, mpi.stdout       # rank 0 works too
    done = re.findall(r"site s\d\d done in [\d.]+ s \((\d+)/10,", mpi.stderr)
    assert sorted(map(int, done)) == list(range(1, 11)), mpi.stderr   # one global count
    for i in (1, 2):
        task = launch(2, *PDAFRAME, "run", config, "-o", tmp_path / "tasks", "-q",
                      "--task", f"{i}/2")
        assert task.returncode == 0, task.stderr
    merge = subprocess.run([*PDAFRAME, "merge", tmp_path / "tasks"], capture_output=True,
                           text=True, timeout=300)
    assert merge.returncode == 0, merge.stderr
    for name in ("batch.nc", "batch_map.nc"):
        reference = (tmp_path / "serial" / name).read_bytes()
        assert (tmp_path / "mpi" / name).read_bytes() == reference, name
        assert (tmp_path / "tasks" / name).read_bytes() == reference, name


def test_a_site_that_does_not_load_stops_every_rank_before_any_run(tmp_path):
    config = toy_batch(tmp_path, stream='times = [0, 1, 2]\nstd = "{elevation}"')   # s00: 0
    mpi = launch(2, *PDAFRAME, "run", config, "-o", tmp_path / "mpi", "-q")
    assert mpi.returncode == 2, mpi.stderr
    assert "error (DataError): site s00: its config: [streams.0]" in mpi.stderr
    assert "rank 1/2: error (DataError): site s00" in mpi.stderr       # the same on rank 1
    assert not (tmp_path / "mpi" / "sites").exists()
    assert not list((tmp_path / "mpi" / ".locks").iterdir())
