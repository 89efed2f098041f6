"""`pdaframe run --resume`: a run killed (SIGKILL) after a checkpoint and resumed gives the
same NetCDF result, bit for bit, as an uninterrupted run with the same seed (and, in process,
a differential-evolution state checkpointed mid-run continues as the original)."""
from __future__ import annotations

import os
import select
import threading
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import netCDF4  # a hard dependency: its absence must fail the tests, not skip them

import pdaframe  # noqa: E402
from pdaframe.io import checkpoint as ckpt  # noqa: E402
from pdaframe.io.checkpoint import read_header  # noqa: E402
from pdaframe.methods.search.de import DEState  # noqa: E402
from pdaframe.parallel import SerialExecutor  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "toy_twin" / "config.toml"



def parking_script(module, target):
    """A ``python -c`` script of ``pdaframe`` whose ``module.target`` (a class method) parks
    the process once the checkpoint named by $PDAFRAME_TEST_PARK (``path:round``) holds at
    least that round: it prints ``PARKED`` and blocks until killed. No sleeps: the run stops
    at a known point however slow the machine is."""
    return ("import os, sys, threading\n"
            f"import {module} as m\n"
            "from pdaframe.io.checkpoint import read_header\n"
            "path, stop = os.environ['PDAFRAME_TEST_PARK'].rsplit(':', 1)\n"
            f"_orig = m.{target}\n"
            "def _parking(*args, **kwargs):\n"
            "    if os.path.exists(path) and read_header(path)['round'] >= int(stop):\n"
            "        print('PARKED', flush=True)\n"
            "        threading.Event().wait()\n"
            "    return _orig(*args, **kwargs)\n"
            f"m.{target} = _parking\n"
            "from pdaframe.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")


# parks before the first ask/tell round after the checkpoint
SLOW = parking_script("pdaframe.parallel.base", "SerialExecutor.map")
FAST = "import sys\nfrom pdaframe.cli import main\nsys.exit(main(sys.argv[1:]))\n"

METHODS = {
    "ga": ('"ga"', "{ pop_size = 8, maxiter = 12, tol = 0.0, checkpoint_every = 1 }", 6),
    "4denvar": ('"4denvar"', "{ n_members = 8, outer_loops = 4, checkpoint_every = 1 }", 2),
    "adaptive-metropolis": (
        '"adaptive-metropolis"',
        "{ n_chains = 2, n_samples = 10, burn_in = 10, checkpoint_every = 2 }", 8),
    # 30 members per generation, 13 rounds (initial population + 12 generations)
    "de": ('"de"', "{ popsize = 5, maxiter = 12, tol = 0.0, checkpoint_every = 1 }", 5),
    # budget ends the run in round 7, cutting its batch to 20 members
    "de-budget": ('"de"', "{ popsize = 5, maxiter = 12, tol = 0.0, max_runs = 200, "
                          "checkpoint_every = 1 }", 3),
    # 24 walkers, 20 steps of two half-ensemble maps each
    "emcee": ('"emcee"', "{ n_samples = 10, burn_in = 10, checkpoint_every = 2 }", 8),
    # batches: 4 ES-MDA, refinement rounds, checks; killed after the ES-MDA iterations
    "ces": ('"ces"', "{ n_steps = 100, n_check = 2, checkpoint_every = 1 }", 3),
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
        if key not in ("history", "run_id"):     # the time of writing; each run's own id
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


def kill_after_checkpoint(config, out, min_round, script=SLOW) -> dict:
    """Run ``config`` into ``out`` with ``script`` (a `parking_script`), SIGKILL it once it
    has parked after a checkpoint with at least ``min_round`` rounds; return the
    checkpoint's header."""
    checkpoint = out / "checkpoint.npz"
    proc = _run(script, config, out, start_new_session=True,
                env={**os.environ, "PDAFRAME_TEST_PARK": f"{checkpoint}:{min_round}"})
    fd, said = proc.stdout.fileno(), b""
    while b"PARKED\n" not in said:             # wait for the event, read unbuffered
        assert select.select([fd], [], [], 300)[0], "no checkpoint written in 300 s"
        chunk = os.read(fd, 4096)
        assert chunk, f"run ended before it was killed: {proc.communicate()}"
        said += chunk
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    return read_header(checkpoint)


def _kill_and_resume(tmp_path, method) -> Path:
    """Run ``method`` uninterrupted, and killed then resumed; assert the same NetCDF file.
    Returns the resumed result file."""
    config = _config(tmp_path, method)
    ref = _run(FAST, config, tmp_path / "ref")
    killed = tmp_path / "killed"
    head = kill_after_checkpoint(config, killed, METHODS[method][2])
    assert not (killed / "result.nc").exists()
    assert head["method"] and head["config_sha256"] and head["pdaframe_version"]
    _finish(_run(FAST, config, killed, "--resume"))
    _finish(ref)
    with netCDF4.Dataset(tmp_path / "ref" / "result.nc") as a, \
            netCDF4.Dataset(killed / "result.nc") as b:
        _same_dataset(a, b)
    return killed / "result.nc"


@pytest.mark.parametrize("method", ["ga", "4denvar", "de", "emcee", "adaptive-metropolis",
                                    "ces"])
def test_killed_run_resumes_to_the_same_result(tmp_path, method):
    _kill_and_resume(tmp_path, method)


def test_resume_refuses_another_config(tmp_path):
    config = _config(tmp_path, "ga")
    _finish(_run(FAST, config, tmp_path / "out"))
    assert (tmp_path / "out" / "checkpoint.npz").exists()
    config.write_text(config.read_text().replace("pop_size = 8", "pop_size = 10"))
    proc = _run(FAST, config, tmp_path / "out", "--resume")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "ConfigError" in err and "another config" in err


def test_de_resume_honours_the_budget(tmp_path):
    path = _kill_and_resume(tmp_path, "de-budget")
    with netCDF4.Dataset(path) as ds:
        assert int(ds.getncattr("nfev")) == 200


def _de_problem():
    model = pdaframe.LinearModel([[1.0, 1.0, 0.0], [1.0, -1.0, 0.5], [2.0, 0.0, 1.0],
                                  [0.0, 3.0, -1.0]])
    prior = pdaframe.UniformPrior([-5.0] * 3, [5.0] * 3)
    obs = pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0, 1.0], std=0.1)
    return pdaframe.Problem(model, prior, [obs])


