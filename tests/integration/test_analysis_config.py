"""Sensitivity analysis and history matching as config methods: their files, the shortlist a
later config uses through ``estimate_from``, and history-matching waves resumed after SIGKILL."""
from __future__ import annotations

import tomllib

import numpy as np
import pytest
import xarray as xr

from pdaframe.config.loader import load_config
from pdaframe.errors import ConfigError
from pdaframe.run import run_problem, summary_table
from tests.integration.test_resume import (CONFIG, FAST, _finish, _run, _same_dataset,
                                           kill_after_checkpoint)

import netCDF4  # a hard dependency: its absence must fail the tests, not skip them

TRUTH = "truth = { eps = 1.45, k_fast = 0.026, k_slow = 0.0007, h = 0.0042, q10 = 2.3, " \
        "c_fast0 = 380.0 }"


def _config(tmp_path, method, options, name="config.toml", **replace):
    text = CONFIG.read_text().replace('name = "lbfgsb"', f'name = "{method}"')
    text = text.replace("options = { maxiter = 500 }", f"options = {options}")
    text = text.replace('directory = "../../results/toy_twin"', 'directory = "out"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sobol_config_writes_indices_plot_and_a_shortlist_a_config_can_use(tmp_path):
    config = _config(tmp_path, "sobol", "{ n = 32, shortlist = { top = 3 } }")
    problem, settings = load_config(config)
    result, paths = run_problem(problem, settings, progress=False)
    assert set(paths) == {"netcdf", "shortlist", "sensitivity_plot", "report"}
    assert paths["sensitivity_plot"].stat().st_size > 0
    ranked = result.ranking()
    assert result["shortlist"] == ranked[:3] and result.nfev == 32 * (6 + 2)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert list(ds["param"].values) == list(problem.prior.names)
        np.testing.assert_array_equal(ds["ST"].values, result.indices["ST"])
        np.testing.assert_array_equal(ds["S1_conf"].values, result.conf["S1"])
        np.testing.assert_array_equal(ds["Y"].values, result.Y)
        assert [str(ds["param"].values[i]) for i in np.argsort(ds["rank"].values)] == ranked
        assert ds["shortlisted"].values.sum() == 3 and ds.attrs["rank_by"] == "ST"
        assert ds.attrs["config"] == config.read_text()
    with open(paths["shortlist"], "rb") as f:
        assert tomllib.load(f) == {"parameters": {"estimate": ranked[:3]}}
    text = summary_table(result, problem)
    assert "ranked by ST" in text and f"shortlist (top 3): {', '.join(ranked[:3])}" in text
    # a second config takes the shortlist directly
    truth = {"eps": 1.45, "k_fast": 0.026, "k_slow": 0.0007, "h": 0.0042, "q10": 2.3,
             "c_fast0": 380.0}
    later = _config(tmp_path, "lbfgsb", "{ maxiter = 50 }", name="later.toml", **{
        'estimate = ["eps", "k_fast", "k_slow", "h", "q10", "c_fast0"]':
            'estimate_from = "out/shortlist.toml"',
        TRUTH: "truth = { " + ", ".join(f"{n} = {truth[n]}" for n in ranked[:3]) + " }"})
    assert list(load_config(later).problem.prior.names) == ranked[:3]


def test_default_shortlist_keeps_indices_above_five_percent_of_the_largest(tmp_path):
    result, _ = run_problem(*load_config(_config(tmp_path, "morris", "{ n = 6 }")),
                            progress=False, write=False)
    mu = result.indices["mu_star"]
    want = [n for n in result.ranking() if mu[result.parameter_names.index(n)] >=
            0.05 * mu.max()]
    assert result["shortlist"] == want and result["shortlist_rule"] == \
        "index >= 0.05 x the largest"


@pytest.mark.parametrize("options, match", [
    ("{ n = 32, levels = 3 }",
     r"method 'sobol': unknown option\(s\) \['levels'\]; valid options: shortlist, n,"),
    ("{ n = 32, shortlist = 3 }", "option shortlist takes a table"),
    ("{ n = 32, shortlist = { best = 3 } }", "option shortlist takes a table"),
])
def test_sensitivity_config_options_are_checked(tmp_path, options, match):
    with pytest.raises(ConfigError, match=match):      # unknown names: at load already
        run_problem(*load_config(_config(tmp_path, "sobol", options)), progress=False,
                    write=False)


@pytest.mark.parametrize("parameters, match", [
    ('estimate_from = "none.toml"', "cannot read"),
    ('estimate_from = "empty.toml"', "has no \\[parameters\\] estimate list"),
    ('estimate_from = "bad.toml"', "'estimate' of .*bad.toml names unknown parameter 'zz'"),
    ('estimate_from = "bad.toml"\nestimate = ["eps"]', "not both"),
    ("estimate_from = 3", "must be a file name"),
])
def test_estimate_from_errors_name_the_file(tmp_path, parameters, match):
    (tmp_path / "empty.toml").write_text("[other]\nx = 1\n")
    (tmp_path / "bad.toml").write_text('[parameters]\nestimate = ["eps", "zz"]\n')
    config = _config(tmp_path, "lbfgsb", "{ maxiter = 5 }", **{
        'estimate = ["eps", "k_fast", "k_slow", "h", "q10", "c_fast0"]': parameters})
    with pytest.raises(ConfigError, match=match):
        load_config(config)


def test_history_matching_config_refuses_too_many_outputs(tmp_path):
    problem, settings = load_config(_config(tmp_path, "history-matching", "{ n_design = 12 }"))
    with pytest.raises(ConfigError, match="738 observations.*max_outputs = 100"):
        run_problem(problem, settings, progress=False, write=False)


HM = "{ n_design = 12, max_waves = 3, tol = 0.0, n_candidates = 3000, checkpoint_every = 1 }"
# 12 NEE values and 8 soil-carbon values: 20 outputs, each with its own GP
HM_STREAMS = {"times = { start = 0, stop = 730, step = 1 }":
              "times = { start = 30, stop = 730, step = 61 }",
              'estimate = ["eps", "k_fast", "k_slow", "h", "q10", "c_fast0"]':
              'estimate = ["eps", "k_fast"]',
              TRUTH: "truth = { eps = 1.45, k_fast = 0.026 }"}


@pytest.mark.slow
def test_history_matching_waves_resume_after_sigkill_to_the_same_file(tmp_path):
    config = _config(tmp_path, "history-matching", HM, **HM_STREAMS)
    ref = _run(FAST, config, tmp_path / "ref")
    killed = tmp_path / "killed"
    assert kill_after_checkpoint(config, killed, 1)["method"] == "history-matching"
    assert not (killed / "history_matching.nc").exists()
    out = _finish(_run(FAST, config, killed, "--resume"))
    assert "history matching: 3 waves, 36 model runs" in out
    _finish(ref)
    with netCDF4.Dataset(tmp_path / "ref" / "history_matching.nc") as a, \
            netCDF4.Dataset(killed / "history_matching.nc") as b:
        _same_dataset(a, b)
        fractions = b["nroy_fraction"][:]
        assert np.all(np.diff(fractions) <= 0) and fractions[-1] < 0.1
        nroy = b["nroy"][:]
    # the truth is not ruled out, and lies inside the box of the points not ruled out
    assert np.all(nroy.min(axis=0) <= [1.45, 0.026]) and \
        np.all([1.45, 0.026] <= nroy.max(axis=0))


def test_shortlist_of_site_copies_lists_each_model_parameter_once(tmp_path):
    from pdaframe.io.analysis import write_shortlist
    from pdaframe.analysis.sensitivity import SensitivityResult
    res = SensitivityResult(method="morris", qoi="cost", rank_by="mu_star",
                            shortlist=["theta_som", "c_som0@US-Me2", "c_woo0@US-Me2",
                                       "c_som0@DE-Hai", "theta_woo"])
    with open(write_shortlist(tmp_path / "s.toml", res), "rb") as f:
        assert tomllib.load(f)["parameters"]["estimate"] == [
            "theta_som", "c_som0", "c_woo0", "theta_woo"]
