"""MPI tests: run them with ``mpiexec -n 2 python -m pytest tests/mpi -p no:cacheprovider``.

Tests marked ``mpi`` are collective: every rank runs the same tests in the same order, and a
test calls the executor before it asserts, so that a failed assertion on one rank cannot
leave the others waiting in a collective call. Without ``mpiexec`` (the plain ``pytest``
run) they are skipped; with ``PDAFRAME_MPI_TESTS=required`` (set by ``.ci/run``) they fail
instead, so a launch that lost its MPI environment cannot pass silently.

Rank 0 prints the usual report; other ranks keep theirs and print it to stderr, each line
prefixed with the rank, only if one of their tests failed. Tests that launch ``mpiexec``
themselves (marked ``slow``) run in the plain run and skip under ``mpiexec``.
"""
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from pdaframe.parallel.base import _mpi_size

SIZE = _mpi_size()
if SIZE > 1:
    from mpi4py import MPI
    COMM = MPI.COMM_WORLD
    RANK = COMM.Get_rank()
else:
    COMM, RANK = None, 0

MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if RANK == 0:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    from _pytest.terminal import TerminalReporter
    config.pluginmanager.unregister(reporter)
    config._mpi_rank_report = io.StringIO()
    config.pluginmanager.register(TerminalReporter(config, config._mpi_rank_report),
                                  "terminalreporter")


def pytest_unconfigure(config):
    report = getattr(config, "_mpi_rank_report", None)
    if report is not None and getattr(config, "_mpi_rank_failed", False):
        sys.stderr.write("".join(f"[rank {RANK}] {line}\n"
                                 for line in report.getvalue().splitlines()))


def pytest_sessionfinish(session, exitstatus):
    if exitstatus not in (0, 5):
        session.config._mpi_rank_failed = True
    if COMM is not None and SIZE > 1:           # rank 0 says which other ranks failed
        statuses = COMM.allgather(int(exitstatus))
        failed = [r for r, s in enumerate(statuses) if s not in (0, 5) and r > 0]
        if RANK == 0 and failed:
            sys.stderr.write(f"tests/mpi: rank(s) {failed} failed; see the lines prefixed "
                             f"[rank N]\n")
            session.exitstatus = max(statuses)


@pytest.fixture(autouse=True)
def _mpi_launch(request):
    """Skip (or fail) collective tests without ranks; skip launching tests under mpiexec."""
    if request.node.get_closest_marker("mpi") is not None and SIZE < 2:
        if os.environ.get("PDAFRAME_MPI_TESTS") == "required":
            pytest.fail("PDAFRAME_MPI_TESTS=required but this is not an mpiexec launch with "
                        "more than one rank (no PMI_SIZE / OMPI_COMM_WORLD_SIZE)")
        pytest.skip("needs mpiexec -n 2 or more (see tests/mpi/conftest.py)")
    if request.node.get_closest_marker("launches_mpiexec") is not None:
        if SIZE > 1:
            pytest.skip("launches mpiexec itself: runs in the plain pytest run")
        if not MPIEXEC.exists():
            pytest.skip(f"no {MPIEXEC} (pip install mpi4py mpich)")


@pytest.fixture
def comm():
    return COMM


@pytest.fixture
def shared_tmp():
    """A temporary directory shared by all ranks (made by rank 0), removed afterwards."""
    path = tempfile.mkdtemp(prefix="pdaframe-mpi-") if RANK == 0 else None
    path = Path(COMM.bcast(path, root=0))
    yield path
    COMM.Barrier()
    if RANK == 0:
        shutil.rmtree(path, ignore_errors=True)
