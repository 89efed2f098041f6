"""DALEC2 with its pools as the state (`Dalec2Pools`): chained ``advance`` == ``run``, and the
joint state–parameter EnKF on the US-Me2 twin (examples/dalec2_twin) against a state-only
EnKF at the prior's parameters."""
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.interfaces import has_state
from pdaframe_dalec2.state import Dalec2Pools

CONFIG = Path(__file__).parents[3] / "examples" / "dalec2_twin" / "config.toml"


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    path = tmp_path_factory.mktemp("twin") / "c.toml"
    path.write_text(CONFIG.read_text().replace("../../", str(CONFIG.parents[2]) + "/"))
    problem, settings = pdaframe.load_config(path)
    return problem, settings.truth


def test_chained_advance_is_the_whole_run_bit_for_bit(twin):
    problem, truth = twin
    model = Dalec2Pools(problem.model)
    assert has_state(model) and model.state_names[0] == "c_lab" and model.n_steps == 1461
    full = problem.model.run(truth)
    for edges in ([0, 1461], [0, 1, 17, 400, 1461], [0, 700, 701, 1461]):
        x, parts = model.initial_state(truth), []
        for a, b in zip(edges[:-1], edges[1:]):
            x, out = model.advance(truth, x, a, b)
            parts.append(out)
        for name in full:
            assert np.array_equal(np.concatenate([p[name] for p in parts]), full[name]), name
        assert np.array_equal(x, problem.model.end_state(truth))
    # the pools at the start of step 400 are the state after step 399
    x, _ = model.advance(truth, model.initial_state(truth), 0, 400)
    assert np.array_equal(x, [full[n][400] for n in model.state_names])


def test_joint_enkf_on_the_dalec2_twin(twin):
    problem, truth = twin
    model = Dalec2Pools(problem.model)
    full = problem.model.run(truth)
    # row k: the pools after step k (the start of step k + 1)
    states = np.column_stack([np.r_[full[n][1:], np.nan] for n in model.state_names])
    states[-1] = problem.model.end_state(truth)
    pools = pdaframe.Problem(model, problem.prior, problem.streams)
    options = dict(n_members=50, seed=1, n_cycles=96, parameter_inflation=1.02,
                   true_parameters=truth, true_states=states)
    joint = pdaframe.minimise(pools, "joint-enkf", **options)
    fixed = pdaframe.minimise(pools, "joint-enkf", update_parameters=False, **options)
    process = slice(0, 17)                 # theta[17:] are the initial pools, i.e. the state
    z = ((joint.x - truth) / joint.posterior_std)[process]
    closer = np.abs(joint.x - truth)[process] < np.abs(joint.x0 - truth)[process]
    print(f"\nDALEC2 twin, US-Me2 2004-2007, 96 cycles, N = 50: pool RMSE (g m-2, last half) "
          f"joint {joint.state_rmse:.0f} vs prior parameters {fixed.state_rmse:.0f}; "
          f"{closer.sum()} of 17 process parameters closer to the truth than the "
          f"background, max |z| {np.abs(z).max():.2f}; {joint.n_failed} of {joint.nfev} "
          f"member runs failed (negative pools), redrawn")
    assert joint.success and joint.nit == 96
    assert joint.state_rmse < 0.75 * fixed.state_rmse
    assert np.all(np.abs(z) < 2) and closer.sum() >= 14
    assert joint.n_failed < 0.01 * joint.nfev and joint.n_redrawn == joint.n_failed


@pytest.mark.slow
def test_joint_enkf_from_a_dalec2_config(tmp_path):
    from pdaframe.errors import ConfigError
    from pdaframe.run import run_problem
    text = (CONFIG.read_text().replace("../../", str(CONFIG.parents[2]) + "/")
            .replace('end = "2007-12-31" }', 'end = "2007-12-31", state = true }')
            .replace('name = "lbfgsb"\noptions = { maxiter = 2000 }',
                     'name = "joint-enkf"\noptions = { n_members = 20, n_cycles = 8 }')
            .replace('directory = "../../results/dalec2_twin"', 'plots = false'))
    (tmp_path / "c.toml").write_text(text)
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    assert isinstance(problem.model, Dalec2Pools)
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    assert result.nit == 8 and result.success and "ensemble" in paths
    assert result.state_names == ["c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som"]
    (tmp_path / "bad.toml").write_text(text.replace("state = true", "state = true, "
                                                    "spinup = 'cycle'"))
    with pytest.raises(ConfigError, match="state = true .* goes with none of spinup"):
        pdaframe.load_config(tmp_path / "bad.toml")


def test_per_year_f_auto_on_dalec2_pools(twin):
    from pdaframe.models.periods import PerPeriodModel
    problem, truth = twin
    model = pdaframe.get_model("per-period", model="dalec2", site="US-Me2",
                               start="2004-01-01", end="2007-12-31", state=True,
                               varying=["f_auto"], starts=[0, 366, 731],
                               labels=[2004, 2005, 2006])
    assert isinstance(model, PerPeriodModel) and model.n_steps == 1461
    names = list(model.parameter_names)
    assert names[:4] == ["theta_min", "f_auto@2004", "f_auto@2005", "f_auto@2006"]
    assert [p.default for p in model.parameters][1:4] == [model.parameters[1].default] * 3
    i = problem.parameter_names.index("f_auto")
    theta = np.r_[truth[:i], [truth[i]] * 3, truth[i + 1:]]
    same = model.run(theta)
    full = problem.model.run(truth)
    assert all(np.array_equal(same[k], full[k]) for k in full)
    theta[i + 1] = 0.3                     # 2005 only: 2004 unchanged, later years differ
    other = model.run(theta)
    assert np.array_equal(other["nee"][:366], full["nee"][:366])
    assert not np.allclose(other["nee"][366:731], full["nee"][366:731])
