"""`pdaframe sweep` under MPI gives the same table as serially: the linear-Gaussian sweep of
tests/integration/test_sweep.py launched with ``mpiexec -n 2`` (cases on both ranks), the
DALEC2 example (examples/dalec2_sweep) likewise, and, under ``mpiexec`` itself (``.ci/run``),
`run_sweep` with the `MPIExecutor` against a serial run on every rank."""
import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.integration.test_sweep import write_sweep

ROOT = Path(__file__).parents[2]
PDAFRAME = [sys.executable, "-m", "pdaframe.cli"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMING = {"seconds"}                    # wall time: the one column that may differ


def table_without_timing(folder):
    with open(folder / "sweep.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def assert_same_tables(a, b):
    assert table_without_timing(a) == table_without_timing(b)
    with xr.open_dataset(a / "sweep.nc") as da, xr.open_dataset(b / "sweep.nc") as db:
        assert set(da.variables) == set(db.variables)
        for name in set(da.variables) - TIMING:
            va, vb = da[name].values, db[name].values
            if va.dtype.kind == "f":
                assert np.array_equal(va, vb, equal_nan=True), name
            else:
                assert (va == vb).all(), name


def serial_and_mpi(sweep, tmp_path, n=2):
    serial = subprocess.run([*PDAFRAME, "sweep", sweep, "-o", tmp_path / "serial"],
                            capture_output=True, text=True, timeout=600)
    assert serial.returncode == 0, serial.stderr
    mpi = subprocess.run([str(MPIEXEC), "-n", str(n), *PDAFRAME, "sweep", sweep, "-o",
                          tmp_path / "mpi"], capture_output=True, text=True, timeout=600)
    assert mpi.returncode == 0, mpi.stderr
    assert f"{n} MPI ranks" in mpi.stdout and mpi.stdout.count("wrote table") == 1
    return mpi


@pytest.mark.slow
@pytest.mark.launches_mpiexec
def test_linear_sweep_under_mpiexec_gives_the_serial_table(tmp_path):
    mpi = serial_and_mpi(write_sweep(tmp_path), tmp_path)
    assert mpi.stdout.count(": ran;") == 6
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "mpi").glob("cases/*/row.json")}
    assert len(pids) == 2                                 # both ranks ran cases
    assert_same_tables(tmp_path / "serial", tmp_path / "mpi")


@pytest.mark.slow
@pytest.mark.launches_mpiexec
@pytest.mark.skipif(importlib.util.find_spec("pdaframe_dalec2") is None,
                    reason="needs the dalec2 plugin")
def test_dalec2_sweep_example_under_mpiexec_gives_the_serial_table(tmp_path):
    serial_and_mpi(ROOT / "examples" / "dalec2_sweep" / "sweep" / "streams.toml", tmp_path)
    assert_same_tables(tmp_path / "serial", tmp_path / "mpi")
    table = table_without_timing(tmp_path / "serial")
    red = {(r["streams"], r["parameter"]): float(r["reduction"]) for r in table}
    # what the example's README reads off the table: wood carbon alone pins the initial wood
    # pool and little else; NEE constrains the allocation to autotrophic respiration and
    # litter turnover, LAI the phenology (leaf-fall day) but no turnover rate
    assert red[("c_woo", "c_woo0")] > 0.95
    assert max(v for (s, p), v in red.items() if s == "c_woo" and p != "c_woo0") < 0.3
    assert red[("nee", "f_auto")] > 0.7 and red[("lai", "f_auto")] < 0.2
    assert red[("nee", "theta_lit")] > 0.6 and red[("lai", "theta_lit")] < 0.05
    assert red[("lai", "d_fall")] > 0.7
    assert red[("nee", "c_woo0")] < 0.05 < 0.95 < red[("nee+lai+c_woo", "c_woo0")]
    for (s, p), v in red.items():        # adding data never loses information
        if s == "nee":
            assert red[("nee+lai", p)] >= v - 1e-6 and red[("nee+lai+c_woo", p)] >= v - 0.02


@pytest.mark.mpi
def test_run_sweep_with_the_mpi_executor_equals_a_serial_run(shared_tmp, comm):
    from pdaframe.parallel import MPIExecutor, SerialExecutor
    from pdaframe.sweep import run_sweep
    rank = comm.Get_rank()
    if rank == 0:
        write_sweep(shared_tmp)
    comm.Barrier()
    executor = MPIExecutor(schedule="dynamic")
    _, rows, _, _ = run_sweep(shared_tmp / "sweep.toml", shared_tmp / "mpi", executor,
                              write=rank == 0)
    comm.Barrier()
    own = shared_tmp / f"rank{rank}"
    (own / "sweep.toml").parent.mkdir()
    for name in ("base.toml", "sweep.toml"):
        (own / name).write_text((shared_tmp / name).read_text())
    _, serial, _, _ = run_sweep(own / "sweep.toml", own / "out", SerialExecutor())
    keep = ("parameter", "truth", "analysis", "posterior_std", "fun", "n_obs", "nfev")
    assert [{k: r.numbers[k] for k in keep} for r in rows] == \
        [{k: r.numbers[k] for k in keep} for r in serial]
    if rank == 0:
        assert_same_tables(shared_tmp / "mpi", own / "out")
