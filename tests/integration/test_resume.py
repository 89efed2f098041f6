"""`pdaframe run --resume`: a run killed (SIGKILL) after a checkpoint and resumed gives the
same NetCDF result, bit for bit, as an uninterrupted run with the same seed."""
from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

netCDF4 = pytest.importorskip("netCDF4")

from pdaframe.checkpoint import read_header  # noqa: E402
from pdaframe.methods import mcmc  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "toy_twin" / "config.toml"

# each ask/tell round sleeps, so that the run can be killed between checkpoints
SLOW = ("import sys, time\n"
        "import pdaframe.parallel.base as b\n"
        "_map = b.SerialExecutor.map\n"
        "def _slow(self, func, items):\n"
        "    time.sleep(0.2)\n"
        "    return _map(self, func, items)\n"
        "b.SerialExecutor.map = _slow\n"
        "from pdaframe.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
FAST = "import sys\nfrom pdaframe.cli import main\nsys.exit(main(sys.argv[1:]))\n"

CHAINS_CHECKPOINTED = "drive(" in inspect.getsource(mcmc.drive_chains)

METHODS = {
    "ga": ('"ga"', "{ pop_size = 8, maxiter = 12, tol = 0.0, checkpoint_every = 1 }", 6),
    "4denvar": ('"4denvar"', "{ n_members = 8, outer_loops = 4, checkpoint_every = 1 }", 2),
    "adaptive-metropolis": (
        '"adaptive-metropolis"',
        "{ n_chains = 2, n_samples = 10, burn_in = 10, checkpoint_every = 2 }", 8),
}


def _config(tmp_path, method) -> Path:
    name, options, _ = METHODS[method]
    text = CONFIG.read_text()
    text = text.replace('name = "lbfgsb"', f"name = {name}")
    text = text.replace("options = { maxiter = 500 }", f"options = {options}")
    text = text.replace('directory = "../../results/toy_twin"', 'directory = "out"')
    assert f"name = {name}" in text and options in text
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _run(script, config, out, *extra, **kw):
    cmd = [sys.executable, "-c", script, "run", str(config), "-q", "-o", str(out), *extra]
    return subprocess.Popen(cmd, cwd=config.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def _same_dataset(a, b):
    assert set(a.ncattrs()) == set(b.ncattrs())
    for key in a.ncattrs():
        if key != "history":                     # holds the time of writing
            va, vb = a.getncattr(key), b.getncattr(key)
            assert np.array_equal(np.asarray(va), np.asarray(vb)), key
    assert set(a.variables) == set(b.variables)
    for key in a.variables:
        va, vb = a.variables[key][...], b.variables[key][...]
        assert va.dtype == vb.dtype, key
        assert np.array_equal(np.ma.getdata(va), np.ma.getdata(vb), equal_nan=va.dtype.kind
                              == "f"), key
        assert np.array_equal(np.ma.getmaskarray(va), np.ma.getmaskarray(vb)), key
    assert set(a.groups) == set(b.groups)
    for key in a.groups:
        _same_dataset(a.groups[key], b.groups[key])


@pytest.mark.parametrize("method", [
    "ga", "4denvar",
    pytest.param("adaptive-metropolis", marks=pytest.mark.skipif(
        not CHAINS_CHECKPOINTED, reason="mcmc.drive_chains does not run through "
                                        "ensemble.drive, so it writes no checkpoints")),
])
def test_killed_run_resumes_to_the_same_result(tmp_path, method):
    config = _config(tmp_path, method)
    min_round = METHODS[method][2]
    ref = _run(FAST, config, tmp_path / "ref")
    # interrupted run: SIGKILL once a checkpoint after `min_round` rounds exists
    killed = tmp_path / "killed"
    proc = _run(SLOW, config, killed, start_new_session=True)
    checkpoint = killed / "checkpoint.pkl"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, f"run ended before it was killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint written"
        if checkpoint.exists() and read_header(checkpoint)["round"] >= min_round:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (killed / "result.nc").exists()
    head = read_header(checkpoint)
    assert head["method"] and head["config_sha256"] and head["pdaframe_version"]
    _finish(_run(FAST, config, killed, "--resume"))
    _finish(ref)
    with netCDF4.Dataset(tmp_path / "ref" / "result.nc") as a, \
            netCDF4.Dataset(killed / "result.nc") as b:
        _same_dataset(a, b)


def test_resume_refuses_another_config(tmp_path):
    config = _config(tmp_path, "ga")
    _finish(_run(FAST, config, tmp_path / "out"))
    assert (tmp_path / "out" / "checkpoint.pkl").exists()
    config.write_text(config.read_text().replace("pop_size = 8", "pop_size = 10"))
    proc = _run(FAST, config, tmp_path / "out", "--resume")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "ConfigError" in err and "another config" in err


def test_de_cannot_be_checkpointed(tmp_path):
    config = _config(tmp_path, "ga")
    config.write_text(config.read_text().replace('name = "ga"', 'name = "de"').replace(
        "pop_size = 8, maxiter = 12, tol = 0.0, ", "maxiter = 2, "))
    proc = _run(FAST, config, tmp_path / "out")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "cannot be checkpointed" in err
