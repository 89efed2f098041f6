"""Tests that start ``mpiexec`` themselves (part of the plain ``pytest`` run, skipped under
``mpiexec``): the SPMD ``pdaframe run`` is bit-identical to a serial run; MPI detection."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

DATA = Path(__file__).parents[1] / "data"
pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]
PDAFRAME = [sys.executable, "-m", "pdaframe.cli"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"          # the pip mpich wheel's


def launch(n, *args, cwd=None):
    return subprocess.run([str(MPIEXEC), "-n", str(n), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_mpiexec_is_detected_and_only_rank_0_is_root():
    code = ("from pdaframe.parallel import get_executor, is_root; ex = get_executor(); "
            "rows = ex.comm.gather((type(ex).__name__, ex.rank, ex.size, is_root())); "
            "print(rows) if ex.rank == 0 else None")
    proc = launch(2, sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[('MPIExecutor', 0, 2, True), ('MPIExecutor', 1, 2, False)]"


def test_cli_under_mpiexec_matches_the_serial_run_bit_for_bit(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    config = tmp_path / "lg2.toml"
    serial = subprocess.run([*PDAFRAME, "run", config, "-o", tmp_path / "serial", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(2, *PDAFRAME, "run", config, "-o", tmp_path / "mpi", "-q")
    assert mpi.returncode == 0, mpi.stderr
    assert mpi.stdout.count("analysis") == 1            # rank 0 prints, once
    assert "2 MPI ranks" in mpi.stdout
    assert serial.stdout.splitlines()[:4] == mpi.stdout.splitlines()[:4]
    assert_same_netcdf(tmp_path / "serial" / "result.nc", tmp_path / "mpi" / "result.nc")


def assert_same_netcdf(path_a, path_b):
    """Every variable equal bit for bit, and the same config."""
    with xr.open_dataset(path_a) as a, xr.open_dataset(path_b) as b:
        assert set(a.data_vars) == set(b.data_vars) and "analysis" in a
        for name in a.data_vars:
            va, vb = a[name].values, b[name].values
            if va.dtype.kind == "f":
                assert np.array_equal(va, vb, equal_nan=True), name
            else:
                assert (va == vb).all(), name
        assert a.attrs["config"] == b.attrs["config"]
        assert a.attrs["nfev"] == b.attrs["nfev"]


TOY = Path(__file__).parents[2] / "examples" / "toy_twin" / "config.toml"


@pytest.mark.parametrize("method, options, ranks", [
    ("4denvar", "{ n_members = 15, outer_loops = 3, epsilon = 0.01 }", 3),
    ("de", "{ max_runs = 600, popsize = 8 }", 2),
    ("ga", "{ max_runs = 600 }", 4),
])
def test_seeded_ensemble_methods_same_bits_on_any_number_of_ranks(tmp_path, method, options,
                                                                  ranks):
    config = tmp_path / "c.toml"
    config.write_text(TOY.read_text().replace('name = "lbfgsb"', f'name = "{method}"')
                      .replace("options = { maxiter = 500 }", f"options = {options}"))
    serial = subprocess.run([*PDAFRAME, "run", config, "-o", tmp_path / "serial", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(ranks, *PDAFRAME, "run", config, "-o", tmp_path / "mpi", "-q")
    assert mpi.returncode == 0, mpi.stderr
    assert_same_netcdf(tmp_path / "serial" / "result.nc", tmp_path / "mpi" / "result.nc")


def test_bad_config_under_mpiexec_exits_2_with_one_line_per_other_rank(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    config = tmp_path / "lg2.toml"
    config.write_text(config.read_text().replace('name = "lbfgsb"', 'name = "bfgs"'))
    proc = launch(2, *PDAFRAME, "run", config, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert sum(line.startswith("pdaframe: error (PluginError)") for line in lines) == 1
    assert sum(line.startswith("pdaframe: rank 1/2: error (PluginError)") for line in lines) == 1
    assert proc.stdout == "" and not (tmp_path / "out").exists()
