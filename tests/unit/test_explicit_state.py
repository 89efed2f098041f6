"""Explicit state (issue 12 item 6): the checkpoint is an argument of `pdaframe.minimise` and
of the methods that can checkpoint, `load_config` returns the problem and its run settings
side by side, and `minimise` takes the memory limit as an argument."""
import logging

import numpy as np
import pytest

import pdaframe
from pdaframe.config.loader import LoadedConfig
from pdaframe.config.settings import RunSettings
from pdaframe.io.checkpoint import Checkpoint, read_header
from pdaframe.methods.contract import takes_checkpoint
from pdaframe.methods.ensemble import drive
from pdaframe.methods.search.ga import GAState
from pdaframe.plugins import registry
from tests.unit.test_stepwise import problem as two_stream_problem

LG2 = pdaframe.Problem(pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]]),
                       pdaframe.UniformPrior([-5.0, -5.0], [5.0, 5.0]),
                       [pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0], std=0.1)])


def lg2():
    """A fresh copy of `LG2` (its run counters at 0)."""
    return pdaframe.Problem(LG2.model, LG2.prior, LG2.streams)


def stop_after(n):
    def callback(state):
        if state["nit"] >= n:
            raise StopIteration
    return callback


def test_a_scipy_minimiser_checkpoints_to_a_path_and_resumes_from_python(tmp_path):
    path = tmp_path / "nm.npz"
    options = dict(posterior=False, xatol=1e-10, fatol=1e-14)
    reference = pdaframe.minimise(lg2(), "nelder-mead", **options)
    cut = pdaframe.minimise(lg2(), "nelder-mead", callback=stop_after(10),
                            checkpoint=str(path), **options)
    head = read_header(path)
    assert head["method"] == "Nelder-Mead" and head["round"] == 10
    assert cut.history["cost"].size == 11
    resumed_problem = lg2()
    res = pdaframe.minimise(resumed_problem, "nelder-mead",
                            checkpoint=Checkpoint(path, resume=True), **options)
    # the first 10 iterations are the interrupted run's, then it goes on to the optimum
    np.testing.assert_array_equal(res.history["cost"][:11], cut.history["cost"])
    assert res.history["cost"].size > 11 and res.success
    np.testing.assert_allclose(res.x, reference.x, atol=1e-6)
    assert res.nfev == cut.nfev + resumed_problem.nrun       # counted across the resume
    assert read_header(path)["round"] == res.history["cost"].size - 1


def test_an_ensemble_method_checkpoints_and_resumes_bit_for_bit_from_python(tmp_path):
    path = tmp_path / "ga.npz"
    options = dict(seed=4, pop_size=10, maxiter=8, tol=0.0)
    reference = pdaframe.minimise(lg2(), "ga", **options)
    cut = pdaframe.minimise(lg2(), "ga", callback=stop_after(3),
                            checkpoint=Checkpoint(path, every=2), **options)
    # every 2 generations, and the one the callback stopped at (written before it)
    assert read_header(path)["round"] == 4 and cut.nfev == 40
    resumed_problem = lg2()
    res = pdaframe.minimise(resumed_problem, "ga", checkpoint=Checkpoint(path, resume=True),
                            **options)
    assert resumed_problem.nrun == reference.nfev - 40 > 0       # only the rounds left
    for key in ("x", "fun", "nfev", "nit", "population", "population_cost"):
        np.testing.assert_array_equal(res[key], reference[key], err_msg=key)
    for key in reference.history:
        np.testing.assert_array_equal(res.history[key], reference.history[key])
    assert not (tmp_path / "other.npz").exists()


def test_a_method_that_cannot_checkpoint_refuses_a_checkpoint_before_any_run(tmp_path):
    problem = lg2()
    with pytest.raises(pdaframe.ConfigError, match=r"method 'morris' cannot checkpoint"):
        pdaframe.minimise(problem, "morris", checkpoint=tmp_path / "cp.npz")

    def mine(problem, x0=None, callback=None, **options):
        raise AssertionError("ran")
    with pytest.raises(pdaframe.ConfigError, match=r"method 'mine' cannot checkpoint"):
        pdaframe.minimise(problem, mine, checkpoint=Checkpoint(tmp_path / "cp.npz"))
    assert problem.nrun == 0 and not list(tmp_path.iterdir())
    with pytest.raises(TypeError, match="path or a pdaframe.io.checkpoint.Checkpoint"):
        pdaframe.minimise(problem, "ga", checkpoint=3)
    with pytest.raises(TypeError, match="drive: checkpoint must be a"):
        drive(GAState(problem, seed=1), checkpoint=tmp_path / "cp.npz")
    assert problem.nrun == 0