def _de_threads():
    return sum(t.name == "pdaframe-de" for t in threading.enumerate())


def _run_rounds(state, rounds=None):
    executor = SerialExecutor()
    while not state.done and rounds != 0:
        state.tell(executor.map(state.evaluate, state.ask()))
        rounds = None if rounds is None else rounds - 1
    return state


def test_de_state_pickled_mid_run_continues_identically(tmp_path):
    """No subprocess: pickle a DE state (dithered mutation, a budget cutting the last
    generation) after 7 generations, load it into a fresh state, and finish both."""
    problem = _de_problem()
    options = dict(seed=3, popsize=6, maxiter=30, tol=0.0, max_runs=400)
    reference = _run_rounds(DEState(problem, **options)).result()
    state = _run_rounds(DEState(problem, **options), 8)
    cp = ckpt.Checkpoint(tmp_path / "checkpoint.npz")
    ckpt.save(state, cp, ckpt.dumps_state(state))
    threads = _de_threads()
    resumed = DEState(problem, **options)
    assert _de_threads() == threads + 1
    assert ckpt.load_into(resumed, cp)
    assert resumed.nfev == state.nfev == 8 * 18 and resumed.iteration == 8
    _run_rounds(resumed)
    assert _de_threads() == threads     # the thread of the replaced contents ended
    for result in (resumed.result(), _run_rounds(state).result()):
        assert result.nfev == 400 and result.status == 2
        for key in reference:
            a, b = reference[key], result[key]
            if isinstance(a, dict):
                assert a.keys() == b.keys() and all(
                    np.array_equal(a[k], b[k]) for k in a), key
            else:
                assert np.array_equal(np.asarray(a), np.asarray(b)), key


def test_de_resume_refuses_a_run_it_does_not_retrace(tmp_path):
    """A replay that asks for other members than the log's (e.g. another scipy) is refused."""
    problem = _de_problem()
    options = dict(seed=3, popsize=6, maxiter=10)
    state = _run_rounds(DEState(problem, **options), 4)
    state._log[2] = ("0" * 16, state._log[2][1])
    cp = ckpt.Checkpoint(tmp_path / "checkpoint.npz")
    ckpt.save(state, cp)
    state.stop()
    resumed = DEState(problem, **options)
    ckpt.load_into(resumed, cp)
    with pytest.raises(pdaframe.ConfigError, match="other members"):
        resumed.ask()
    assert resumed.done


def test_replay_executor_answers_logged_batches_and_refuses_other_runs(tmp_path):
    from pdaframe.io.checkpoint import Checkpoint, replaying
    from pdaframe.errors import ConfigError
    from pdaframe.parallel import SerialExecutor
    calls = []

    def square(x):
        calls.append(float(x[0]))
        return x ** 2
    batches = [np.array([[1.0], [2.0]]), np.array([[3.0]])]
    ex = replaying(SerialExecutor(), "test", Checkpoint(tmp_path / "cp.pkl", every=1))
    first = ex.map(square, batches[0])
    assert read_header(tmp_path / "cp.pkl")["round"] == 1 and calls == [1.0, 2.0]
    resume = Checkpoint(tmp_path / "cp.pkl", every=1, resume=True)
    ex = replaying(SerialExecutor(), "test", resume)
    again = ex.map(square, batches[0])               # from the log: no call
    assert calls == [1.0, 2.0] and np.array_equal(np.array(again), np.array(first))
    ex.map(square, batches[1])                        # beyond the log: live
    assert calls == [1.0, 2.0, 3.0]
    ex = replaying(SerialExecutor(), "test", resume)
    with pytest.raises(ConfigError, match="batch 1 asks for other runs"):
        ex.map(square, np.array([[1.0], [2.5]]))
    assert replaying(ex.executor, "test") is ex.executor         # no checkpoint: unwrapped
