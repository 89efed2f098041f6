"""SCE-UA and DDS under ``mpiexec``: the same seed gives the same result.nc, bit for bit,
serially and on 2 or 3 ranks (launches ``mpiexec`` itself, so part of the plain run)."""
import subprocess

import pytest

from tests.mpi.test_mpi_launch import PDAFRAME, TOY, assert_same_files, launch

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]


@pytest.mark.parametrize("method, options, ranks", [
    # 3 complexes of 13 points: rounds of 39, then 3 trial points (budget cuts the last)
    ("sceua", "{ max_runs = 500, n_complexes = 3 }", 2),
    ("sceua", "{ max_runs = 400, n_complexes = 2, mutation = \"box\" }", 3),
    ("dds", "{ max_runs = 300, n_candidates = 3 }", 2),
    ("dds", "{ max_runs = 200 }", 3),
])
def test_same_bits_serially_and_on_ranks(tmp_path, method, options, ranks):
    config = tmp_path / "c.toml"
    text = TOY.read_text().replace('name = "lbfgsb"', f'name = "{method}"').replace(
        "options = { maxiter = 500 }", f"options = {options}")
    assert f'name = "{method}"' in text and options in text
    config.write_text(text)
    serial = subprocess.run([*PDAFRAME, "run", config, "-o", tmp_path / "serial", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    mpi = launch(ranks, *PDAFRAME, "run", config, "-o", tmp_path / "mpi", "-q")
    assert mpi.returncode == 0, mpi.stderr
    assert f"{ranks} MPI ranks" in mpi.stdout
    assert assert_same_files(tmp_path / "serial", tmp_path / "mpi") == ["result.nc"]
