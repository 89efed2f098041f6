"""`pdaframe run --resume` for the scipy minimisers: a run killed (SIGKILL) after a checkpoint
and resumed reaches the same optimum, within the minimiser's tolerance, as an uninterrupted
run, with a continuous history.

Not bit for bit: scipy's internal state (L-BFGS-B's curvature memory, the Nelder–Mead
simplex) is not checkpointed, so the resumed run restarts from the checkpointed iterate.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netCDF4  # a hard dependency: its absence must fail the tests, not skip them

from pdaframe.io.checkpoint import read_header  # noqa: E402
from tests.integration.test_resume import (CONFIG, FAST, _finish, _run,  # noqa: E402
                                           kill_after_checkpoint, parking_script)

# parks at the first model run after the checkpoint
SLOW = parking_script("pdaframe.problem.single", "Problem.cost_u")


def _config(tmp_path, method="lbfgsb", every=3, where="output") -> Path:
    text = CONFIG.read_text()
    text = text.replace('name = "lbfgsb"', f'name = "{method}"')
    options = "options = { maxiter = 500 }" if where == "output" else \
        f"options = {{ maxiter = 500, checkpoint_every = {every} }}"
    text = text.replace("options = { maxiter = 500 }", options)
    out = 'directory = "out"' + (f"\ncheckpoint_every = {every}" if where == "output" else "")
    text = text.replace('directory = "../../results/toy_twin"', out)
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _read(path):
    with netCDF4.Dataset(path) as ds:
        return (np.asarray(ds["analysis"][:], dtype=float), np.asarray(ds["cost"][:], dtype=float))


@pytest.mark.parametrize("where", ["output", "method"])
def test_killed_lbfgsb_resumes_to_the_same_optimum(tmp_path, where):
    config = _config(tmp_path, every=3, where=where)
    ref = _run(FAST, config, tmp_path / "ref")
    killed = tmp_path / "killed"
    checkpoint = killed / "checkpoint.npz"
    head = kill_after_checkpoint(config, killed, 6, script=SLOW)
    assert not (killed / "result.nc").exists()
    assert head["method"] == "L-BFGS-B" and head["config_sha256"] and head["pdaframe_version"]
    assert head["round"] % 3 == 0
    k = head["round"]
    _finish(_run(FAST, config, killed, "--resume"))
    _finish(ref)
    x_ref, cost_ref = _read(tmp_path / "ref" / "result.nc")
    x_res, cost_res = _read(killed / "result.nc")
    # same optimum within the minimiser's tolerance (not bit for bit: curvature memory lost)
    np.testing.assert_allclose(x_res, x_ref, rtol=1e-6)
    np.testing.assert_allclose(cost_res[-1], cost_ref[-1], rtol=1e-9)
    # continuous history: the first k iterations are the interrupted run's, i.e. exactly the
    # uninterrupted run's, and the cost keeps decreasing across the resume
    assert cost_res.size > k + 1
    np.testing.assert_array_equal(cost_res[:k + 1], cost_ref[:k + 1])
    assert np.all(np.diff(cost_res) <= 1e-12 * np.abs(cost_res[:-1]))
    assert read_header(checkpoint)["round"] == cost_res.size - 1     # final checkpoint


def test_nelder_mead_checkpoints_and_resumes(tmp_path):
    from pdaframe.io.checkpoint import Checkpoint
    from pdaframe.config.loader import load_config
    from pdaframe.minimise import minimise

    config = _config(tmp_path, every=2)
    problem, settings = load_config(config)
    assert settings.checkpoint_every == 2
    n_param = problem.n_param
    path = tmp_path / "cp.pkl"
    calls = []

    def stop_at_10(r):
        calls.append(r.nit)
        if r.nit >= 10:
            raise StopIteration
    cut = minimise(problem, "nelder-mead", callback=stop_at_10, maxfev=300 * n_param,
                   posterior=False, checkpoint=Checkpoint(path, every=2))
    assert read_header(path)["round"] == len(cut["history"]["cost"]) - 1
    res = minimise(load_config(config).problem, "nelder-mead", maxfev=300 * n_param,
                   posterior=False, checkpoint=Checkpoint(path, every=2, resume=True))
    k = len(cut["history"]["cost"])
    np.testing.assert_array_equal(res["history"]["cost"][:k], cut["history"]["cost"])
    assert res["history"]["cost"].size > k
    assert res["fun"] <= cut["fun"]


def test_output_checkpoint_every_is_validated(tmp_path):
    from pdaframe.config.loader import load_config
    from pdaframe.errors import ConfigError

    config = _config(tmp_path, every=-1)
    with pytest.raises(ConfigError, match="checkpoint_every"):
        load_config(config)
