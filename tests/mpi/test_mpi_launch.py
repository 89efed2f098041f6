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


def serial_and_mpi(args, tmp_path, n=2):
    """``pdaframe *args <tmp_path>/serial`` run serially and ``... <tmp_path>/mpi`` under
    ``mpiexec -n n``: both succeed and print the same (rank 0 prints, once)."""
    serial = subprocess.run([*PDAFRAME, *map(str, args), str(tmp_path / "serial")],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(n, *PDAFRAME, *args, tmp_path / "mpi")
    assert mpi.returncode == 0, mpi.stderr
    assert mpi.stdout == serial.stdout.replace("serial", "mpi")


def assert_run_same_on_ranks(config, tmp_path, ranks=2):
    """``pdaframe run config`` serially (into ``tmp_path/serial``) and under ``mpiexec -n
    ranks`` (``tmp_path/mpi``): both succeed and write the same result.nc."""
    serial = subprocess.run([*PDAFRAME, "run", config, "-q", "-o", tmp_path / "serial"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(ranks, *PDAFRAME, "run", config, "-q", "-o", tmp_path / "mpi")
    assert mpi.returncode == 0, mpi.stderr
    assert f"{ranks} MPI ranks" in mpi.stdout
    assert_same_netcdf(tmp_path / "serial" / "result.nc", tmp_path / "mpi" / "result.nc")


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
    assert_same_files(tmp_path / "serial", tmp_path / "mpi")    # 4denvar: ensemble.nc too


def assert_same_files(dir_a, dir_b):
    """The same NetCDF files in both folders, every variable of every group equal bit for
    bit (NaN included), and the same attributes but for the write time and the run id."""
    import netCDF4
    names = sorted(p.name for p in Path(dir_a).glob("*.nc"))
    assert names == sorted(p.name for p in Path(dir_b).glob("*.nc"))

    def same_group(a, b, where):
        volatile = {"history", "created_at", "run_id"}
        attrs_a = {k: a.getncattr(k) for k in a.ncattrs() if k not in volatile}
        attrs_b = {k: b.getncattr(k) for k in b.ncattrs() if k not in volatile}
        assert attrs_a.keys() == attrs_b.keys(), where
        for k in attrs_a:
            assert np.array_equal(np.asarray(attrs_a[k]), np.asarray(attrs_b[k]),
                                  equal_nan=np.asarray(attrs_a[k]).dtype.kind == "f"), \
                f"{where} attribute {k}"
        assert a.variables.keys() == b.variables.keys(), where
        for name, va in a.variables.items():
            vb = b.variables[name]
            va.set_auto_mask(False), vb.set_auto_mask(False)
            xa, xb = va[...], vb[...]
            assert va.dimensions == vb.dimensions, f"{where}/{name}"
            if isinstance(xa, np.ndarray) and xa.dtype.kind in "fiub":
                assert xa.dtype == xb.dtype and xa.tobytes() == xb.tobytes(), f"{where}/{name}"
            else:
                assert np.array_equal(np.asarray(xa), np.asarray(xb)), f"{where}/{name}"
        assert a.groups.keys() == b.groups.keys(), where
        for g in a.groups:
            same_group(a.groups[g], b.groups[g], f"{where}/{g}")

    for name in names:
        with netCDF4.Dataset(Path(dir_a) / name) as a, netCDF4.Dataset(Path(dir_b) / name) as b:
            same_group(a, b, name)
    return names


def run_toy_serially(tmp_path, method, options, nee_every=1) -> Path:
    """The toy twin config with ``method`` and ``options`` (no plots, NEE every
    ``nee_every`` days) in ``tmp_path/c.toml``, run serially into ``tmp_path/serial``."""
    text = (TOY.read_text().replace('name = "lbfgsb"', f'name = "{method}"')
            .replace("options = { maxiter = 500 }", f"options = {options}")
            .replace('directory = "../../results/toy_twin"', "plots = false")
            .replace("stop = 730, step = 1 }", f"stop = 730, step = {nee_every} }}"))
    config = tmp_path / "c.toml"
    config.write_text(text)
    serial = subprocess.run([*PDAFRAME, "run", config, "-o", tmp_path / "serial", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    return config


# small, fast options; every NetCDF written (result.nc, samples.nc, ensemble.nc) compared
# with one serial run, for each rank count (members split unevenly: 14 over 3 or 4, ...)
UNCERTAINTY = [
    ("adaptive-metropolis", "{ n_samples = 60, burn_in = 60, n_chains = 3 }", (2,),
     "samples.nc"),
    ("dream-zs", "{ n_samples = 60, burn_in = 60, n_chains = 3 }", (3,), "samples.nc"),
    ("emcee", "{ n_samples = 20, burn_in = 20, n_chains = 14 }", (4,), "samples.nc"),
    ("importance", "{ n_members = 40 }", (3,), "ensemble.nc"),
    ("glue", "{ n_members = 40, threshold = 0.0 }", (4,), "ensemble.nc"),
    ("es-mda", "{ n_members = 14, alphas = 2 }", (2, 4), "ensemble.nc"),
    ("enkf", "{ n_members = 14, n_cycles = 3, inflation = 1.05 }", (3,), "ensemble.nc"),
    ("particle-filter", "{ n_members = 20, n_cycles = 3, resample_threshold = 1.0 }", (2, 3),
     "ensemble.nc"),
    ("ces", "{ n_design = 16, n_steps = 150, n_check = 2 }", (3,), "samples.nc"),
]


@pytest.mark.parametrize("method, options, ranks, extra", UNCERTAINTY,
                         ids=[u[0] for u in UNCERTAINTY])
def test_seeded_uncertainty_methods_same_bits_on_any_number_of_ranks(tmp_path, method,
                                                                    options, ranks, extra):
    # ces: NEE every 30 days, 33 emulated outputs, not 738
    config = run_toy_serially(tmp_path, method, options, 30 if method == "ces" else 1)
    for n in ranks:
        mpi = launch(n, *PDAFRAME, "run", config, "-o", tmp_path / f"mpi{n}", "-q")
        assert mpi.returncode == 0, mpi.stderr
        assert f"{n} MPI ranks" in mpi.stdout
        assert assert_same_files(tmp_path / "serial", tmp_path / f"mpi{n}") == sorted(
            ["result.nc", extra])


def test_bad_config_under_mpiexec_exits_2_with_one_line_per_other_rank(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    config = tmp_path / "lg2.toml"
    config.write_text(config.read_text().replace('name = "lbfgsb"', 'name = "bfgs"'))
    proc = launch(2, *PDAFRAME, "run", config, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert sum(line.startswith("pdaframe: error (ConfigError)") for line in lines) == 1
    assert sum(line.startswith("pdaframe: rank 1/2: error (ConfigError)") for line in lines) == 1
    assert proc.stdout == "" and not (tmp_path / "out").exists()


def test_locked_output_folder_under_mpiexec_stops_every_rank_with_status_2(tmp_path):
    import fcntl
    import os
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / ".pdaframe.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"pid 4242 on host elsewhere")
        proc = launch(2, *PDAFRAME, "run", tmp_path / "lg2.toml", "-o", out, "-q")
    finally:
        os.close(fd)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert sum(line.startswith("pdaframe: error (OutputError): output folder") and
               "in use by another pdaframe run (pid 4242 on host elsewhere" in line
               for line in lines) == 1, proc.stderr
    assert sum(line.startswith("pdaframe: rank 1/2: error (OutputError)") for line in lines) \
        == 1, proc.stderr
    assert not (out / "result.nc").exists()


ANALYSES = [
    ("sobol", "{ n = 16, shortlist = { top = 3 } }", 3, "sensitivity.nc"),
    ("morris", "{ n = 6 }", 2, "sensitivity.nc"),
    ("history-matching", "{ n_design = 12, max_waves = 2, n_candidates = 2000 }", 4,
     "history_matching.nc"),
]


@pytest.mark.parametrize("method, options, ranks, netcdf", ANALYSES,
                         ids=[a[0] for a in ANALYSES])
def test_analyses_same_files_on_any_number_of_ranks(tmp_path, method, options, ranks, netcdf):
    # history matching: 20 observations (one GP each), not 738
    config = run_toy_serially(tmp_path, method, options,
                              61 if method == "history-matching" else 1)
    mpi = launch(ranks, *PDAFRAME, "run", config, "-o", tmp_path / "mpi", "-q")
    assert mpi.returncode == 0, mpi.stderr
    assert mpi.stdout.count("wrote netcdf") == 1                     # rank 0 writes
    assert assert_same_files(tmp_path / "serial", tmp_path / "mpi") == [netcdf]
    if netcdf == "sensitivity.nc":
        assert [line for line in (tmp_path / "serial" / "shortlist.toml").read_text()
                .splitlines() if not line.startswith("# run id")] == \
            [line for line in (tmp_path / "mpi" / "shortlist.toml").read_text().splitlines()
             if not line.startswith("# run id")]