def test_the_methods_that_can_checkpoint_take_it_as_an_argument_not_an_option(capsys):
    from pdaframe import cli
    methods = registry("method")
    cannot = {n for n in methods.names() if not takes_checkpoint(methods.get(n))}
    # one batch of runs each; vi: one deterministic L-BFGS-B fit, not checkpointed
    assert cannot == {"oat", "morris", "sobol", "efast", "vi"}
    for name in ("ga", "lbfgsb", "emcee", "stepwise"):
        assert cli.main(["methods", name]) == 0
        assert "checkpoint :" not in capsys.readouterr().out


def test_stepwise_checkpoints_its_first_step_only(tmp_path):
    path = tmp_path / "cp.npz"
    res = pdaframe.minimise(two_stream_problem(), "stepwise", steps=[["p"], ["q"]],
                            inner="nelder-mead", checkpoint=path)
    rounds = [step.history["cost"].size - 1 for step in res.steps]
    assert rounds[0] != rounds[1]
    head = read_header(path)
    assert head["method"] == "Nelder-Mead" and head["round"] == rounds[0]


@pytest.mark.parametrize("via", ["output", "method option"])
def test_run_problem_runs_a_method_that_cannot_checkpoint_without_one(tmp_path, caplog, via):
    from tests.integration.test_analysis_config import _config
    from pdaframe.run import run_problem
    options = "{ n = 4 }" if via == "output" else "{ n = 4, checkpoint_every = 1 }"
    replace = {'directory = "out"': 'directory = "out"\ncheckpoint_every = 1'} \
        if via == "output" else {}
    config = _config(tmp_path, "morris", options, **replace)
    problem, settings = pdaframe.load_config(config)
    with caplog.at_level(logging.WARNING, logger="pdaframe.run"):
        result, _ = run_problem(problem, settings, progress=False, write=False)
    assert result.nfev == 4 * (problem.n_param + 1)
    assert "method 'morris' cannot checkpoint" in caplog.text
    assert not (tmp_path / "out" / "checkpoint.npz").exists()


def test_load_config_returns_the_problem_and_its_settings_apart(tmp_path):
    from tests.integration.test_analysis_config import _config
    loaded = pdaframe.load_config(_config(tmp_path, "ga", "{ pop_size = 8, maxiter = 2 }"))
    problem, settings = loaded
    assert isinstance(loaded, LoadedConfig) and loaded.problem is problem
    assert isinstance(problem, pdaframe.Problem) and isinstance(settings, RunSettings)
    assert not hasattr(problem, "config")
    assert settings.method == "ga" and settings.method_options == {"pop_size": 8, "maxiter": 2}
    assert settings.output_dir == tmp_path / "out"


def test_minimise_takes_the_memory_limit_as_an_argument():
    problem = lg2()
    problem.config = RunSettings(path=None, text="", max_memory_gb=1e-9)   # not read
    res = pdaframe.minimise(problem, "importance", n_members=50, seed=1)
    assert res.nfev == 51
    with pytest.raises(pdaframe.ConfigError, match=r"n_members = 50 \(50 members\).*above "
                                                   r"the limit of 1e-09 GB"):
        pdaframe.minimise(lg2(), "importance", n_members=50, seed=1, max_memory_gb=1e-9)


@pytest.mark.parametrize("name", ["checkpoint", "max_memory_gb", "executor"])
def test_arguments_of_minimise_are_not_options(name):
    from pdaframe.minimise import check_method_options
    with pytest.raises(pdaframe.ConfigError, match=rf"method 'stepwise': \['{name}'\] cannot "
                                                   r"be options"):
        check_method_options("stepwise", {name: 1})
