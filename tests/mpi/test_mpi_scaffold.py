"""A plugin scaffolded by ``pdaframe new-plugin`` runs under ``mpiexec`` as the README's
"Wrap your model" guide says (issue 13): nothing added to the plugin.

The python scaffold is written into a temporary folder outside the repository and installed
with ``pip install --target SITE`` (`tests.integration.test_scaffold.scaffold`), so it is
importable only through ``PYTHONPATH=SITE``, which ``mpiexec`` passes on to every rank (the
launch inherits it). Its example twin config, with an ensemble method instead of 4D-Var, is
run serially and under ``mpiexec -n 2``: every NetCDF file written is the same bit for bit.
Each run goes through `COUNTER` (`pdaframe.cli.main`, what the ``pdaframe`` command runs),
which counts the scaffolded model's runs on its rank and writes them with the rank's view of
the world, to show that both ranks imported the package from SITE and shared the members
out (a 4D-Var twin would run the same on both ranks).
Like tests/mpi/test_mpi_launch.py, these tests start ``mpiexec`` themselves: part of the
plain ``pytest`` run, skipped under ``mpiexec``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_scaffold import TRUTH, _env, scaffold
from tests.mpi.test_mpi_launch import MPIEXEC, assert_same_files

pytestmark = [pytest.mark.slow, pytest.mark.launches_mpiexec]
NAME = "soilmpi"

COUNTER = '''"""python counter.py FOLDER ARGS...: `pdaframe ARGS` on this rank, counting the
runs of the scaffolded model; writes FOLDER/rank<r>.json (rank, size, runs, package file)."""
import functools
import json
import sys
from pathlib import Path

import pdaframe_NAME.model as module
from pdaframe.cli import main
from pdaframe.parallel import get_executor

executor = get_executor()
rank, size = getattr(executor, "rank", 0), getattr(executor, "size", 1)
runs = [0]
plain = module.CLASS.run


@functools.wraps(plain)                    # the same signature: no outputs keyword
def counted(self, *args, **kwargs):
    runs[0] += 1
    return plain(self, *args, **kwargs)


module.CLASS.run = counted
status = main(sys.argv[2:])
Path(sys.argv[1], f"rank{rank}.json").write_text(json.dumps(
    {"rank": rank, "size": size, "runs": runs[0], "package": module.__file__}))
sys.exit(status)
'''

# the method replaces the example's 4D-Var; small options: each run takes a few seconds
METHODS = [
    ("4denvar", "{ n_members = 20, outer_loops = 3 }", "ensemble.nc"),
    ("de", "{ max_runs = 400, popsize = 8 }", None),
    ("dream-zs", "{ n_samples = 100, burn_in = 100, n_chains = 3 }", "samples.nc"),
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``get() -> (plugin, site, counter)``: the python scaffold installed into a site folder,
    made on the first call, i.e. inside a test, after tests/mpi/conftest.py's skips (a
    module fixture itself would run before them, also on every rank under mpiexec)."""
    made = []

    def get():
        if not made:
            tmp = tmp_path_factory.mktemp("mpi-scaffold")
            plugin, site = scaffold("python", tmp, NAME)
            counter = tmp / "counter.py"
            counter.write_text(COUNTER.replace("NAME", NAME)
                               .replace("CLASS", f"{NAME.title()}Model"))
            made.append((plugin, site, counter))
        return made[0]
    return get


def _counted_run(counter, folder, config, site, ranks=None) -> tuple[str, list[dict]]:
    """``pdaframe run config -o folder/out -q`` through ``counter`` (under ``mpiexec -n
    ranks`` when given); its stdout and the ranks' records."""
    folder.mkdir()
    args = [sys.executable, counter, folder, "run", config, "-o", folder / "out", "-q"]
    if ranks is not None:
        args = [MPIEXEC, "-n", str(ranks), *args]
    proc = subprocess.run(list(map(str, args)), env=_env(site), cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout, [json.loads((folder / f"rank{r}.json").read_text())
                         for r in range(ranks or 1)]


@pytest.mark.parametrize("method, options, extra", METHODS, ids=[m[0] for m in METHODS])
def test_scaffolded_plugin_same_bits_on_two_ranks(installed, tmp_path, method, options, extra):
    plugin, site, counter = installed()
    text = (plugin / "examples" / "twin.toml").read_text()
    config = tmp_path / "twin.toml"
    config.write_text(text.replace('name = "lbfgsb"', f'name = "{method}"')
                      .replace("options = { maxiter = 500 }", f"options = {options}")
                      .replace('directory = "../results/twin"', "plots = false"))
    assert f'name = "{method}"' in config.read_text() and "lbfgsb" not in config.read_text()
    assert "plots = false" in config.read_text()

    out, (serial,) = _counted_run(counter, tmp_path / "serial", config, site)
    assert "MPI ranks" not in out
    mpi_out, ranks = _counted_run(counter, tmp_path / "mpi", config, site, ranks=2)
    assert mpi_out.count("wrote netcdf") == 1 and "2 MPI ranks" in mpi_out    # rank 0 writes
    assert out.splitlines()[:5] == mpi_out.splitlines()[:5]          # the same summary
    expected = sorted(["result.nc"] + ([extra] if extra else []))
    assert assert_same_files(tmp_path / "serial" / "out", tmp_path / "mpi" / "out") == expected

    # both ranks imported the package from SITE and shared the members out: each ran at
    # least a quarter of the serial run's model runs (static schedule, members of a few ms:
    # member i on rank i % 2, so 1/2, or 1/3 on rank 1 for 3 chains; the dynamic one, should
    # a loaded machine make members slow, shares them by speed), and together at most 10
    # more than it (each member on one rank; a few runs, e.g. the twin's truth, on both)
    for record in [serial, *ranks]:
        assert Path(record["package"]).is_relative_to(site), record
    assert [(r["rank"], r["size"]) for r in ranks] == [(0, 2), (1, 2)]
    total, runs = serial["runs"], [r["runs"] for r in ranks]
    assert total >= 60, serial
    assert min(runs) >= total / 4 and total <= sum(runs) <= total + 10, (total, runs)

    if method == "4denvar":             # an ensemble analysis: recovers the truth
        import netCDF4
        with netCDF4.Dataset(tmp_path / "mpi" / "out" / "result.nc") as nc:
            names = list(nc["param"][:])
            analysis, std = np.array(nc["analysis"][:]), np.array(nc["posterior_std"][:])
        truth = np.array([TRUTH[n] for n in names])
        assert np.all(np.abs(analysis - truth) < 3 * std), (analysis, truth, std)
