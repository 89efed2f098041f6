"""Stepwise DALEC2 twin with per-step parameter subsets (examples/dalec2_twin's data).

The LAI step estimates phenology, allocation and the foliar/labile initial pools
(`LAI_PARAMETERS`), holding the rest at the prior mean; the NEE (and wood carbon) step
estimates the rest, holding those at the LAI step's estimate. Both steps' streams depend on
what they hold (LAI on GPP's ``c_eff``, NEE on allocation), so the chain is an
approximation: the test asks that most parameters (at least 15 of 23) lie within their
posterior 95 % interval, that both steps flag the held dependence, and that letting the NEE
step estimate all parameters recovers at least 20 of 23 (printed).
"""
import logging
from pathlib import Path

import numpy as np
import pytest

import pdaframe

CONFIG = Path(__file__).parents[3] / "examples" / "dalec2_twin" / "config.toml"
LAI_PARAMETERS = ["f_auto", "f_fol", "f_roo", "c_lspan", "d_onset", "f_lab", "c_ronset",
                  "d_fall", "c_rfall", "c_lma", "c_lab0", "c_fol0"]


def twin(tmp_path, seed):
    text = CONFIG.read_text().replace("../../", str(CONFIG.parents[2]) + "/")
    (tmp_path / "c.toml").write_text(text.replace("seed = 2\n", f"seed = {seed}\n", 1))
    return pdaframe.load_config(tmp_path / "c.toml")


def coverage(res, truth, names, label):
    z = np.abs(res.x - truth) / res.posterior_std
    print(f"\n{label}: J = {res.fun:.1f}, {np.sum(z < 1.96)} of {z.size} within the 95 % "
          f"interval")
    for n, t, x, s, zz in zip(names, truth, res.x, res.posterior_std, z):
        step = "LAI" if n in LAI_PARAMETERS else "NEE"
        print(f"  {n:<10}{step:>4}{t:>12.5g}{x:>12.5g}{s:>11.3g}{zz:>7.2f}")
    return int(np.sum(z < 1.96))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lai_step_phenology_allocation_nee_step_the_rest(tmp_path, seed, caplog):
    problem, settings = twin(tmp_path, seed)
    names = problem.parameter_names
    rest = [n for n in names if n not in LAI_PARAMETERS]
    steps = [{"streams": ["lai"], "parameters": LAI_PARAMETERS},
             {"streams": ["nee", "c_woo"], "parameters": rest}]
    with caplog.at_level(logging.WARNING, logger="pdaframe.methods.stepwise"):
        res = pdaframe.minimise(problem, method="stepwise", steps=steps,
                                inner_options={"maxiter": 2000})
    assert res.success, res.message
    assert [s.parameters for s in res.steps] == [[n for n in names if n in LAI_PARAMETERS],
                                                 rest]
    # held parameters keep their values in a step; the full covariance is carried
    lai_index = [names.index(n) for n in LAI_PARAMETERS]
    np.testing.assert_array_equal(res.x[lai_index], res.steps[0].x[lai_index])
    np.testing.assert_array_equal(res.steps[0].x[[names.index(n) for n in rest]],
                                  problem.prior.mean[[names.index(n) for n in rest]])
    assert res.posterior_covariance.shape == (23, 23)
    # both steps depend on what they hold, strongly: flagged once each
    warned = [r.message for r in caplog.records if "holds at their mean" in r.message]
    assert len(warned) == 2
    assert all(s.inactive_sensitivity > 5 for s in res.steps)
    assert coverage(res, settings.truth, names, f"seed {seed}, LAI: {len(LAI_PARAMETERS)} "
                                                f"parameters, NEE: the rest") >= 15
    problem, _ = twin(tmp_path, seed)
    steps[1] = {"streams": ["nee", "c_woo"]}
    res_all = pdaframe.minimise(problem, method="stepwise", steps=steps,
                                inner_options={"maxiter": 2000})
    assert coverage(res_all, settings.truth, names,
                    f"seed {seed}, LAI: {len(LAI_PARAMETERS)} parameters, NEE: all") >= 20
    assert res_all.fun < res.fun
